-- kura embedded data store, schema version 7: incidents (issue 14).
-- Each version of an incident's exposure matrix, with the checkpoint it was computed at: the
-- canonical matrix (counts only), the subjects of each cell by internal id (compressed
-- bitmaps, no field value) and its digest. Versions are written once and never changed.
CREATE TABLE incident_scopes (
    incident    TEXT NOT NULL,
    version     INTEGER NOT NULL,
    computed_at INTEGER NOT NULL,
    by          TEXT NOT NULL,
    tree_size   INTEGER NOT NULL,
    checkpoint  TEXT NOT NULL,
    digest      TEXT NOT NULL,
    matrix      TEXT NOT NULL,
    sets        BLOB NOT NULL,
    PRIMARY KEY (incident, version)
) WITHOUT ROWID;
-- The access-log entries that record an incident's changes, scoping runs and exports: what
-- an evidence bundle proves the timeline with.
CREATE TABLE incident_leaves (
    incident TEXT NOT NULL,
    leaf     INTEGER NOT NULL,
    PRIMARY KEY (incident, leaf)
) WITHOUT ROWID;
