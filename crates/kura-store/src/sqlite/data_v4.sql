-- kura embedded data store, schema version 4: containment windows shared by every server and
-- kept across restarts (issue 13). Subjects are internal ids; no field value is stored.
CREATE TABLE containment_windows (
    key        TEXT PRIMARY KEY,
    live       INTEGER NOT NULL,
    tripped_at INTEGER
);
CREATE TABLE containment_entries (
    key        TEXT NOT NULL,
    subject    INTEGER NOT NULL,
    entered_at INTEGER NOT NULL,
    PRIMARY KEY (key, subject)
) WITHOUT ROWID;
CREATE INDEX containment_entries_time ON containment_entries (key, entered_at);
