DROP TABLE outline_sessions;
