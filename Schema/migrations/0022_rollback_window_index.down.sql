DROP INDEX outline_sessions_ended;
