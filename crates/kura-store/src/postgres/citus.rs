//! kura on Citus: where every table lives, placing them, and the checks that let an admin
//! migrate a distributed vault (decision 0026, `docs/scale-out.md`).
//!
//! # Placement
//! [`PLACEMENTS`] names the place of every table kura creates; a test on plain PostgreSQL
//! holds it to the catalog after all migrations, so a migration that adds a table without a
//! place fails CI. [`place_tables`] is idempotent: it places what is not placed yet, moves
//! what the earlier documentation placed differently (the blind index from distributed by
//! subject to distributed by token; Citus local and reference tables back to plain
//! coordinator tables), and refuses anything else that differs.
//!
//! # Migrating as the admin
//! Citus carries DDL, GRANTs and writes to reference tables to the workers over connections
//! it opens *as the current role*. The owner roles cannot log in (on purpose), so on Citus a
//! migration cannot run as them (`SET ROLE`); it runs as the admin's own login role, and
//! hands every new table to its schema's owner. Running as the admin means code the owners
//! could have planted (a trigger, a rule, a view, a function, a default or check that calls
//! one) would run with the admin's privileges, so before anything else the migration locks
//! kura's tables ([`lock_kura_tables`]), [`planted_code`] reads the catalog, and the
//! migration refuses if the owners own any code at all.

use postgres::GenericClient;

use super::{DATA_SCHEMA, KEYS_SCHEMA, Roles, ident};
use crate::StoreError;

/// Where a table lives on a Citus cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Hash-distributed on `subject_id`, colocated with `kura_data.subjects`: a subject's row,
    /// key, cards and state are on one shard, so reads, updates and erasure are single-shard.
    Subject,
    /// Hash-distributed on `token`, on its own: a lookup by token is one shard.
    Token,
    /// Hash-distributed on `iid` (the access log's subject history), on its own.
    Iid,
    /// A reference table: a copy on every node, read locally, written to all (small and
    /// written only by the admin or rarely).
    Reference,
    /// A plain PostgreSQL table on the coordinator, left outside Citus's metadata: one
    /// sequencer (the access log and its counters), the directory (organizations, principals,
    /// API keys), and per-incident and per-principal state written often. kura reaches them
    /// only through the coordinator and never joins them with a distributed table, and a
    /// transaction may write both. As Citus local tables (what the earlier documentation
    /// said) every access-log append went through Citus's executor: 21 ms against about 1.5 ms
    /// as a plain table, measured on the same cluster.
    Coordinator,
}

impl Placement {
    /// Short name for messages and `kura init --distribute`'s report.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Placement::Subject => "distributed by subject_id (colocated with subjects)",
            Placement::Token => "distributed by token",
            Placement::Iid => "distributed by iid",
            Placement::Reference => "reference table",
            Placement::Coordinator => "coordinator (plain table, outside Citus)",
        }
    }
}

