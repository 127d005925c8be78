-- Privileges of the kura application role on the key schema, applied by the keys owner
-- after every migration (idempotent). `{app}` is replaced by the quoted role name.
-- The data owner role is granted nothing here: it cannot read a wrapped key.
GRANT USAGE ON SCHEMA kura_keys TO {app};
GRANT SELECT ON kura_keys.meta TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON kura_keys.data_keys TO {app};
GRANT SELECT, INSERT, DELETE ON kura_keys.canaries TO {app};
GRANT SELECT, INSERT, DELETE ON kura_keys.card_keys TO {app};
GRANT SELECT, INSERT, DELETE ON kura_keys.card_lookup TO {app};
