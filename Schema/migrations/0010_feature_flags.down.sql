DROP TABLE outline_feature_flag_changes;
DROP TABLE outline_feature_flags;