/// The place of every table kura creates, in the order they are placed (a referenced table
/// before the tables that reference it; `subjects` before what is colocated with it).
pub const PLACEMENTS: &[(&str, Placement)] = &[
    ("kura_data.subjects", Placement::Subject),
    ("kura_keys.data_keys", Placement::Subject),
    ("kura_data.credential_state", Placement::Subject),
    ("kura_data.recovery_tokens", Placement::Subject),
    ("kura_data.subject_activity", Placement::Subject),
    ("kura_data.cards", Placement::Subject),
    ("kura_keys.card_keys", Placement::Subject),
    ("kura_keys.card_lookup", Placement::Subject),
    ("kura_data.blind_index", Placement::Token),
    ("kura_data.card_index", Placement::Token),
    ("kura_data.audit_subjects", Placement::Iid),
    ("kura_data.meta", Placement::Reference),
    ("kura_keys.meta", Placement::Reference),
    ("kura_keys.canaries", Placement::Reference),
    // Read on every request, but only ever by kura through the coordinator, never joined on
    // a worker: a reference table would buy nothing and cost a write on every node. And a
    // reference table's foreign key makes Citus lock the referenced table on every worker
    // (`principals` → `organizations`), which needs UPDATE on it, a privilege the app role
    // must not have (seen: "permission denied for table organizations" at a suspension).
    ("kura_data.organizations", Placement::Coordinator),
    ("kura_data.principals", Placement::Coordinator),
    ("kura_data.api_keys", Placement::Coordinator),
    ("kura_data.counters", Placement::Coordinator),
    ("kura_data.audit_log", Placement::Coordinator),
    ("kura_data.audit_hashes", Placement::Coordinator),
    ("kura_data.audit_checkpoints", Placement::Coordinator),
    ("kura_data.marks", Placement::Coordinator),
    ("kura_data.containment_windows", Placement::Coordinator),
    ("kura_data.containment_entries", Placement::Coordinator),
    ("kura_data.incidents", Placement::Coordinator),
    ("kura_data.incident_scopes", Placement::Coordinator),
    ("kura_data.incident_leaves", Placement::Coordinator),
    ("kura_data.notice_campaigns", Placement::Coordinator),
    ("kura_data.notice_deliveries", Placement::Coordinator),
    ("kura_data.remediation_codes", Placement::Coordinator),
    ("kura_data.rights_requests", Placement::Coordinator),
];

/// The `kura_data.meta` key recording that the vault is distributed (`citus`); `kura
/// migrate` places new tables when it is set.
pub(super) const META_DISTRIBUTION: &str = "distribution";

/// The installed Citus version in the connected database, if any.
pub(super) fn citus_version(c: &mut impl GenericClient) -> Result<Option<String>, StoreError> {
    Ok(c.query_opt(
        "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'citus'",
        &[],
    )?
    .map(|r| r.get(0)))
}

/// The current place of `table` (`schema.name`), or `None` when Citus does not manage it.
fn current_place(
    c: &mut impl GenericClient,
    table: &str,
) -> Result<Option<(char, char, Option<String>)>, StoreError> {
    let row = c.query_opt(
        "SELECT partmethod::text, repmodel::text, \
                CASE WHEN partmethod = 'h' \
                  THEN column_to_column_name(logicalrelid, partkey) END \
           FROM pg_dist_partition WHERE logicalrelid = to_regclass($1)",
        &[&table],
    )?;
    Ok(row.map(|r| {
        let m: String = r.get(0);
        let rep: String = r.get(1);
        (
            m.chars().next().unwrap_or('?'),
            rep.chars().next().unwrap_or('?'),
            r.get(2),
        )
    }))
}

fn matches(place: Placement, found: &(char, char, Option<String>)) -> bool {
    let col = found.2.as_deref();
    match place {
        Placement::Subject => found.0 == 'h' && col == Some("subject_id"),
        Placement::Token => found.0 == 'h' && col == Some("token"),
        Placement::Iid => found.0 == 'h' && col == Some("iid"),
        Placement::Reference => found.0 == 'n' && found.1 == 't',
        // Not managed by Citus at all ([`current_place`] is `None`).
        Placement::Coordinator => false,
    }
}

