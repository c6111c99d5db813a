DROP TABLE outline_session_leases;
