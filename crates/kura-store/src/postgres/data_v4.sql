-- kura PostgreSQL data store, schema version 4: containment windows shared by every server
-- and kept across restarts (issue 13). Both tables are keyed (and, under Citus, would be
-- distributed) by the counted key; subjects are internal ids, no field value is stored.
CREATE TABLE kura_data.containment_windows (
    key        text PRIMARY KEY,
    live       bigint NOT NULL,
    tripped_at bigint
);
CREATE TABLE kura_data.containment_entries (
    key        text NOT NULL,
    subject    bigint NOT NULL,
    entered_at bigint NOT NULL,
    PRIMARY KEY (key, subject)
);
CREATE INDEX containment_entries_time ON kura_data.containment_entries (key, entered_at);
