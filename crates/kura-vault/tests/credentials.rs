//! Passwords over a real vault (issue 13): login throttling under concurrency, on a real
//! SQLite store and a real PostgreSQL database (skipped loudly without one, failing under
//! `CI=true`), with a real Argon2id pool.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use kura_audit::{Appender, AppenderConfig, Clock};
use kura_credentials::{
    Argon2Config, BreachFilter, HashPool, MIN_M_KIB, Password, PasswordHasher, PasswordPolicy,
    Pepper, PolicyConfig, PoolConfig, ThrottlePolicy,
};
use kura_model::Schema;
use kura_store::sqlite::{Durability, SqliteStore};
use kura_store::{CredentialStore, DynStore, PostgresStore};
use kura_vault::{
    Access, Credentials, CredentialsOptions, RecoveryBy, SubjectInput, Vault, VaultOptions,
};
use uuid::Uuid;
use zeroize::Zeroizing;

const VAULT: [u8; 16] = [13u8; 16];
const PW: &str = "a quiet storehouse by the river";
const WRONG: &str = "wrong wrong wrong wrong";

/// Time stands still: a throttle delay never passes during a test.
struct FixedClock;
impl Clock for FixedClock {
    fn now_ms(&self) -> u64 {
        1_800_000_000_000
    }
}

/// A vault with passwords over one backend.
struct Fixture {
    _dir: tempfile::TempDir,
    outbox: std::path::PathBuf,
    data_dir: std::path::PathBuf,
    db: Option<kura_testkit::postgres::TestDatabase>,
    vault: Arc<Vault>,
    creds: Credentials,
    store: Arc<dyn CredentialStore>,
}

/// Which backend a fixture runs on.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Runs blocking code (the PostgreSQL client, a store call) from a test's async body.
fn sync<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// `t` passes of Argon2id at the minimum memory: a larger `t` makes every verification
/// slow enough for the races below to be arranged with a margin of hundreds of ms.
fn fixture(backend: Backend, throttle: ThrottlePolicy, t: u32) -> Option<Fixture> {
    let dir = tempfile::tempdir().unwrap();
    let keys = kura_testkit::keys::provider(dir.path(), VAULT);
    let (store, db): (Arc<dyn CredentialStore>, _) = match backend {
        Backend::Sqlite => (
            Arc::new(
                SqliteStore::create(&dir.path().join("data"), VAULT, Durability::Normal).unwrap(),
            ),
            None,
        ),
        Backend::Postgres => {
            let db = kura_testkit::postgres::TestDatabase::create("vault_credentials")?;
            drop(PostgresStore::create(db.url(), VAULT).unwrap());
            let store = Arc::new(PostgresStore::open(&db.app_url()).unwrap());
            (store, Some(db))
        }
    };
    let dyn_store: DynStore = store.clone();
    let appender = Arc::new(Appender::start(dyn_store.clone(), AppenderConfig::default()).unwrap());
    let vault = Arc::new(
        Vault::new(
            Schema::builtin(),
            dyn_store,
            keys,
            VaultOptions::default(),
            appender,
            Arc::new(FixedClock),
        )
        .unwrap(),
    );
    let hasher = PasswordHasher::new(
        Argon2Config {
            m_kib: MIN_M_KIB,
            t,
            p: 1,
        },
        Pepper::new(1, [7u8; 32]),
    )
    .unwrap();
    let pool = HashPool::new(
        Arc::new(hasher),
        PoolConfig {
            workers: 4,
            queue: 64,
        },
    )
    .unwrap();
    let blocklist = Arc::new(BreachFilter::embedded_default().unwrap().clone());
    let policy = PasswordPolicy::new(&PolicyConfig::default(), blocklist).unwrap();
    let mailer: Arc<dyn kura_mail::Transport> = Arc::new(
        kura_mail::Outbox::new(&kura_mail::MailConfig {
            outbox_dir: dir.path().join("outbox"),
            ..kura_mail::MailConfig::default()
        })
        .unwrap(),
    );
    let creds = Credentials::new(
        vault.clone(),
        store.clone(),
        pool,
        Arc::new(policy),
        mailer,
        CredentialsOptions {
            throttle,
            ..CredentialsOptions::default()
        },
    );
    Some(Fixture {
        outbox: dir.path().join("outbox"),
        data_dir: dir.path().join("data"),
        _dir: dir,
        db,
        vault,
        creds,
        store,
    })
}

