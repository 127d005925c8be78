-- kura embedded data store, schema version 10: marks — when something last happened that
-- posture checks ask about (the log last verified, a checkpoint last witnessed, the state
-- of a key rotation). One row per name, replaced on each write; never a field value.
CREATE TABLE marks (
    name  TEXT PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;
