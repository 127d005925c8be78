-- kura PostgreSQL data store, schema version 1. Runs as the data owner role, inside the
-- schema `kura_data` that role owns. Holds sealed fields, blind-index tokens and the access
-- log; never a plaintext field and never a key.
--
-- Scale-out rules (docs/scale-out.md), kept by every later migration too:
-- - every per-subject table carries `subject_id`, never NULL, and has it in every unique
--   key: it is the distribution column (Citus) / leading key column;
-- - no foreign keys between subjects, none from a per-subject table to a global one (a
--   foreign key between two coordinator tables, as in schema 2, is fine);
-- - global tables (`meta`, `counters`, `audit_log`, `api_keys`) are small or append-only and
--   written through one row (`counters`);
-- - no triggers, no SERIAL/bigserial unique keys;
-- - every table has a place on Citus in `citus::PLACEMENTS` (src/postgres/citus.rs; a test
--   holds the list to the catalog).

CREATE TABLE kura_data.meta (
    key   text PRIMARY KEY,
    value bytea NOT NULL
);

-- Single-row counters: `iid` hands out internal ids in consecutive blocks, `audit` is the
-- next access-log sequence number. Incrementing a row inside the writing transaction keeps
-- the access log gapless and in one order across every kura process on the database.
CREATE TABLE kura_data.counters (
    name text PRIMARY KEY,
    next bigint NOT NULL
);
INSERT INTO kura_data.counters (name, next) VALUES ('iid', 1), ('audit', 0);

CREATE TABLE kura_data.subjects (
    subject_id uuid NOT NULL,
    collection text NOT NULL,
    -- Compact internal id (bitmaps); unique by allocation, deliberately not by a
    -- constraint (a unique key without subject_id cannot be distributed).
    iid        bigint NOT NULL,
    country    text NOT NULL,
    locale     text NOT NULL,
    version    bigint NOT NULL,
    fields     bytea NOT NULL,
    tokens     bytea NOT NULL,
    PRIMARY KEY (subject_id)
);
-- Sealed fields are ciphertext: skip pglz, which would only burn CPU.
ALTER TABLE kura_data.subjects ALTER COLUMN fields SET STORAGE EXTERNAL;

-- Blind index: one row per (token, subject). The primary key serves exact-match search
-- (`token = $1`) and deletion of a subject's old tokens (`token = ANY(..) AND subject_id`).
CREATE TABLE kura_data.blind_index (
    token      bytea NOT NULL,
    subject_id uuid NOT NULL,
    PRIMARY KEY (token, subject_id)
);

CREATE TABLE kura_data.audit_log (
    seq  bigint PRIMARY KEY,
    leaf bytea NOT NULL
);

CREATE TABLE kura_data.api_keys (
    prefix     text PRIMARY KEY,
    hash       bytea NOT NULL,
    principal  text NOT NULL,
    kind       text NOT NULL,
    created_at bigint NOT NULL,
    revoked_at bigint
);

-- Access-log integration (kura-audit): stored hashes of the RFC 6962 tree (write-once, indexed
-- as in kura-tlog's stored-hash layout), signed checkpoints by tree size, and the
-- subject-history index (which leaves touched which subject, by internal id). The integrated
-- size is the counter 'audit_integrated'. All three are global, append-only tables (see
-- docs/scale-out.md for how they are placed on Citus).
CREATE TABLE kura_data.audit_hashes (
    idx  bigint PRIMARY KEY,
    hash bytea NOT NULL
);
CREATE TABLE kura_data.audit_checkpoints (
    size bigint PRIMARY KEY,
    note text NOT NULL
);
CREATE TABLE kura_data.audit_subjects (
    iid bigint NOT NULL,
    seq bigint NOT NULL,
    PRIMARY KEY (iid, seq)
);
INSERT INTO kura_data.counters (name, next) VALUES ('audit_integrated', 0);

-- Credentials (issue 6): login throttling and the forced-reset flag per subject (or per
-- pseudo-subject, a UUIDv8, for login ids that match no subject), and recovery tokens stored
-- only as SHA-256 hashes, found by hash through a non-unique index. The password hash itself
-- is a sealed field of the subject. Both tables are per-subject (distributed by subject_id).
CREATE TABLE kura_data.credential_state (
    subject_id   uuid NOT NULL,
    version      bigint NOT NULL,
    failures     integer NOT NULL,
    last_failure bigint NOT NULL,
    locked       boolean NOT NULL,
    must_reset   boolean NOT NULL,
    PRIMARY KEY (subject_id)
);
CREATE TABLE kura_data.recovery_tokens (
    subject_id uuid NOT NULL,
    hash       bytea NOT NULL,
    collection text NOT NULL,
    issued     bigint NOT NULL,
    expires    bigint NOT NULL,
    used       boolean NOT NULL,
    PRIMARY KEY (subject_id, hash)
);
CREATE INDEX recovery_tokens_hash ON kura_data.recovery_tokens (hash);