/// Places every table of [`PLACEMENTS`] that is not placed yet (each in its own statement,
/// so an interrupted run resumes), and returns what it did per table. Refuses a table in
/// kura's schemas that has no documented place, and one placed differently (except the
/// blind index distributed by subject, which it redistributes by token).
pub(super) fn place_tables(
    c: &mut postgres::Client,
    roles: &Roles,
) -> Result<Vec<(String, Placement, &'static str)>, StoreError> {
    let tables: Vec<String> = c
        .query(
            "SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c \
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
              WHERE n.nspname IN ($1, $2) AND c.relkind IN ('r', 'p') ORDER BY 1",
            &[&DATA_SCHEMA, &KEYS_SCHEMA],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if let Some(t) = tables
        .iter()
        .find(|t| !PLACEMENTS.iter().any(|(p, _)| p == t))
    {
        return Err(StoreError::Backend(format!(
            "table {t} has no place on Citus in this build of kura (docs/scale-out.md); \
             refusing to distribute a schema it does not know"
        )));
    }
    let mut done = Vec::new();
    for &(table, place) in PLACEMENTS {
        if !tables.iter().any(|t| t == table) {
            return Err(StoreError::Corrupt(format!("table {table} is missing")));
        }
        let found = current_place(c, table)?;
        let action = match found {
            Some(ref f) if matches(place, f) => "already placed",
            Some((m, _, Some(ref col)))
                if m == 'h' && place == Placement::Token && col == "subject_id" =>
            {
                guarded(
                    c,
                    roles,
                    table,
                    "SELECT alter_distributed_table($1::text::regclass, distribution_column := 'token', \
                       colocate_with := 'none')",
                )?;
                "redistributed by token"
            }
            // A Citus local table (as the earlier documentation made the access log) or a
            // reference table (its `counters` and `api_keys`): back to a plain table.
            Some(('n', 's' | 't', _)) if place == Placement::Coordinator => {
                guarded(
                    c,
                    roles,
                    table,
                    "SELECT undistribute_table($1::text::regclass, cascade_via_foreign_keys := true)",
                )?;
                "moved out of Citus's metadata"
            }
            Some(f) => {
                return Err(StoreError::Backend(format!(
                    "table {table} is already placed on Citus (method {:?}, column {:?}) but \
                     kura places it as a {}; undistribute it (undistribute_table) and run again",
                    f.0,
                    f.2,
                    place.as_str()
                )));
            }
            None => {
                let sql = match place {
                    Placement::Subject if table == "kura_data.subjects" => {
                        "SELECT create_distributed_table($1::text::regclass, 'subject_id')"
                    }
                    Placement::Subject => {
                        "SELECT create_distributed_table($1::text::regclass, 'subject_id', \
                           colocate_with := 'kura_data.subjects')"
                    }
                    Placement::Token => {
                        "SELECT create_distributed_table($1::text::regclass, 'token', \
                           colocate_with := 'none')"
                    }
                    Placement::Iid => {
                        "SELECT create_distributed_table($1::text::regclass, 'iid', \
                           colocate_with := 'none')"
                    }
                    Placement::Reference => "SELECT create_reference_table($1::text::regclass)",
                    Placement::Coordinator => {
                        done.push((table.to_owned(), place, "on the coordinator"));
                        continue;
                    }
                };
                guarded(c, roles, table, sql)?;
                "placed"
            }
        };
        done.push((table.to_owned(), place, action));
    }
    Ok(done)
}

/// Runs one placement statement for `table` (one of [`PLACEMENTS`], so a plain identifier) in
/// a transaction that first locks the table and checks again for planted code: Citus copies
/// the table's rows and constraints into its shards as the admin, so nothing may be attached
/// between the check and the copy.
fn guarded(
    c: &mut postgres::Client,
    roles: &Roles,
    table: &str,
    sql: &str,
) -> Result<(), StoreError> {
    let mut tx = c.transaction()?;
    tx.batch_execute(&format!("LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))?;
    refuse_planted_code(&mut tx, roles)?;
    tx.execute(sql, &[&table])?;
    tx.commit()?;
    Ok(())
}

/// Locks every table of kura's two schemas against schema changes (`SHARE ROW EXCLUSIVE`:
/// no trigger, rule, constraint, default, rename or drop, and no concurrent migration) until
/// the transaction ends. Writes by kura's servers wait for that moment too.
pub(super) fn lock_kura_tables(tx: &mut postgres::Transaction<'_>) -> Result<(), StoreError> {
    let tables: Vec<String> = tx
        .query(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) \
               FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
              WHERE n.nspname IN ($1, $2) AND c.relkind IN ('r', 'p') ORDER BY 1",
            &[&DATA_SCHEMA, &KEYS_SCHEMA],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !tables.is_empty() {
        tx.batch_execute(&format!(
            "LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE",
            tables.join(", ")
        ))?;
    }
    Ok(())
}

/// Refuses when the owner roles own code, or attached it to kura's tables
/// ([`planted_code`]): a migration must not run it with the admin's privileges.
pub(super) fn refuse_planted_code(
    c: &mut impl GenericClient,
    roles: &Roles,
) -> Result<(), StoreError> {
    let found = planted_code(c, roles)?;
    if found.is_empty() {
        return Ok(());
    }
    Err(StoreError::Corrupt(format!(
        "kura's schemas hold code kura did not create, which a migration would run: {}; \
         remove it (as a superuser) and check who could act as the owner roles",
        found.join("; ")
    )))
}

/// Hands every table of `schema` not owned by `owner` to it (a migration on Citus creates
/// tables as the admin's login role).
pub(super) fn give_tables_to_owner(
    tx: &mut postgres::Transaction<'_>,
    schema: &str,
    owner: &str,
) -> Result<(), StoreError> {
    let rows = tx.query(
        "SELECT c.relname FROM pg_catalog.pg_class c \
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
          WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') \
            AND c.relowner <> n.nspowner",
        &[&schema],
    )?;
    for r in rows {
        let name: String = r.get(0);
        tx.batch_execute(&format!(
            "ALTER TABLE {schema}.{} OWNER TO {}",
            ident(&name),
            ident(owner)
        ))?;
    }
    Ok(())
}

/// Functions a CHECK constraint of kura's schema may call (in `pg_catalog`).
const CHECK_CALLS: &[&str] = &["length"];

/// Upper-case keywords that `pg_get_expr` and `pg_get_constraintdef` print before a `(`. A
/// function of one of these names would be printed quoted, and a quoted call is refused.
const KEYWORDS: &[&str] = &["CHECK", "AND", "OR", "NOT", "IN", "ANY", "ALL", "ARRAY"];

/// Names followed by `(` in an expression's text, and whether a quoted name is called.
fn calls(expr: &str) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let b = expr.as_bytes();
    let mut quoted_call = false;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\'' {
            // skip a string literal
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            i += 1;
            continue;
        }
        if b[i] == b'"' {
            let start = i;
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += 1;
            }
            i += 1;
            let mut j = i;
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
            if j < b.len() && (b[j] == b'(' || b[j] == b'.') && i > start {
                quoted_call = true;
            }
            continue;
        }
        if b[i].is_ascii_alphabetic() || b[i] == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            let mut j = i;
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
            if j < b.len() && b[j] == b'(' {
                out.push(expr[start..i].to_owned());
            }
            continue;
        }
        i += 1;
    }
    (out, quoted_call)
}

