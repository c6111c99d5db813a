-- scope: streaming
-- The streaming flags. Without this table every instance treats streaming as
-- off (V3 start answers 409 naming start-v2; the page polls) and refuses flag
-- changes until `outline-admin migrate up` brings it back: the schema side of
-- the product's rollback (`outline-admin migrate down --scope streaming`).
-- The change history goes with it; export it first if it must be kept
-- (`psql -c '\copy outline_feature_flag_changes TO flags.csv CSV HEADER'`).
DROP TABLE outline_feature_flag_changes;
DROP TABLE outline_feature_flags;
