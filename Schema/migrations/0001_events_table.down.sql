DROP TABLE outline_events;
