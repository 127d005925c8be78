-- Privileges of the kura application role on the data schema, applied by the data owner
-- after every migration (idempotent). `{app}` is replaced by the quoted role name.
-- The access log is append-only for kura itself: no UPDATE, no DELETE.
-- `{reader}` is replaced by the quoted reader role.
GRANT USAGE ON SCHEMA kura_data TO {app};
GRANT SELECT ON kura_data.meta TO {app};
GRANT SELECT, UPDATE ON kura_data.counters TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON kura_data.subjects TO {app};
GRANT SELECT, INSERT, DELETE ON kura_data.blind_index TO {app};
GRANT SELECT, INSERT ON kura_data.audit_log TO {app};
GRANT SELECT, INSERT, UPDATE ON kura_data.api_keys TO {app};
GRANT SELECT, INSERT ON kura_data.audit_hashes TO {app};
GRANT SELECT, INSERT ON kura_data.audit_checkpoints TO {app};
GRANT SELECT, INSERT ON kura_data.audit_subjects TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON kura_data.credential_state TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON kura_data.recovery_tokens TO {app};
GRANT SELECT, INSERT, DELETE ON kura_data.cards TO {app};
GRANT SELECT, INSERT, DELETE ON kura_data.card_index TO {app};
GRANT SELECT, INSERT ON kura_data.organizations TO {app};
GRANT SELECT, INSERT, UPDATE ON kura_data.principals TO {app};
GRANT SELECT, INSERT, UPDATE ON kura_data.incidents TO {app};
GRANT SELECT, INSERT ON kura_data.incident_scopes TO {app};
GRANT SELECT, INSERT ON kura_data.incident_leaves TO {app};
GRANT SELECT, INSERT, UPDATE ON kura_data.notice_campaigns TO {app};
GRANT SELECT, INSERT, UPDATE ON kura_data.notice_deliveries TO {app};
GRANT SELECT, INSERT, UPDATE ON kura_data.remediation_codes TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON kura_data.containment_windows TO {app};
GRANT SELECT, INSERT, UPDATE ON kura_data.rights_requests TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON kura_data.subject_activity TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON kura_data.containment_entries TO {app};
GRANT SELECT, INSERT, UPDATE ON kura_data.marks TO {app};
-- The reader role (backups, analysts of the sealed data): SELECT on the data schema only.
GRANT USAGE ON SCHEMA kura_data TO {reader};
GRANT SELECT ON ALL TABLES IN SCHEMA kura_data TO {reader};
