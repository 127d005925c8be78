-- kura PostgreSQL data store, schema version 10: marks — when something last happened that
-- posture checks ask about (the log last verified, a checkpoint last witnessed, the state
-- of a key rotation). One row per name, replaced on each write; never a field value.
-- Scale-out: a small global table (a reference table).
CREATE TABLE kura_data.marks (
    name  text PRIMARY KEY,
    at_ms bigint NOT NULL,
    value text NOT NULL
);