fn access() -> Access {
    Access::operator("test", "testing")
}

/// Creates `login` with the password [`PW`].
async fn account(f: &Fixture, login: &str) -> Uuid {
    let vault = f.vault.clone();
    let login = login.to_owned();
    let id = tokio::task::spawn_blocking(move || {
        vault
            .create(
                &access(),
                "accounts",
                SubjectInput {
                    country: "JP".into(),
                    locale: "en".into(),
                    fields: [
                        ("login_id".to_owned(), login.clone()),
                        ("email".to_owned(), format!("{login}@example.jp")),
                    ]
                    .into_iter()
                    .collect(),
                },
            )
            .unwrap()
    })
    .await
    .unwrap();
    f.creds
        .set_password(access(), "accounts".into(), id, Password::from(PW))
        .await
        .unwrap();
    id
}

async fn login(creds: &Credentials, login_id: &str, pw: &str) -> Result<Uuid, &'static str> {
    creds
        .login(
            access(),
            "accounts".into(),
            Zeroizing::new(login_id.to_owned()),
            Password::from(pw),
        )
        .await
        .map_err(|e| e.code())
}

/// Counts each answer code of `results`.
fn tally(
    results: &[Result<Uuid, &'static str>],
) -> std::collections::BTreeMap<&'static str, usize> {
    let mut m = std::collections::BTreeMap::new();
    for r in results {
        *m.entry(r.as_ref().map_or_else(|c| *c, |_| "ok"))
            .or_insert(0) += 1;
    }
    m
}

const LOCK_AT_3: ThrottlePolicy = ThrottlePolicy {
    free_failures: 2,
    base_delay_secs: 60,
    max_delay_secs: 60,
    lock_after: 3,
};

/// Twenty wrong logins at once against an account that locks at 3: exactly 3 are evaluated
/// (answered `invalid_credentials`), every other is refused without hashing, and the account
/// ends locked at exactly 3 failures.
async fn parallel_wrong_logins_lock_at_exactly_lock_after(backend: Backend) {
    let Some(f) = sync(|| fixture(backend, LOCK_AT_3, 8)) else {
        return;
    };
    let id = account(&f, "taro").await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let c = f.creds.clone();
            tokio::spawn(async move { login(&c, "taro", WRONG).await })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let counts = tally(&results);
    assert_eq!(counts.get("invalid_credentials"), Some(&3), "{counts:?}");
    assert_eq!(counts.get("account_locked"), Some(&17), "{counts:?}");
    let st = sync(|| f.store.credential_state(&id).unwrap());
    assert!(st.locked, "{st:?}");
    assert_eq!(st.failures, 3, "never more than lock_after: {st:?}");
    // Locked means locked, even with the right password.
    assert_eq!(login(&f.creds, "taro", PW).await, Err("account_locked"));
    sync(move || drop(f));
}

/// The same for a login id that matches no account (the pseudo-subject's state), and for
/// the delay: with room before the lock, attempts beyond the free ones are throttled even
/// while the earlier ones are still being hashed.
async fn parallel_wrong_logins_respect_the_delay(backend: Backend) {
    let policy = ThrottlePolicy {
        lock_after: 10,
        ..LOCK_AT_3
    };
    let Some(f) = sync(|| fixture(backend, policy, 8)) else {
        return;
    };
    let _ = account(&f, "hanako").await;
    for who in ["hanako", "nobody-at-all"] {
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let c = f.creds.clone();
                let who = who.to_owned();
                tokio::spawn(async move { login(&c, &who, WRONG).await })
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        let counts = tally(&results);
        assert_eq!(
            counts.get("invalid_credentials"),
            Some(&3),
            "{who}: {counts:?}"
        );
        assert_eq!(
            counts.get("login_throttled"),
            Some(&17),
            "{who}: {counts:?}"
        );
    }
    sync(move || drop(f));
}

