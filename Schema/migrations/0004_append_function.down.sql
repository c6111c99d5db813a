DROP FUNCTION outline_append_events(uuid[], integer[], integer[], bytea[], bytea[], uuid[], integer[], text[],
                                    smallint[], smallint[], bytea[], integer[], integer[], timestamptz[], bytea[]);
