//! `kura init`, `kura break-glass` and `kura migrate`.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use kura_admin::directory::{self, NewOrganization, NewPrincipal, SecurityOfficer};
use kura_audit::{AccessEvent, Action};

use crate::cli::{OwnerArgs, VaultArgs};
use crate::config::{Location, resolve};
use crate::open;

/// The first operator of a new vault.
pub struct FirstOperator {
    /// Principal id.
    pub id: String,
    /// Owning organization id.
    pub org: String,
    /// The API key, shown once.
    pub key: zeroize::Zeroizing<String>,
}

/// The owner of a development vault (`serve --dev`): a placeholder, said so when printed.
pub fn dev_owner() -> OwnerArgs {
    OwnerArgs {
        org: Some("dev".to_owned()),
        org_name: Some("Development vault (placeholder owner)".to_owned()),
        officer_name: Some("Placeholder Officer".to_owned()),
        officer_contact: Some("security@example.invalid".to_owned()),
    }
}

/// Fills in missing owner values by asking on the terminal; refuses in a script, naming the
/// flags.
fn complete_owner(mut o: OwnerArgs) -> Result<OwnerArgs> {
    let missing = [
        ("--org", o.org.is_none()),
        ("--org-name", o.org_name.is_none()),
        ("--officer-name", o.officer_name.is_none()),
        ("--officer-contact", o.officer_contact.is_none()),
    ]
    .iter()
    .filter(|(_, m)| *m)
    .map(|(f, _)| *f)
    .collect::<Vec<_>>();
    if missing.is_empty() {
        return Ok(o);
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "kura init needs the organization that owns the vault and its security officer, who \
             answers for it: pass {} (or run it on a terminal to be asked)",
            missing.join(", ")
        );
    }
    let ask = |prompt: &str| -> Result<String> {
        eprint!("{prompt}: ");
        std::io::stderr().flush().ok();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim().to_owned())
    };
    if o.org.is_none() {
        o.org = Some(ask("Owning organization id (a-z, 0-9, -)")?);
    }
    if o.org_name.is_none() {
        o.org_name = Some(ask("Organization name")?);
    }
    if o.officer_name.is_none() {
        o.officer_name = Some(ask("Security officer's name")?);
    }
    if o.officer_contact.is_none() {
        o.officer_contact = Some(ask("Security officer's contact (e-mail or phone)")?);
    }
    Ok(o)
}

/// Creates the vault, its owning organization and its first operator (a principal of that
/// organization, listed, rotated, revoked and suspended like any other).
/// `distribute`: `Some(shards)` to distribute the new vault over its Citus cluster.
pub fn create_vault(
    args: &VaultArgs,
    owner: OwnerArgs,
    distribute: Option<Option<u32>>,
) -> Result<FirstOperator> {
    let r = resolve(args)?;
    // A bad schema is refused before anything is asked or created.
    r.config.schema()?;
    if distribute.is_some() {
        let Location::Postgres(url) = &r.location else {
            bail!(
                "--distribute needs a PostgreSQL store on a Citus coordinator ([store] url or \
                 KURA_STORE_URL); the embedded store has nothing to distribute"
            );
        };
        if kura_store::postgres::PostgresStore::citus_version(url)?.is_none() {
            bail!(
                "--distribute: the Citus extension is not installed in the database the store \
                 URL names; run CREATE EXTENSION citus there and on every worker and add the \
                 workers (docs/scale-out.md); nothing was created"
            );
        }
    }
    let owner = complete_owner(owner)?;
    let (store, _keys) = open::create(&r)?;
    drop(store);
    if let (Some(shards), Location::Postgres(url)) = (distribute, &r.location) {
        let placed = kura_store::postgres::PostgresStore::distribute(url, shards).context(
            "distributing the new vault (it was created; fix the cause and run `kura distribute`)",
        )?;
        print_placements(&placed);
    }
    let stores = open::stores(&r)?;
    let org = directory::create_org(
        &*stores.directory,
        &crate::open::SystemClock,
        "kura-init",
        NewOrganization {
            id: owner.org.unwrap_or_default(),
            name: owner.org_name.unwrap_or_default(),
            role: "holder".into(),
            supervisor: None,
            security_officer: SecurityOfficer {
                name: owner.officer_name.unwrap_or_default(),
                contact: owner.officer_contact.unwrap_or_default(),
            },
        },
    )
    .map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))
    .context(
        "registering the owning organization (nothing else was created but the empty vault)",
    )?;
    let (p, key) = directory::create_principal(
        &*stores.directory,
        &crate::open::SystemClock,
        &r.config.schema()?,
        "kura-init",
        NewPrincipal {
            org: org.id.clone(),
            name: "operator".into(),
            kind: "operator".into(),
            subject: None,
            policies: Vec::new(),
        },
    )
    .map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))
    .context("creating the first operator")?;
    Ok(FirstOperator {
        id: p.id,
        org: org.id,
        key: zeroize::Zeroizing::new(key.api_key),
    })
}