/// A right password whose attempt was reserved first, racing wrong ones that lock the
/// account while it is being hashed, must not log in; a right password whose own attempt
/// is the one that reaches the lock is a success.
async fn a_right_password_racing_a_lock_does_not_log_in(backend: Backend) {
    // t = 48: each verification takes far longer than reserving the wrong attempts below.
    let Some(f) = sync(|| fixture(backend, LOCK_AT_3, 48)) else {
        return;
    };
    let id = account(&f, "jiro").await;
    assert_eq!(
        login(&f.creds, "jiro", WRONG).await,
        Err("invalid_credentials")
    );
    // The right password starts first (1 failure so far) ...
    let c = f.creds.clone();
    let right = tokio::spawn(async move { login(&c, "jiro", PW).await });
    // Wait until its attempt is reserved (2 counted), while it is being hashed.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sync(|| f.store.credential_state(&id).unwrap()).failures < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the attempt was never reserved"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ... then two wrong ones while it is being hashed: one is evaluated and locks.
    let wrong: Vec<_> = (0..2)
        .map(|_| {
            let c = f.creds.clone();
            tokio::spawn(async move { login(&c, "jiro", WRONG).await })
        })
        .collect();
    let right = right.await.unwrap();
    let mut results = Vec::new();
    for t in wrong {
        results.push(t.await.unwrap());
    }
    assert_eq!(right, Err("account_locked"), "{results:?}");
    let counts = tally(&results);
    assert_eq!(counts.get("invalid_credentials"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("account_locked"), Some(&1), "{counts:?}");
    let st = sync(|| f.store.credential_state(&id).unwrap());
    assert!(st.locked && st.failures == 3, "{st:?}");

    // Another account, two failures: the right password is the third attempt. Its own
    // reservation reaches the lock; it verifies, so it is a success and undoes it.
    let id = account(&f, "saburo").await;
    for _ in 0..2 {
        assert_eq!(
            login(&f.creds, "saburo", WRONG).await,
            Err("invalid_credentials")
        );
    }
    assert_eq!(login(&f.creds, "saburo", PW).await, Ok(id));
    let st = sync(|| f.store.credential_state(&id).unwrap());
    assert!(!st.locked && st.failures == 0, "{st:?}");
    sync(move || drop(f));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_parallel_wrong_logins_lock_at_exactly_lock_after() {
    parallel_wrong_logins_lock_at_exactly_lock_after(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_parallel_wrong_logins_lock_at_exactly_lock_after() {
    parallel_wrong_logins_lock_at_exactly_lock_after(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_parallel_wrong_logins_respect_the_delay() {
    parallel_wrong_logins_respect_the_delay(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_parallel_wrong_logins_respect_the_delay() {
    parallel_wrong_logins_respect_the_delay(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_right_password_racing_a_lock_does_not_log_in() {
    a_right_password_racing_a_lock_does_not_log_in(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_right_password_racing_a_lock_does_not_log_in() {
    a_right_password_racing_a_lock_does_not_log_in(Backend::Postgres).await;
}

/// Every file in the outbox directory (finished or not), sorted.
fn outbox_files(f: &Fixture) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(&f.outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// The recovery token in a mail (quoted-printable soft line breaks joined).
fn token_in(eml: &str) -> String {
    let text = eml.replace("=\r\n", "").replace("=\n", "");
    let i = text.find("kura_rt_").expect("a token in the mail");
    text[i..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Erasing a subject removes its recovery mail (a live token) from the outbox, leaves
/// other subjects' mail alone, and kills its recovery tokens; the outbox file names carry
/// neither the subject id nor the address.
async fn erasure_purges_the_outbox_and_kills_recovery_tokens(backend: Backend) {
    let Some(f) = sync(|| fixture(backend, ThrottlePolicy::default(), 2)) else {
        return;
    };
    let id = account(&f, "shiro").await;
    let other = account(&f, "goro").await;
    for who in ["shiro", "goro"] {
        f.creds.request_recovery(
            access(),
            "accounts".into(),
            RecoveryBy::LoginId(Zeroizing::new(who.into())),
        );
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while outbox_files(&f).len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no recovery mails");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let files = outbox_files(&f);
    assert_eq!(files.len(), 2, "{files:?}");
    for p in &files {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        for secret in [
            id.to_string(),
            id.simple().to_string(),
            other.simple().to_string(),
            "shiro".into(),
            "goro".into(),
        ] {
            assert!(!name.contains(&secret), "{name} reveals {secret}");
        }
    }
    let read = |p: &std::path::PathBuf| std::fs::read_to_string(p).unwrap();
    let mine = files
        .iter()
        .find(|p| read(p).contains("shiro@example.jp"))
        .expect("shiro's mail");
    let token = token_in(&read(mine));
    let hash = f
        .vault
        .recovery_token_hash(&kura_credentials::recovery::token_hash(&token).unwrap());
    assert!(sync(|| f.store.recovery_token(&hash).unwrap()).is_some());

    let vault = f.vault.clone();
    sync(move || vault.delete(&access(), "accounts", &id).unwrap());

    let left = outbox_files(&f);
    assert_eq!(left.len(), 1, "the erased subject's mail is gone: {left:?}");
    assert!(read(&left[0]).contains("goro@example.jp"));
    assert!(
        sync(|| f.store.recovery_token(&hash).unwrap()).is_none(),
        "the token is gone from the store"
    );
    let r = f
        .creds
        .complete_recovery(
            access(),
            "accounts".into(),
            Zeroizing::new(token),
            Password::from("another long river under the moon"),
        )
        .await;
    assert_eq!(r.unwrap_err().code(), "recovery_token_invalid");
    sync(move || drop(f));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_erasure_purges_the_outbox_and_kills_recovery_tokens() {
    erasure_purges_the_outbox_and_kills_recovery_tokens(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_erasure_purges_the_outbox_and_kills_recovery_tokens() {
    erasure_purges_the_outbox_and_kills_recovery_tokens(Backend::Postgres).await;
}

/// Whoever can write the data store (but holds no key) puts in a recovery token row for a
/// token of their choosing — through the store's own API, the very row a SQL `INSERT` would
/// write — and tries to redeem it: the redemption must fail and the password stay.
async fn a_token_written_into_the_store_without_the_key_redeems_nothing(backend: Backend) {
    let Some(f) = sync(|| fixture(backend, ThrottlePolicy::default(), 2)) else {
        return;
    };
    let id = account(&f, "rokuro").await;
    let chosen = format!("kura_rt_{}", "ab".repeat(32));
    let sha256 = kura_credentials::recovery::token_hash(&chosen).unwrap();
    let row = kura_store::NewRecoveryToken {
        subject: id,
        collection: "accounts".into(),
        hash: sha256,
        issued_unix: 1_800_000_000,
        expires_unix: 1_800_000_000 + 1800,
    };
    assert!(sync(|| f
        .store
        .issue_recovery_token(&row, 3, 3600, &[])
        .unwrap()));
    let r = f
        .creds
        .complete_recovery(
            access(),
            "accounts".into(),
            Zeroizing::new(chosen),
            Password::from("the attacker's own long passphrase"),
        )
        .await;
    assert_eq!(r.map_err(|e| e.code()), Err("recovery_token_invalid"));
    assert_eq!(login(&f.creds, "rokuro", PW).await, Ok(id));
    sync(move || drop(f));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_token_written_into_the_store_without_the_key_redeems_nothing() {
    a_token_written_into_the_store_without_the_key_redeems_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_token_written_into_the_store_without_the_key_redeems_nothing() {
    a_token_written_into_the_store_without_the_key_redeems_nothing(Backend::Postgres).await;
}

/// The stored row of `id` as the data store holds it: (fields, version, tokens).
type RawRow = (Vec<u8>, i64, Vec<u8>);

/// Reads the raw row of `id` straight from the data store, as its owner (or a thief with
/// write access to the data store only) can.
fn raw_row(f: &Fixture, id: &Uuid) -> RawRow {
    match &f.db {
        None => {
            let c = rusqlite::Connection::open(f.data_dir.join("data.db")).unwrap();
            c.query_row(
                "SELECT fields, version, tokens FROM subjects WHERE id = ?1",
                [id.as_bytes().as_slice()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
        }
        Some(db) => {
            let r = db
                .admin()
                .query_one(
                    "SELECT fields, version, tokens FROM kura_data.subjects WHERE subject_id = $1",
                    &[id],
                )
                .unwrap();
            (r.get(0), r.get(1), r.get(2))
        }
    }
}

/// Writes an older raw row of `id` back into the data store with SQL.
fn restore_row(f: &Fixture, id: &Uuid, row: &RawRow) {
    match &f.db {
        None => {
            let c = rusqlite::Connection::open(f.data_dir.join("data.db")).unwrap();
            let n = c
                .execute(
                    "UPDATE subjects SET fields = ?1, version = ?2, tokens = ?3 WHERE id = ?4",
                    rusqlite::params![row.0, row.1, row.2, id.as_bytes().as_slice()],
                )
                .unwrap();
            assert_eq!(n, 1);
        }
        Some(db) => {
            let n = db
                .admin()
                .execute(
                    "UPDATE kura_data.subjects SET fields = $1, version = $2, tokens = $3 \
                     WHERE subject_id = $4",
                    &[&row.0, &row.1, &row.2, id],
                )
                .unwrap();
            assert_eq!(n, 1);
        }
    }
}

/// Whoever can write the data store (not the key store) puts an older copy of a subject's
/// row back — fields and version together, e.g. to revive a password hash they know. The
/// read must fail with the integrity error (never return the old data), and neither the
/// old nor the new password may log in.
async fn a_restored_older_row_fails_to_open(backend: Backend) {
    let Some(f) = sync(|| fixture(backend, ThrottlePolicy::default(), 2)) else {
        return;
    };
    let id = account(&f, "hachiro").await;
    let old = sync(|| raw_row(&f, &id));
    let new_pw = "another long river under the moon";
    f.creds
        .set_password(access(), "accounts".into(), id, Password::from(new_pw))
        .await
        .unwrap();
    assert_eq!(login(&f.creds, "hachiro", new_pw).await, Ok(id));
    let current = sync(|| raw_row(&f, &id));
    assert_ne!(current.0, old.0);
    sync(|| restore_row(&f, &id, &old));

    let vault = f.vault.clone();
    let read = sync(move || vault.read(&access(), "accounts", &id, None).map(|_| ()));
    assert_eq!(read.map_err(|e| e.code()), Err("integrity_error"));
    assert_eq!(login(&f.creds, "hachiro", PW).await, Err("integrity_error"));
    assert_eq!(
        login(&f.creds, "hachiro", new_pw).await,
        Err("integrity_error")
    );
    // The current row, put back, opens again: nothing else was harmed.
    sync(|| restore_row(&f, &id, &current));
    assert_eq!(login(&f.creds, "hachiro", new_pw).await, Ok(id));
    sync(move || drop(f));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_restored_older_row_fails_to_open() {
    a_restored_older_row_fails_to_open(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_restored_older_row_fails_to_open() {
    a_restored_older_row_fails_to_open(Backend::Postgres).await;
}

/// Sets the key store's seal epoch of `id` (as only the key role can).
fn set_key_epoch(f: &Fixture, id: &Uuid, epoch: i64) {
    let n = match &f.db {
        None => rusqlite::Connection::open(f.data_dir.join("keys.db"))
            .unwrap()
            .execute(
                "UPDATE data_keys SET epoch = ?1 WHERE subject = ?2",
                rusqlite::params![epoch, id.as_bytes().as_slice()],
            )
            .unwrap() as u64,
        Some(db) => db
            .admin()
            .execute(
                "UPDATE kura_keys.data_keys SET epoch = $1 WHERE subject_id = $2",
                &[&epoch, id],
            )
            .unwrap(),
    };
    assert_eq!(n, 1);
}

/// The decoded entries of a sealed-field blob, and back (the codec's layout, written out
/// here as a dump reader would: `0x01 || count (u16 BE) || { name_len (u8) || name ||
/// ct_len (u32 BE) || ct }*`).
fn entries(blob: &[u8]) -> Vec<(String, Vec<u8>)> {
    assert_eq!(blob[0], 1, "codec version");
    let mut out = Vec::new();
    let n = u16::from_be_bytes([blob[1], blob[2]]) as usize;
    let mut i = 3;
    for _ in 0..n {
        let l = blob[i] as usize;
        let name = String::from_utf8(blob[i + 1..i + 1 + l].to_vec()).unwrap();
        i += 1 + l;
        let vl = u32::from_be_bytes(blob[i..i + 4].try_into().unwrap()) as usize;
        out.push((name, blob[i + 4..i + 4 + vl].to_vec()));
        i += 4 + vl;
    }
    assert_eq!(i, blob.len(), "codec layout");
    out
}

fn blob(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![1u8];
    out.extend_from_slice(&(entries.len() as u16).to_be_bytes());
    for (n, v) in entries {
        out.push(n.len() as u8);
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v);
    }
    out
}

/// A row whose key-store epoch update was lost (a crash between the two stores) still
/// opens and rolls the key store forward; a row with a field dropped fails; a row from
/// before schema version 4 (no manifest, key epoch 0) opens, and once its subject was
/// written again it cannot be put back.
async fn epochs_roll_forward_refuse_dropped_fields_and_accept_legacy_rows(backend: Backend) {
    let Some(f) = sync(|| fixture(backend, ThrottlePolicy::default(), 2)) else {
        return;
    };
    let id = account(&f, "kuro").await;
    let read = |f: &Fixture| {
        let vault = f.vault.clone();
        sync(move || vault.read(&access(), "accounts", &id, None).map(|_| ())).map_err(|e| e.code())
    };
    let key_epoch =
        |f: &Fixture| sync(|| f.store.subject("accounts", &id).unwrap().unwrap().key_epoch);
    // Created at 1, the password written at 2.
    assert_eq!(key_epoch(&f), 2);
    sync(|| set_key_epoch(&f, &id, 1));
    assert_eq!(read(&f), Ok(()));
    assert_eq!(key_epoch(&f), 2, "rolled forward");

    let current = sync(|| raw_row(&f, &id));
    let all = entries(&current.0);
    assert!(
        all.iter().any(|(n, _)| n == "\u{0}row"),
        "{:?}",
        all.iter().map(|e| &e.0).collect::<Vec<_>>()
    );
    let without_email: Vec<_> = all.iter().filter(|(n, _)| n != "email").cloned().collect();
    sync(|| {
        restore_row(
            &f,
            &id,
            &(blob(&without_email), current.1, current.2.clone()),
        )
    });
    assert_eq!(read(&f), Err("integrity_error"));

    // A legacy row: no manifest, key epoch 0.
    let legacy: Vec<_> = all
        .iter()
        .filter(|(n, _)| n != "\u{0}row")
        .cloned()
        .collect();
    sync(|| restore_row(&f, &id, &(blob(&legacy), current.1, current.2.clone())));
    assert_eq!(
        read(&f),
        Err("integrity_error"),
        "refused while the key store is at 2"
    );
    sync(|| set_key_epoch(&f, &id, 0));
    assert_eq!(read(&f), Ok(()), "rows from before version 4 stay readable");
    assert_eq!(login(&f.creds, "kuro", PW).await, Ok(id));
    let old = sync(|| raw_row(&f, &id));
    f.creds
        .set_password(
            access(),
            "accounts".into(),
            id,
            Password::from("a brand new river passphrase"),
        )
        .await
        .unwrap();
    assert_eq!(key_epoch(&f), 1);
    sync(|| restore_row(&f, &id, &old));
    assert_eq!(
        read(&f),
        Err("integrity_error"),
        "the legacy row cannot come back"
    );
    sync(move || drop(f));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_epochs_roll_forward_refuse_dropped_fields_and_accept_legacy_rows() {
    epochs_roll_forward_refuse_dropped_fields_and_accept_legacy_rows(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_epochs_roll_forward_refuse_dropped_fields_and_accept_legacy_rows() {
    epochs_roll_forward_refuse_dropped_fields_and_accept_legacy_rows(Backend::Postgres).await;
}

/// Reads racing writes never see a legitimate row as rolled back: the key store's epoch is
/// read before the row (SQLite) or with it (PostgreSQL), and raised only after the row.
async fn reads_racing_writes_never_see_a_rollback(backend: Backend) {
    let Some(f) = sync(|| fixture(backend, ThrottlePolicy::default(), 2)) else {
        return;
    };
    let id = account(&f, "kyuro").await;
    let vault = f.vault.clone();
    sync(move || {
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let readers: Vec<_> = (0..3)
                .map(|_| {
                    s.spawn(|| {
                        let mut reads = 0;
                        while !done.load(std::sync::atomic::Ordering::Relaxed) {
                            if let Err(e) = vault.read(&access(), "accounts", &id, None) {
                                panic!("read during writes: {}", e.code());
                            }
                            reads += 1;
                        }
                        reads
                    })
                })
                .collect();
            for i in 0..400 {
                let mut changes = std::collections::BTreeMap::new();
                changes.insert("name".to_owned(), Some(format!("Kyuro {i}")));
                vault.patch(&access(), "accounts", &id, &changes).unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            for r in readers {
                assert!(r.join().unwrap() > 0);
            }
        });
    });
    sync(move || drop(f));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_reads_racing_writes_never_see_a_rollback() {
    reads_racing_writes_never_see_a_rollback(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_reads_racing_writes_never_see_a_rollback() {
    reads_racing_writes_never_see_a_rollback(Backend::Postgres).await;
}
