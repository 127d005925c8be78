-- kura PostgreSQL data store, schema version 6: admission leases (issue 13). A window entry
-- gets a weight: a subject weighs 1; a lease a server took weighs the slots it holds and is
-- recorded under a negative subject. The live count is the sum of the weights.
ALTER TABLE kura_data.containment_entries ADD COLUMN n bigint NOT NULL DEFAULT 1;
-- A settled lease keeps the subjects spent on it (8-byte big-endian internal ids), so that a
-- trip can name them.
ALTER TABLE kura_data.containment_entries ADD COLUMN spent bytea;