/// Prints where each table went, to stderr (stdout may be `--json`).
fn print_placements(placed: &[(String, kura_store::postgres::citus::Placement, &'static str)]) {
    for (table, place, action) in placed {
        eprintln!("{table:<34} {:<52} {action}", place.as_str());
    }
}

/// `kura distribute`: places every table of an existing PostgreSQL vault on its Citus cluster.
pub fn distribute(args: &VaultArgs, shards: Option<u32>) -> Result<ExitCode> {
    let r = resolve(args)?;
    let Location::Postgres(url) = &r.location else {
        bail!(
            "kura distribute needs a PostgreSQL store on a Citus coordinator ([store] url or KURA_STORE_URL)"
        );
    };
    let placed = kura_store::postgres::PostgresStore::distribute(url, shards)?;
    print_placements(&placed);
    let new = placed.iter().filter(|p| p.2 != "already placed").count();
    println!(
        "{} tables in place on Citus ({new} placed or moved now)",
        placed.len()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn run(
    args: &VaultArgs,
    owner: OwnerArgs,
    json: bool,
    distribute: Option<Option<u32>>,
) -> Result<ExitCode> {
    let r = resolve(args)?;
    let first = create_vault(args, owner, distribute)?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "operator_key": first.key.as_str(),
                "operator_id": first.id,
                "org": first.org,
            })
        );
    } else {
        let at = match &r.location {
            Location::Dir(d) => d.display().to_string(),
            Location::Postgres(_) => "PostgreSQL".to_owned(),
        };
        println!(
            "Vault created in {at}, owned by organization `{}`.",
            first.org
        );
        println!(
            "Key file: {} (mode 0600; keep it apart from the data and back it up separately)",
            r.key_file()?.display()
        );
        println!();
        println!(
            "Operator `{}` (a principal of `{}`) API key (shown once, stored only as a hash):",
            first.id, first.org
        );
        println!("  {}", first.key.as_str());
    }
    Ok(ExitCode::SUCCESS)
}

/// `kura break-glass`: a new operator principal for whoever can open the vault's key file.
pub fn break_glass(args: &VaultArgs, org: &str, reason: &str, json: bool) -> Result<ExitCode> {
    let r = resolve(args)?;
    // Local access to the key file is the authority: open it and check it is this vault's.
    let opened = open::vault(&r)
        .context("break-glass needs the vault's key file (local access to it is the authority)")?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        bail!("--reason must say who asks and why (1 to 500 characters)");
    }
    let name = format!("break-glass-{}", super::now_unix());
    let (p, key) = directory::create_principal(
        &*opened.directory,
        &crate::open::SystemClock,
        &r.config.schema()?,
        "kura-break-glass",
        NewPrincipal {
            org: org.to_owned(),
            name: name.clone(),
            kind: "operator".into(),
            subject: None,
            policies: Vec::new(),
        },
    )
    .map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))
    .context("creating the break-glass operator")?;
    // The act is an access event of its own, naming the new principal. The free-text
    // reason goes to the alert log line (an event holds no free text).
    let ev = AccessEvent::new(
        open::SystemClock::now_ms_u64(),
        "kura-break-glass",
        "break_glass",
        Action::BreakGlass,
        "",
        &p.id,
    );
    let _appended = opened.appender.append(&ev).context(
        "recording the break-glass event (the key was created; revoke it if this fails)",
    )?;
    tracing::warn!(target: "kura::alert", principal = %p.id, org = %org, reason = %reason,
        "break-glass: a new operator key was issued from the command line");
    if json {
        println!(
            "{}",
            serde_json::json!({"operator_key": key.api_key, "operator_id": p.id})
        );
    } else {
        println!("Break-glass operator `{}` ({name}) in `{org}`.", p.id);
        println!("API key (shown once, stored only as a hash):");
        println!("  {}", key.api_key);
        println!("This was recorded in the access log and logged as an alert.");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn migrate(args: &VaultArgs) -> Result<ExitCode> {
    let r = resolve(args)?;
    let version = match &r.location {
        Location::Dir(d) => {
            kura_store::sqlite::SqliteStore::migrate(d, kura_store::sqlite::Durability::Normal)?
        }
        Location::Postgres(url) => kura_store::postgres::PostgresStore::migrate(url)?,
    };
    println!("store schema is at version {version}");
    Ok(ExitCode::SUCCESS)
}
