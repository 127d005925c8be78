-- kura PostgreSQL data store, schema version 9: data-subject requests and retention
-- (kura_admin::rights). A request row is the minimal record kept of a request (CCPA regs
-- §7101: 24 months): ids, kind, dates, state and a JSON document owned by kura_admin::rights
-- (deadlines, how identity was verified, decision, recipients told) — never a field value.
-- The one-time token is kept only as a keyed hash, and only until it is redeemed.
CREATE TABLE kura_data.rights_requests (
    id            text PRIMARY KEY,
    kind          text NOT NULL,
    collection    text NOT NULL,
    subject_id    uuid,
    channel       text NOT NULL,
    state         text NOT NULL,
    opened_by     text NOT NULL,
    received_at   bigint NOT NULL,
    due_at        bigint NOT NULL,
    token_hash    bytea UNIQUE CHECK (token_hash IS NULL OR length(token_hash) = 32),
    token_expires bigint,
    cycle         text,
    version       bigint NOT NULL,
    updated_at    bigint NOT NULL,
    doc           text NOT NULL,
    receipt       bytea
);
CREATE INDEX rights_requests_state ON kura_data.rights_requests (state, due_at);
CREATE INDEX rights_requests_cycle ON kura_data.rights_requests (cycle, state, id)
    WHERE cycle IS NOT NULL;
CREATE INDEX rights_requests_subject ON kura_data.rights_requests (subject_id)
    WHERE subject_id IS NOT NULL;
-- A retention cycle asks a person once: one request per subject and cycle.
CREATE UNIQUE INDEX rights_requests_once ON kura_data.rights_requests (subject_id, cycle)
    WHERE cycle IS NOT NULL;
-- When a subject last used the service (a login, a reconfirmation, a verified request) and
-- when a retention rule last asked it to reconfirm: timestamps per public id, removed with
-- the subject. Asked at or after its last use means asked in this cycle.
CREATE TABLE kura_data.subject_activity (
    subject_id uuid PRIMARY KEY,
    active_at  bigint NOT NULL,
    asked_at   bigint
);
