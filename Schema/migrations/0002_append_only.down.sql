DROP TRIGGER outline_events_no_truncate ON outline_events;
DROP TRIGGER outline_events_no_update_or_delete ON outline_events;
DROP FUNCTION outline_events_refuse_change();
