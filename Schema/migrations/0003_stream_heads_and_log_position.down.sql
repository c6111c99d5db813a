DROP TABLE outline_log_head;
DROP TABLE outline_event_streams;
