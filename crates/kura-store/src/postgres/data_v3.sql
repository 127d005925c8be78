-- kura PostgreSQL data store, schema version 3: card vault metadata (issue 7). Runs as the
-- data owner. Only what PCI DSS 3.4.1 allows to be shown: brand, last four digits, expiry.
-- Scale-out: per-subject, distributed by `subject_id` like `kura_data.subjects`.
CREATE TABLE kura_data.cards (
    subject_id  uuid NOT NULL,
    token       text NOT NULL,
    subject_iid bigint NOT NULL,
    collection  text NOT NULL,
    brand       text NOT NULL,
    last4       text NOT NULL,
    exp_month   smallint NOT NULL,
    exp_year    smallint NOT NULL,
    created     bigint NOT NULL,
    PRIMARY KEY (subject_id, token)
);
CREATE UNIQUE INDEX cards_token ON kura_data.cards (token);
