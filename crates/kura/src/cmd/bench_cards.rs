//! `kura bench --only cards`: the card vault (issue 7) beside the plain vault, in one run on
//! one store.
//!
//! Steps, all through the library with the access log on (as served):
//! 1. the plain vault creates `subjects` subjects in batches (as `library` does) and, for a
//!    per-request comparison, `reads` more one at a time from `threads` clients;
//! 2. one card per subject is tokenized from `threads` clients (each tokenization is one
//!    request: validate, look up the keyed hash, seal, one key-store and one data-store
//!    commit, one access event);
//! 3. `reads` random subjects are read (all fields) and `reads` random cards detokenized by a
//!    payment service (purpose `charge`), each from `threads` clients; card metadata reads too.
//!
//! Card numbers are synthetic (prefix 4, digits from SplitMix64, Luhn check digit); nothing
//! here is printed but rates.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use kura_crypto::KeyFile;
use kura_store::sqlite::{Durability, SqliteStore};
use kura_vault::{
    Access, Caller, CardVault, NewCardInput, Policy, PrincipalKind, SubjectInput, Uuid, Vault,
    VaultOptions,
};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::bench::BenchArgs;

const BATCH: usize = 2_000;

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The synthetic 16-digit card number of subject `i`.
fn pan(i: usize) -> Zeroizing<String> {
    let mut s = Zeroizing::new(format!(
        "4{:014}",
        mix(i as u64 ^ 0x6361_7264) % 100_000_000_000_000
    ));
    let body = s.clone();
    for d in 0..=9u8 {
        let candidate = format!("{}{d}", body.as_str());
        if kura_cards::luhn_valid(&candidate) {
            *s = candidate;
            break;
        }
    }
    s
}

fn input(i: usize) -> SubjectInput {
    let (country, locale, fields) = super::bench::person(i);
    SubjectInput {
        country: country.into(),
        locale: locale.into(),
        fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
    }
}

fn rate(n: usize, secs: f64) -> f64 {
    (n as f64 / secs).round()
}

/// Runs `f(i)` for every `i` in `0..n` from `threads` threads; returns seconds.
fn parallel(n: usize, threads: usize, f: impl Fn(usize) + Sync) -> f64 {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            let (f, next) = (&f, &next);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    f(i);
                }
            });
        }
    });
    start.elapsed().as_secs_f64()
}

/// The card section of `kura bench`; see the module docs.
pub fn run(dir: &Path, a: &BenchArgs) -> Result<Value> {
    std::fs::create_dir_all(dir)?;
    let id: [u8; 16] = kura_crypto::random_array()?;
    let keys = Arc::new(KeyFile::create(&dir.join("vault.key"), id)?);
    let store = Arc::new(SqliteStore::create(
        &dir.join("data"),
        id,
        Durability::Normal,
    )?);
    let dyn_store: kura_store::DynStore = store.clone();
    let appender = Arc::new(kura_audit::Appender::start(
        dyn_store.clone(),
        kura_audit::AppenderConfig::default(),
    )?);
    let vault = Arc::new(Vault::new(
        kura_model::Schema::builtin(),
        dyn_store,
        keys.clone(),
        VaultOptions::default(),
        appender,
        Arc::new(crate::open::SystemClock),
    )?);
    let cards = CardVault::new(vault.clone(), store, &*keys)?;
    let op = Access::operator("bench", "bench");
    let n = a.subjects;
    let r = a.reads.min(n.max(1));

    // 1. Plain vault: batched creates, then single creates.
    eprintln!("bench cards: creating {n} subjects ...");
    let mut ids = vec![Uuid::nil(); n];
    let start = Instant::now();
    for from in (0..n).step_by(BATCH) {
        let to = (from + BATCH).min(n);
        let out = vault.create_batch(&op, "accounts", (from..to).map(input).collect());
        for (k, res) in out.into_iter().enumerate() {
            ids[from + k] = res.context("bench create")?;
        }
    }
    let create_batch_s = start.elapsed().as_secs_f64();
    let create_one_s = parallel(r, a.threads, |i| {
        vault
            .create(&op, "accounts", input(n + i))
            .expect("bench single create");
    });

    // 2. One card per subject.
    eprintln!("bench cards: tokenizing {n} cards ...");
    let tokens: Vec<std::sync::OnceLock<String>> =
        (0..n).map(|_| std::sync::OnceLock::new()).collect();
    let tokenize_s = parallel(n, a.threads, |i| {
        let v = cards
            .tokenize(
                &op,
                NewCardInput {
                    subject: ids[i],
                    pan: pan(i),
                    exp_month: 12,
                    exp_year: 2035,
                    holder: None,
                },
            )
            .expect("bench tokenize");
        assert!(v.created);
        let _ = tokens[i].set(v.token);
    });
    // Tokenizing a card the subject already holds: the keyed-hash lookup path.
    let again_s = parallel(r, a.threads, |j| {
        let i = (mix(j as u64 ^ 7) % n as u64) as usize;
        let v = cards
            .tokenize(
                &op,
                NewCardInput {
                    subject: ids[i],
                    pan: pan(i),
                    exp_month: 12,
                    exp_year: 2035,
                    holder: None,
                },
            )
            .expect("bench tokenize again");
        assert!(!v.created);
    });

    // 3. Reads.
    eprintln!("bench cards: reads and detokenizations ...");
    let sample: Vec<usize> = (0..r)
        .map(|j| (mix(j as u64 ^ 0x5eed) % n as u64) as usize)
        .collect();
    let read_s = parallel(r, a.threads, |j| {
        let v = vault
            .read(&op, "accounts", &ids[sample[j]], None)
            .expect("bench read");
        assert!(v.fields.contains_key("payment_cards"));
    });
    let schema = kura_model::Schema::builtin();
    let policy = Policy::from_json(
        r#"{"collection":"accounts","purposes":["charge"],"actions":["detokenize"],"fields":{"payment_cards":"plain"}}"#,
        &schema,
    )?;
    let payer = Access {
        principal: "bench-payments".into(),
        purpose: "charge".into(),
        request_id: "bench".into(),
        caller: Caller::with_policies(PrincipalKind::Service, vec![policy], false),
    };
    let detokenize_s = parallel(r, a.threads, |j| {
        let i = sample[j];
        let c = cards
            .detokenize(&payer, tokens[i].get().expect("token"))
            .expect("bench detokenize");
        assert_eq!(c.pan.as_str(), pan(i).as_str());
    });
    let metadata_s = parallel(r, a.threads, |j| {
        let i = sample[j];
        cards
            .metadata(&op, tokens[i].get().expect("token"))
            .expect("bench metadata");
    });

    let create_batch = rate(n, create_batch_s);
    let create_one = rate(r, create_one_s);
    let tokenize = rate(n, tokenize_s);
    let read = rate(r, read_s);
    let detokenize = rate(r, detokenize_s);
    let ratio = |x: f64, y: f64| (x / y * 1000.0).round() / 1000.0;
    Ok(json!({
        "cards": n,
        "threads": a.threads,
        "vault_create_batched_per_s": create_batch,
        "vault_create_single_per_s": create_one,
        "vault_read_per_s": read,
        "tokenize_per_s": tokenize,
        "tokenize_existing_per_s": rate(r, again_s),
        "detokenize_per_s": detokenize,
        "card_metadata_per_s": rate(r, metadata_s),
        "tokenize_secs": tokenize_s,
        "ratios": {
            "tokenize_vs_create_single": ratio(tokenize, create_one),
            "tokenize_vs_create_batched": ratio(tokenize, create_batch),
            "detokenize_vs_read": ratio(detokenize, read),
        },
    }))
}
