-- Drops the asynchronous read models with whatever version is live (a rebuild
-- may have replaced the table 0012 created) and any rebuild left half done.
DROP VIEW IF EXISTS outline_session_activity;
DO $$
DECLARE t text;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'outline\_session\_activity\_v%' LOOP
        EXECUTE format('DROP TABLE %I', t);
    END LOOP;
END $$;
DROP TABLE outline_projections;
