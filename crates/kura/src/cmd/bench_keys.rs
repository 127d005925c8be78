//! `kura bench --only keys`: the key file beside a PKCS#11 token as key provider — raw
//! wraps and unwraps, vault writes (one wrap per subject), reads with a warm unwrap cache
//! and cold (cache off: one unwrap per read) — and the rate of `kura keys rotate`'s re-wrap
//! on the same subjects. The token is taken from the environment
//! (`KURA_BENCH_PKCS11_MODULE`, `KURA_BENCH_PKCS11_TOKEN`, `KURA_BENCH_PKCS11_PIN`, with the
//! module's own configuration such as `SOFTHSM2_CONF` set by the caller:
//! `bench/keys/softhsm.sh`); without them only the key file is measured.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use kura_crypto::pkcs11::{Pkcs11Config, Pkcs11Provider};
use kura_crypto::{KeyFile, KeyProvider, SecretKey};
use kura_store::sqlite::{Durability, SqliteStore};
use kura_vault::{Vault, VaultOptions};
use serde_json::{Value, json};

use super::bench::{BenchArgs, import_people, parallel, rate, sample};

fn pkcs11_from_env(id: [u8; 16]) -> Result<Option<Pkcs11Provider>> {
    let (Ok(module), Ok(token), Ok(pin)) = (
        std::env::var("KURA_BENCH_PKCS11_MODULE"),
        std::env::var("KURA_BENCH_PKCS11_TOKEN"),
        std::env::var("KURA_BENCH_PKCS11_PIN"),
    ) else {
        return Ok(None);
    };
    let config = Pkcs11Config {
        module: module.into(),
        token_label: token,
        pin: zeroize::Zeroizing::new(pin),
    };
    Ok(Some(
        Pkcs11Provider::create(&config, id).context("creating keys in the bench token")?,
    ))
}

fn vault(dir: &Path, keys: Arc<dyn KeyProvider>, cache: usize) -> Result<Vault> {
    let id = keys.vault_id();
    let store: kura_store::DynStore = if dir.join(kura_store::sqlite::DATA_FILE).exists() {
        Arc::new(SqliteStore::open(dir, Durability::Normal)?)
    } else {
        Arc::new(SqliteStore::create(dir, id, Durability::Normal)?)
    };
    let appender = Arc::new(kura_audit::Appender::start(
        store.clone(),
        kura_audit::AppenderConfig::default(),
    )?);
    Ok(Vault::new(
        kura_model::Schema::builtin(),
        store,
        keys,
        VaultOptions {
            key_cache_entries: cache,
        },
        appender,
        Arc::new(crate::open::SystemClock),
    )?)
}

fn measure(dir: &Path, keys: Arc<dyn KeyProvider>, a: &BenchArgs) -> Result<Value> {
    // Raw provider operations on `a.threads` threads.
    let dek = SecretKey::generate()?;
    let n = a.reads;
    let items: Vec<usize> = (0..n).collect();
    let ctx = |i: usize| (i as u64).to_be_bytes();
    let wrapped: Vec<_> = items
        .iter()
        .map(|&i| keys.wrap(&dek, &ctx(i)))
        .collect::<Result<_, _>>()?;
    let wrap_s = parallel(&items, a.threads, |&i| {
        keys.wrap(&dek, &ctx(i)).expect("wrap");
    });
    let unwrap_s = parallel(&items, a.threads, |&i| {
        keys.unwrap(&wrapped[i], &ctx(i)).expect("unwrap");
    });
    // The vault: writes, warm reads, cold reads.
    let warm = vault(dir, keys.clone(), 100_000)?;
    let (ids, insert_s) = import_people(&warm, a)?;
    let acc = kura_vault::Access::operator("bench", "bench");
    let reads = sample(a.subjects, a.reads, 1);
    let read_all = |v: &Vault| {
        parallel(&reads, a.threads, |&i| {
            v.read(&acc, "accounts", &ids[i], None).expect("read");
        })
    };
    read_all(&warm); // fills the unwrap cache
    let warm_s = read_all(&warm);
    drop(warm);
    let cold = vault(dir, keys.clone(), 0)?;
    let cold_s = read_all(&cold);
    // Rotation's re-wrap of every key (the work of `kura keys rotate`, pages of 1,000).
    let target = keys.rotate_kek()?;
    let start = Instant::now();
    let mut after = None;
    let mut done = 0usize;
    loop {
        let page = cold.rewrap_keys(target, after.as_ref(), 1000)?;
        if page.listed == 0 {
            break;
        }
        done += page.rewrapped;
        after = page.last;
    }
    let rotate_s = start.elapsed().as_secs_f64();
    Ok(json!({
        "provider": keys.describe(),
        "wrap_per_s": rate(n, wrap_s),
        "unwrap_per_s": rate(n, unwrap_s),
        "create_per_s": rate(a.subjects, insert_s),
        "read_warm_per_s": rate(a.reads, warm_s),
        "read_cold_per_s": rate(a.reads, cold_s),
        "rewrap_per_s": rate(done, rotate_s),
        "rewrapped": done,
    }))
}

/// Runs the section; `dir` is an empty working directory.
pub fn run(dir: &Path, a: &BenchArgs) -> Result<Value> {
    let id: [u8; 16] = kura_crypto::random_array()?;
    std::fs::create_dir_all(dir)?;
    let file: Arc<dyn KeyProvider> = Arc::new(KeyFile::create(&dir.join("vault.key"), id)?);
    eprintln!("bench: keys — key file ...");
    let f = measure(&dir.join("file"), file, a)?;
    let mut out = json!({ "key_file": f, "threads": a.threads });
    let id: [u8; 16] = kura_crypto::random_array()?;
    if let Some(p) = pkcs11_from_env(id)? {
        eprintln!("bench: keys — PKCS#11 token ...");
        let p = measure(&dir.join("pkcs11"), Arc::new(p), a)?;
        let ratio = |k: &str| {
            let (x, y) = (p[k].as_f64().unwrap_or(0.0), f[k].as_f64().unwrap_or(1.0));
            ((x / y) * 1000.0).round() / 1000.0
        };
        out["ratios_pkcs11_vs_file"] = json!({
            "wrap": ratio("wrap_per_s"),
            "unwrap": ratio("unwrap_per_s"),
            "create": ratio("create_per_s"),
            "read_warm": ratio("read_warm_per_s"),
            "read_cold": ratio("read_cold_per_s"),
            "rewrap": ratio("rewrap_per_s"),
        });
        out["pkcs11"] = p;
    }
    Ok(out)
}
