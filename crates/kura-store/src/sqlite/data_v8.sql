-- kura embedded data store, schema version 8: breach-notice campaigns (kura-notices).
-- A campaign notifies the people of one version of an incident's exposure matrix; its body
-- (JSON) is owned by kura_admin::notices and opaque here.
CREATE TABLE notice_campaigns (
    id            TEXT PRIMARY KEY,
    incident      TEXT NOT NULL,
    scope_version INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    by            TEXT NOT NULL,
    status        TEXT NOT NULL,
    body          TEXT NOT NULL
);
CREATE INDEX notice_campaigns_incident ON notice_campaigns (incident, created_at, id);
-- The delivery ledger: one row per person and campaign (claimed once: the primary key). It
-- holds no address and no field value; `detail` is an error code and `message_id` is derived
-- by the caller from the campaign and a keyed hash.
CREATE TABLE notice_deliveries (
    campaign   TEXT NOT NULL,
    iid        INTEGER NOT NULL,
    state      TEXT NOT NULL,
    family     TEXT NOT NULL,
    locale     TEXT NOT NULL,
    country    TEXT NOT NULL,
    channel    TEXT NOT NULL,
    message_id TEXT NOT NULL,
    attempts   INTEGER NOT NULL,
    detail     TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (campaign, iid)
) WITHOUT ROWID;
CREATE INDEX notice_deliveries_state ON notice_deliveries (campaign, state, iid);
CREATE INDEX notice_deliveries_message ON notice_deliveries (message_id);
-- Remediation offer codes (identity-theft monitoring enrolment codes and the like): one row
-- per code, identified by a keyed digest (so a code imported twice is stored once), the code
-- itself sealed by the caller. A row has at most one holder, and a person holds at most one
-- code per (region, campaign): a code is never assigned to two people.
CREATE TABLE remediation_codes (
    digest   BLOB PRIMARY KEY CHECK (length(digest) = 32),
    region   TEXT NOT NULL,
    provider TEXT NOT NULL,
    sealed   BLOB NOT NULL,
    campaign TEXT,
    iid      INTEGER,
    CHECK ((campaign IS NULL) = (iid IS NULL))
) WITHOUT ROWID;
CREATE UNIQUE INDEX remediation_codes_holder ON remediation_codes (region, campaign, iid)
    WHERE campaign IS NOT NULL;
CREATE INDEX remediation_codes_free ON remediation_codes (region, digest)
    WHERE campaign IS NULL;