/// Code the owner roles own or attached to kura's tables, described one item per entry;
/// empty when there is none. kura itself creates no function, trigger, rule, view, policy,
/// type, operator, index expression or column default that calls anything, and its CHECK
/// constraints call only [`CHECK_CALLS`].
pub(super) fn planted_code(
    c: &mut impl GenericClient,
    roles: &Roles,
) -> Result<Vec<String>, StoreError> {
    let owners = [roles.data_owner.as_str(), roles.keys_owner.as_str()];
    let owners: Vec<&str> = owners.to_vec();
    let mut found = Vec::new();
    let owned = "(SELECT oid FROM pg_catalog.pg_roles WHERE rolname = ANY($1))";
    let kura_rels = "(SELECT c.oid FROM pg_catalog.pg_class c \
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname IN ('kura_data', 'kura_keys') OR c.relowner IN \
           (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = ANY($1)))";
    let queries: Vec<(String, &str)> = vec![
        (
            format!(
                "SELECT p.oid::regprocedure::text FROM pg_catalog.pg_proc p WHERE p.proowner IN {owned}"
            ),
            "function",
        ),
        (
            format!(
                "SELECT c.oid::regclass::text FROM pg_catalog.pg_class c \
                  WHERE (c.relowner IN {owned} OR c.relnamespace IN \
                     (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname IN ('kura_data', 'kura_keys'))) \
                    AND c.relkind NOT IN ('r', 'p', 'i', 'I', 't')"
            ),
            "relation that is not a table (view, sequence, foreign table)",
        ),
        (
            format!(
                "SELECT t.tgname || ' on ' || t.tgrelid::regclass::text FROM pg_catalog.pg_trigger t \
                   JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid \
                  WHERE t.tgrelid IN {kura_rels} AND NOT t.tgisinternal \
                    AND NOT (p.proname = 'citus_truncate_trigger' \
                             AND p.pronamespace = 'pg_catalog'::regnamespace)"
            ),
            "trigger",
        ),
        (
            format!(
                "SELECT r.rulename || ' on ' || r.ev_class::regclass::text FROM pg_catalog.pg_rewrite r \
                  WHERE r.ev_class IN {kura_rels}"
            ),
            "rule",
        ),
        (
            format!(
                "SELECT p.polname || ' on ' || p.polrelid::regclass::text FROM pg_catalog.pg_policy p \
                  WHERE p.polrelid IN {kura_rels}"
            ),
            "row security policy",
        ),
        (
            format!(
                "SELECT t.oid::regtype::text FROM pg_catalog.pg_type t \
                  WHERE t.typowner IN {owned} AND t.typtype <> 'c' AND t.typcategory <> 'A'"
            ),
            "type",
        ),
        (
            format!(
                "SELECT o.oid::regoperator::text FROM pg_catalog.pg_operator o WHERE o.oprowner IN {owned}"
            ),
            "operator",
        ),
        (
            format!(
                "SELECT i.indexrelid::regclass::text FROM pg_catalog.pg_index i \
                  WHERE i.indrelid IN {kura_rels} AND i.indexprs IS NOT NULL"
            ),
            "index on an expression",
        ),
    ];
    for (sql, what) in &queries {
        for r in c.query(sql.as_str(), &[&owners])? {
            let name: String = r.get(0);
            found.push(format!("{what} {name}"));
        }
    }
    // Defaults must be constants; CHECK constraints and index predicates may call only what
    // kura's own call.
    let exprs = format!(
        "SELECT 'default of ' || d.adrelid::regclass::text, pg_catalog.pg_get_expr(d.adbin, d.adrelid), 'default' \
           FROM pg_catalog.pg_attrdef d WHERE d.adrelid IN {kura_rels} \
         UNION ALL \
         SELECT 'constraint ' || k.conname || ' on ' || k.conrelid::regclass::text, \
                pg_catalog.pg_get_constraintdef(k.oid), 'check' \
           FROM pg_catalog.pg_constraint k WHERE k.conrelid IN {kura_rels} AND k.contype = 'c' \
         UNION ALL \
         SELECT 'predicate of ' || i.indexrelid::regclass::text, \
                pg_catalog.pg_get_expr(i.indpred, i.indrelid), 'predicate' \
           FROM pg_catalog.pg_index i WHERE i.indrelid IN {kura_rels} AND i.indpred IS NOT NULL"
    );
    for r in c.query(exprs.as_str(), &[&owners])? {
        let name: String = r.get(0);
        let expr: String = r.get(1);
        let kind: String = r.get(2);
        let (names, quoted) = calls(&expr);
        let allowed: &[&str] = if kind == "check" { CHECK_CALLS } else { &[] };
        let unknown = names
            .iter()
            .any(|n| !allowed.contains(&n.as_str()) && !KEYWORDS.contains(&n.as_str()));
        if quoted || unknown {
            found.push(format!("{name} calls a function: {expr}"));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::calls;

    #[test]
    fn calls_in_expressions() {
        assert_eq!(
            calls("CHECK ((length(officer_name) > 0))").0,
            vec!["CHECK", "length"]
        );
        assert_eq!(
            calls("CHECK ((role = ANY (ARRAY['holder'::text, 'x(y)'::text])))").0,
            vec!["CHECK", "ANY"]
        );
        assert!(calls("1").0.is_empty());
        assert!(calls("(campaign IS NOT NULL)").0.is_empty());
        assert_eq!(
            calls("pg_catalog.set_config('a', 'b', false)").0,
            vec!["pg_catalog.set_config"]
        );
        assert!(calls("\"evil\"(1)").1);
        assert!(calls("\"s\".f(1)").1);
    }
}
