-- kura PostgreSQL data store, schema version 7: incidents (issue 14).
-- Each version of an incident's exposure matrix, with the checkpoint it was computed at: the
-- canonical matrix (counts only), the subjects of each cell by internal id (compressed
-- bitmaps, no field value) and its digest. Versions are written once and never changed.
CREATE TABLE kura_data.incident_scopes (
    incident    text NOT NULL,
    version     bigint NOT NULL,
    computed_at bigint NOT NULL,
    by_principal text NOT NULL,
    tree_size   bigint NOT NULL,
    checkpoint  text NOT NULL,
    digest      text NOT NULL,
    matrix      text NOT NULL,
    sets        bytea NOT NULL,
    PRIMARY KEY (incident, version)
);
-- The access-log entries that record an incident's changes, scoping runs and exports: what
-- an evidence bundle proves the timeline with.
CREATE TABLE kura_data.incident_leaves (
    incident text NOT NULL,
    leaf     bigint NOT NULL,
    PRIMARY KEY (incident, leaf)
);
