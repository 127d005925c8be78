-- kura PostgreSQL data store, schema version 8: breach-notice campaigns (kura-notices).
-- Global tables keyed by campaign and internal id, like the incident tables (reference or
-- co-located tables under Citus); none holds an address or a field value.
-- A campaign notifies the people of one version of an incident's exposure matrix; its body
-- (JSON) is owned by kura_admin::notices and opaque here.
CREATE TABLE kura_data.notice_campaigns (
    id            text PRIMARY KEY,
    incident      text NOT NULL,
    scope_version bigint NOT NULL,
    created_at    bigint NOT NULL,
    by_principal  text NOT NULL,
    status        text NOT NULL,
    body          text NOT NULL
);
CREATE INDEX notice_campaigns_incident ON kura_data.notice_campaigns (incident, created_at, id);
-- The delivery ledger: one row per person and campaign (claimed once: the primary key). It
-- holds no address and no field value; `detail` is an error code and `message_id` is derived
-- by the caller from the campaign and a keyed hash.
CREATE TABLE kura_data.notice_deliveries (
    campaign   text NOT NULL,
    iid        bigint NOT NULL,
    state      text NOT NULL,
    family     text NOT NULL,
    locale     text NOT NULL,
    country    text NOT NULL,
    channel    text NOT NULL,
    message_id text NOT NULL,
    attempts   bigint NOT NULL,
    detail     text,
    updated_at bigint NOT NULL,
    PRIMARY KEY (campaign, iid)
);
CREATE INDEX notice_deliveries_state ON kura_data.notice_deliveries (campaign, state, iid);
CREATE INDEX notice_deliveries_message ON kura_data.notice_deliveries (message_id);
-- Remediation offer codes (identity-theft monitoring enrolment codes and the like): one row
-- per code, identified by a keyed digest (so a code imported twice is stored once), the code
-- itself sealed by the caller. A row has at most one holder, and a person holds at most one
-- code per (region, campaign): a code is never assigned to two people.
CREATE TABLE kura_data.remediation_codes (
    digest   bytea PRIMARY KEY CHECK (length(digest) = 32),
    region   text NOT NULL,
    provider text NOT NULL,
    sealed   bytea NOT NULL,
    campaign text,
    iid      bigint,
    CHECK ((campaign IS NULL) = (iid IS NULL))
);
CREATE UNIQUE INDEX remediation_codes_holder ON kura_data.remediation_codes (region, campaign, iid)
    WHERE campaign IS NOT NULL;
CREATE INDEX remediation_codes_free ON kura_data.remediation_codes (region, digest)
    WHERE campaign IS NULL;
