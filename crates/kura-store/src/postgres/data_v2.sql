-- kura PostgreSQL data store, schema version 2: organizations, principals and containment
-- incidents (issue 5). Global, small tables (on the coordinator under Citus, decision 0026);
-- none holds a subject's personal data.
CREATE TABLE kura_data.organizations (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    role            text NOT NULL CHECK (role IN ('holder', 'processor')),
    supervisor      text REFERENCES kura_data.organizations (id),
    officer_name    text NOT NULL CHECK (length(officer_name) > 0),
    officer_contact text NOT NULL CHECK (length(officer_contact) > 0),
    created_at      bigint NOT NULL
);
CREATE TABLE kura_data.principals (
    id               text PRIMARY KEY,
    org              text NOT NULL REFERENCES kura_data.organizations (id),
    name             text NOT NULL,
    kind             text NOT NULL,
    subject          uuid,
    policies         text NOT NULL,
    policy_version   bigint NOT NULL,
    created_at       bigint NOT NULL,
    suspended_at     bigint,
    suspended_reason text,
    reinstated_at    bigint,
    UNIQUE (org, name)
);
CREATE INDEX api_keys_principal ON kura_data.api_keys (principal);
CREATE TABLE kura_data.incidents (
    id        text PRIMARY KEY,
    opened_at bigint NOT NULL,
    principal text NOT NULL,
    org       text,
    trigger   text NOT NULL,
    status    text NOT NULL,
    body      text NOT NULL
);
-- Internal id → public id, for incidents and (later) breach scoping from the access log.
CREATE INDEX subjects_iid ON kura_data.subjects (iid);
