DROP VIEW outline_sessions;
DROP FUNCTION outline_sessions_define_view(text, text, text);
DROP TABLE outline_session_text;
DROP TABLE outline_session_rows;
