//! The PKCS#11 key provider against SoftHSM2.
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` when the module is initialized, once per process, and
//! setting a variable of the running process is `unsafe` (forbidden here). So each test runs
//! twice: the parent makes a SoftHSM2 configuration and token in a temporary directory, then
//! runs this test binary again with `SOFTHSM2_CONF` set, filtered to the one test, and the
//! child does the work. Each test has its own token.
//!
//! Without SoftHSM2 the tests print a skip notice, or fail under `CI=true`.
#![cfg(feature = "pkcs11")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as PError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use kura_crypto::pkcs11::{Pkcs11Config, Pkcs11Provider};
use kura_crypto::{CryptoError, KeyProvider, KeyPurpose, REFRESH_INTERVAL, SecretKey, WrappedKey};

const MODULES: [&str; 2] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
];
const CHILD: &str = "KURA_PKCS11_TEST_CHILD";
const PIN: &str = "4321-user-pin";
const SO_PIN: &str = "8765-so-pin";
const VAULT: [u8; 16] = [0x5a; 16];

fn module() -> Option<PathBuf> {
    let util = Command::new("softhsm2-util")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    util.then(|| MODULES.iter().map(PathBuf::from).find(|p| p.exists()))
        .flatten()
}

/// What the child gets: the module, the token's label and the SoftHSM2 configuration.
struct Env {
    module: PathBuf,
    label: String,
    conf: PathBuf,
}

impl Env {
    fn config(&self) -> Pkcs11Config {
        Pkcs11Config {
            module: self.module.clone(),
            token_label: self.label.clone(),
            pin: zeroize::Zeroizing::new(PIN.to_owned()),
        }
    }

    /// Initializes another token in the same SoftHSM2 directory.
    fn init_token(&self, label: &str) {
        init_token(&self.conf, label);
    }
}

fn init_token(conf: &Path, label: &str) {
    let out = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", label])
        .args(["--pin", PIN, "--so-pin", SO_PIN])
        .env("SOFTHSM2_CONF", conf)
        .output()
        .expect("softhsm2-util runs");
    assert!(
        out.status.success(),
        "softhsm2-util --init-token: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `body` in a child process that has a fresh token (see the file's docs).
fn in_softhsm(test: &str, body: impl FnOnce(&Env)) {
    if std::env::var(CHILD).as_deref() == Ok(test) {
        let conf = PathBuf::from(std::env::var_os("SOFTHSM2_CONF").unwrap());
        body(&Env {
            module: module().unwrap(),
            label: "kura-test".to_owned(),
            conf,
        });
        return;
    }
    if module().is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "{test}: SoftHSM2 is not installed; install it (`apt-get install softhsm2`, .ci/run does)"
            );
        }
        eprintln!("skipping {test}: SoftHSM2 is not installed (`apt-get install softhsm2`)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    init_token(&conf, "kura-test");
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads", "1"])
        .env("SOFTHSM2_CONF", &conf)
        .env(CHILD, test)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test} failed in its SoftHSM2 child:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn dek() -> SecretKey {
    SecretKey::generate().unwrap()
}

#[test]
fn round_trip() {
    in_softhsm("round_trip", |env| {
        let p = Pkcs11Provider::create(&env.config(), VAULT).unwrap();
        assert_eq!(p.vault_id(), VAULT);
        let k = dek();
        let w = p.wrap(&k, b"subject-a").unwrap();
        assert_eq!(w.kek_version, 1);
        assert_eq!(w.bytes.len(), 12 + 32 + 16);
        assert_eq!(p.unwrap(&w, b"subject-a").unwrap().expose(), k.expose());
        // A second wrap of the same key differs (fresh IV).
        assert_ne!(p.wrap(&k, b"subject-a").unwrap().bytes, w.bytes);
        // Reopened, as a restarted process would.
        drop(p);
        let again = Pkcs11Provider::open(&env.config(), VAULT).unwrap();
        assert_eq!(again.unwrap(&w, b"subject-a").unwrap().expose(), k.expose());
        let short = WrappedKey {
            kek_version: 1,
            bytes: w.bytes[..40].to_vec(),
        };
        assert!(matches!(
            again.unwrap(&short, b"subject-a"),
            Err(CryptoError::Malformed(_))
        ));
        assert!(again.describe().contains(&env.label));
    });
}

#[test]
fn context_binding_and_tamper() {
    in_softhsm("context_binding_and_tamper", |env| {
        let p = Pkcs11Provider::create(&env.config(), VAULT).unwrap();
        let w = p.wrap(&dek(), b"subject-a").unwrap();
        assert!(matches!(
            p.unwrap(&w, b"subject-b"),
            Err(CryptoError::Integrity)
        ));
        for i in [0, 12, 30, w.bytes.len() - 1] {
            let mut t = w.clone();
            t.bytes[i] ^= 1;
            assert!(
                matches!(p.unwrap(&t, b"subject-a"), Err(CryptoError::Integrity)),
                "byte {i}"
            );
        }
        // The version is bound too: the same bytes claimed under another (held) version fail.
        p.rotate_kek().unwrap();
        let moved = WrappedKey {
            kek_version: 2,
            bytes: w.bytes.clone(),
        };
        assert!(matches!(
            p.unwrap(&moved, b"subject-a"),
            Err(CryptoError::Integrity)
        ));
    });
}

#[test]
fn create_refuses_existing_keys_and_open_names_the_vault() {
    in_softhsm(
        "create_refuses_existing_keys_and_open_names_the_vault",
        |env| {
            let _p = Pkcs11Provider::create(&env.config(), VAULT).unwrap();
            let e = Pkcs11Provider::create(&env.config(), VAULT)
                .unwrap_err()
                .to_string();
            assert!(e.contains("already holds keys"), "{e}");
            let e = Pkcs11Provider::open(&env.config(), [7; 16])
                .unwrap_err()
                .to_string();
            assert!(e.contains("holds no keys of vault 0707"), "{e}");
            assert!(e.contains(&env.label), "{e}");
            // Another vault in the same token is independent.
            let other = Pkcs11Provider::create(&env.config(), [7; 16]).unwrap();
            let w = other.wrap(&dek(), b"x").unwrap();
            let p = Pkcs11Provider::open(&env.config(), VAULT).unwrap();
            assert!(p.unwrap(&w, b"x").is_err());
            let mut cfg = env.config();
            cfg.token_label = "no-such-token".into();
            let e = Pkcs11Provider::open(&cfg, VAULT).unwrap_err().to_string();
            assert!(e.contains("no token labelled `no-such-token`"), "{e}");
            let mut cfg = env.config();
            cfg.module = "/nonexistent/libpkcs11.so".into();
            let e = Pkcs11Provider::open(&cfg, VAULT).unwrap_err().to_string();
            assert!(e.contains("cannot load the module /nonexistent"), "{e}");
        },
    );
}

#[test]
fn rotation_and_a_second_instance() {
    in_softhsm("rotation_and_a_second_instance", |env| {
        let a = Pkcs11Provider::create(&env.config(), VAULT).unwrap();
        let b = Pkcs11Provider::open(&env.config(), VAULT).unwrap();
        let k1 = dek();
        let w1 = a.wrap(&k1, b"s").unwrap();
        assert_eq!(b.wrap(&dek(), b"s").unwrap().kek_version, 1);
        assert_eq!(a.rotate_kek().unwrap(), 2);
        let v = a.kek_versions().unwrap();
        assert_eq!((v.current, v.all), (2, vec![1, 2]));
        let k2 = dek();
        let w2 = a.wrap(&k2, b"s").unwrap();
        assert_eq!(w2.kek_version, 2);
        assert_eq!(a.unwrap(&w1, b"s").unwrap().expose(), k1.expose());
        // The instance opened before the rotation unwraps v2 at once (unknown version: it
        // lists the token again) ...
        assert_eq!(b.unwrap(&w2, b"s").unwrap().expose(), k2.expose());
        // ... and wraps under v2 within REFRESH_INTERVAL.
        let c = Pkcs11Provider::open(&env.config(), VAULT).unwrap();
        assert_eq!(c.wrap(&dek(), b"s").unwrap().kek_version, 2);
        a.rotate_kek().unwrap();
        let start = std::time::Instant::now();
        loop {
            let w = c.wrap(&dek(), b"s").unwrap();
            if w.kek_version == 3 {
                break;
            }
            assert!(
                start.elapsed() < REFRESH_INTERVAL,
                "still wrapping under {} after {:?}",
                w.kek_version,
                start.elapsed()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(b.kek_versions().unwrap().current, 3);
    });
}

#[test]
fn destroy() {
    in_softhsm("destroy", |env| {
        let a = Pkcs11Provider::create(&env.config(), VAULT).unwrap();
        let b = Pkcs11Provider::open(&env.config(), VAULT).unwrap();
        let w1 = a.wrap(&dek(), b"s").unwrap();
        assert!(b.unwrap(&w1, b"s").is_ok(), "b holds v1's handle now");
        assert!(matches!(
            a.destroy_kek(1),
            Err(CryptoError::KekInUse { version: 1, .. })
        ));
        a.rotate_kek().unwrap();
        assert!(matches!(
            a.destroy_kek(2),
            Err(CryptoError::KekInUse { version: 2, .. })
        ));
        assert!(matches!(
            a.destroy_kek(9),
            Err(CryptoError::UnknownKekVersion(9))
        ));
        a.destroy_kek(1).unwrap();
        assert!(matches!(
            a.unwrap(&w1, b"s"),
            Err(CryptoError::UnknownKekVersion(1))
        ));
        // The other instance still had v1's handle: it finds out from the token.
        assert!(matches!(
            b.unwrap(&w1, b"s"),
            Err(CryptoError::UnknownKekVersion(1))
        ));
        assert_eq!(a.kek_versions().unwrap().all, vec![2]);
        assert!(a.unwrap(&a.wrap(&dek(), b"s").unwrap(), b"s").is_ok());
    });
}

/// Opens a session of our own on the test's token, logged in.
fn raw_session(env: &Env) -> Session {
    let ctx = Pkcs11::new(&env.module).unwrap();
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(PError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => panic!("{e}"),
    }
    let slot = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label().trim_end() == env.label)
        .unwrap();
    let s = ctx.open_rw_session(slot).unwrap();
    match s.login(UserType::User, Some(&AuthPin::from(PIN))) {
        Ok(()) | Err(PError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => panic!("{e}"),
    }
    s
}

#[test]
fn the_keks_and_the_root_cannot_be_read_out() {
    in_softhsm("the_keks_and_the_root_cannot_be_read_out", |env| {
        let p = Pkcs11Provider::create(&env.config(), VAULT).unwrap();
        p.rotate_kek().unwrap();
        let s = raw_session(env);
        let hex: String = VAULT.iter().map(|b| format!("{b:02x}")).collect();
        // A wrapping key of our own, allowed to wrap anything extractable.
        let wrapper = s
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Token(false),
                    Attribute::ValueLen(32.into()),
                    Attribute::Wrap(true),
                    Attribute::Encrypt(true),
                ],
            )
            .unwrap();
        for label in [
            format!("kura/{hex}/kek/1"),
            format!("kura/{hex}/kek/2"),
            format!("kura/{hex}/root"),
        ] {
            let found = s
                .find_objects(&[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::Label(label.clone().into_bytes()),
                ])
                .unwrap();
            assert_eq!(found.len(), 1, "{label}");
            let h = found[0];
            let flags = s
                .get_attributes(
                    h,
                    &[
                        AttributeType::Sensitive,
                        AttributeType::Extractable,
                        AttributeType::AlwaysSensitive,
                        AttributeType::NeverExtractable,
                        AttributeType::Token,
                        AttributeType::Private,
                        AttributeType::Wrap,
                        AttributeType::KeyType,
                    ],
                )
                .unwrap();
            for a in &flags {
                match a {
                    Attribute::Sensitive(v)
                    | Attribute::AlwaysSensitive(v)
                    | Attribute::NeverExtractable(v)
                    | Attribute::Token(v)
                    | Attribute::Private(v) => assert!(*v, "{label}: {a:?}"),
                    Attribute::Extractable(v) | Attribute::Wrap(v) => {
                        assert!(!*v, "{label}: {a:?}")
                    }
                    Attribute::KeyType(t) => {
                        let want = if label.ends_with("root") {
                            KeyType::GENERIC_SECRET
                        } else {
                            KeyType::AES
                        };
                        assert_eq!(*t, want, "{label}");
                    }
                    _ => {}
                }
            }
            assert_eq!(flags.len(), 8, "{label}: {flags:?}");
            // CKA_VALUE: the token refuses (sensitive), or leaves it out as unavailable.
            match s.get_attributes(h, &[AttributeType::Value]) {
                Err(PError::Pkcs11(RvError::AttributeSensitive, _)) => {}
                Ok(attrs) => assert!(
                    !attrs.iter().any(|a| matches!(a, Attribute::Value(_))),
                    "{label}: CKA_VALUE was readable"
                ),
                Err(e) => panic!("{label}: unexpected {e}"),
            }
            // C_WrapKey under a key of our own: refused (non-extractable).
            match s.wrap_key(&Mechanism::AesKeyWrapPad, wrapper, h) {
                Err(PError::Pkcs11(RvError::KeyUnextractable, _)) => {}
                Err(e) => panic!("{label}: wrap refused with {e}, not as unextractable"),
                Ok(_) => panic!("{label}: the token wrapped it out"),
            }
        }
        // The provider still works after all that.
        assert!(p.unwrap(&p.wrap(&dek(), b"s").unwrap(), b"s").is_ok());
    });
}

#[test]
fn derive_is_stable_and_per_purpose() {
    in_softhsm("derive_is_stable_and_per_purpose", |env| {
        let a = Pkcs11Provider::create(&env.config(), VAULT).unwrap();
        let b = Pkcs11Provider::open(&env.config(), VAULT).unwrap();
        let purposes = [
            KeyPurpose::IndexRoot,
            KeyPurpose::AuditSigning,
            KeyPurpose::PasswordPepper,
            KeyPurpose::ReceiptSigning,
            KeyPurpose::CardKek,
        ];
        let mut seen = Vec::new();
        for p in purposes {
            let x = a.derive(p).unwrap();
            assert_eq!(x.expose(), b.derive(p).unwrap().expose(), "{p:?}");
            assert!(!seen.contains(x.expose()), "{p:?} repeats another purpose");
            seen.push(*x.expose());
        }
        // Another vault in the same token derives other secrets.
        let other = Pkcs11Provider::create(&env.config(), [1; 16]).unwrap();
        assert_ne!(
            other.derive(KeyPurpose::IndexRoot).unwrap().expose(),
            &seen[0]
        );
    });
}

#[test]
fn wrong_pin_is_named_and_never_shown() {
    in_softhsm("wrong_pin_is_named_and_never_shown", |env| {
        // A token this process has not logged in to (login state is per process and token).
        env.init_token("kura-untouched");
        let cfg = Pkcs11Config {
            module: env.module.clone(),
            token_label: "kura-untouched".into(),
            pin: zeroize::Zeroizing::new("9999-wrong-pin".into()),
        };
        let e = Pkcs11Provider::create(&cfg, VAULT).unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(text.contains("wrong PIN"), "{text}");
        assert!(text.contains("kura-untouched"), "{text}");
        assert!(!text.contains("9999"), "the PIN leaked: {text}");
        assert!(!format!("{cfg:?}").contains("9999"), "Debug shows the PIN");
        let p = Pkcs11Provider::create(&env.config(), VAULT).unwrap();
        assert!(!format!("{p:?}").contains(PIN), "Debug shows the PIN");
    });
}

#[test]
fn concurrent_use() {
    in_softhsm("concurrent_use", |env| {
        let p = Pkcs11Provider::create(&env.config(), VAULT).unwrap();
        std::thread::scope(|s| {
            for t in 0..8u8 {
                let p = &p;
                s.spawn(move || {
                    for i in 0..50u8 {
                        let k = dek();
                        let ctx = [t, i];
                        let w = p.wrap(&k, &ctx).unwrap();
                        assert_eq!(p.unwrap(&w, &ctx).unwrap().expose(), k.expose());
                    }
                });
            }
        });
    });
}
