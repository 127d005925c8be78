-- kura PostgreSQL key store, schema version 1. Runs as the keys owner role, inside the
-- schema `kura_keys` that role owns. Holds wrapped data keys only, so that a role or a dump
-- that can read `kura_data` reveals no field.
--
-- Scale-out (docs/scale-out.md): `data_keys` is per-subject, distributed by `subject_id`
-- and colocated with `kura_data.subjects`; `meta` is a reference table.
CREATE TABLE kura_keys.meta (
    key   text PRIMARY KEY,
    value bytea NOT NULL
);
CREATE TABLE kura_keys.data_keys (
    subject_id  uuid NOT NULL,
    kek_version integer NOT NULL,
    wrapped     bytea NOT NULL,
    PRIMARY KEY (subject_id)
);
-- Wrapped keys are ciphertext: compressing them gains nothing.
ALTER TABLE kura_keys.data_keys ALTER COLUMN wrapped SET STORAGE EXTERNAL;
