-- kura embedded key store, schema version 1. Holds wrapped data keys only; kept in its own
-- file so that a copy of the data store reveals no field.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE data_keys (
    subject     BLOB PRIMARY KEY,
    kek_version INTEGER NOT NULL,
    wrapped     BLOB NOT NULL
) WITHOUT ROWID;
