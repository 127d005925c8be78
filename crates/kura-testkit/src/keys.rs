//! Key providers for tests: the key file by default, a PKCS#11 token on SoftHSM2 when
//! `KURA_TEST_KEY_PROVIDER=pkcs11`, so one suite runs against both ([`provider`],
//! [`open_again`]); and SoftHSM2 tokens in temporary directories ([`SoftHsm`]).
//!
//! SoftHSM2 reads its configuration file from the environment variable `SOFTHSM2_CONF` once,
//! when the module is initialized. Setting a variable of the running process is `unsafe`
//! (and the workspace forbids `unsafe`), so whoever starts the process sets it: tests that
//! start `kura` pass it to the child, and a run with `KURA_TEST_KEY_PROVIDER=pkcs11` needs
//! `SOFTHSM2_CONF` naming a file; if that file does not exist yet, [`provider`] writes it,
//! with the token directory `tokens/` beside it. An initialized SoftHSM2 does not see tokens
//! that `softhsm2-util` creates later, and initializing tokens through the module while
//! other threads use it races inside SoftHSM2 (its slot list is not locked; seen as invalid
//! session handles). So the first [`provider`] call of a process initializes a pool of
//! tokens (`KURA_TEST_SOFTHSM_TOKENS`, default 32, about 10 ms each) before the module is
//! loaded, and each call takes the next one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use kura_crypto::pkcs11::{Pkcs11Config, Pkcs11Provider};
use kura_crypto::{KeyFile, KeyProvider, random_array};

/// Where Debian and Ubuntu put the SoftHSM2 module.
const MODULES: [&str; 2] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
];

/// The SoftHSM2 module, if installed with `softhsm2-util`.
pub fn softhsm_module() -> Option<PathBuf> {
    let util = Command::new("softhsm2-util")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !util {
        return None;
    }
    MODULES.iter().map(PathBuf::from).find(|p| p.exists())
}

/// Whether a test needing SoftHSM2 can run. Without SoftHSM2: under `CI=true` panics (the
/// test fails, saying what to install); otherwise prints a skip notice and returns false.
pub fn softhsm_or_skip(test: &str) -> bool {
    if softhsm_module().is_some() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{test}: SoftHSM2 is not installed; install it (`apt-get install softhsm2`, .ci/run does)"
        );
    }
    eprintln!("skipping {test}: SoftHSM2 is not installed (`apt-get install softhsm2`)");
    false
}

/// A SoftHSM2 configuration whose tokens live in a directory of their own.
#[derive(Debug, Clone)]
pub struct SoftHsm {
    /// The configuration file; give it to processes as `SOFTHSM2_CONF`.
    pub conf: PathBuf,
    /// The module to load.
    pub module: PathBuf,
}

/// One initialized token.
#[derive(Debug, Clone)]
pub struct Token {
    /// Its label.
    pub label: String,
    /// The user PIN.
    pub pin: String,
    /// The security officer's PIN.
    pub so_pin: String,
}

impl Token {
    /// A random label and PINs.
    pub fn random() -> Token {
        let r: [u8; 12] = random_array().unwrap();
        let h: String = r.iter().map(|b| format!("{b:02x}")).collect();
        Token {
            label: format!("kura-test-{}", &h[..8]),
            pin: format!("user-{}", &h[8..16]),
            so_pin: format!("so-{}", &h[16..]),
        }
    }
}

impl SoftHsm {
    /// Writes `dir/softhsm2.conf` with the token directory `dir/tokens` (unless the file
    /// exists). Panics if SoftHSM2 is not installed: call [`softhsm_or_skip`] first.
    pub fn new(dir: &Path) -> SoftHsm {
        Self::at(&dir.join("softhsm2.conf"))
    }

    /// Like [`SoftHsm::new`] with the configuration file at `conf`.
    pub fn at(conf: &Path) -> SoftHsm {
        let module = softhsm_module().expect("SoftHSM2 is installed");
        if !conf.exists() {
            let dir = conf.parent().expect("a configuration file has a directory");
            let tokens = dir.join("tokens");
            std::fs::create_dir_all(&tokens).unwrap();
            std::fs::write(
                conf,
                format!(
                    "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                    tokens.display()
                ),
            )
            .unwrap();
        }
        SoftHsm {
            conf: conf.to_owned(),
            module,
        }
    }

    /// Initializes a new token with a random label and PINs, with `softhsm2-util`: only
    /// processes that load SoftHSM2 later see it.
    pub fn token(&self) -> Token {
        let t = Token::random();
        self.init_token(&t);
        t
    }

    /// Initializes `token` in a free slot. One at a time in this process: two
    /// `softhsm2-util` runs at once can pick the same free slot.
    pub fn init_token(&self, token: &Token) {
        static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", &token.label])
            .args(["--pin", &token.pin, "--so-pin", &token.so_pin])
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .expect("softhsm2-util runs");
        assert!(
            out.status.success(),
            "softhsm2-util --init-token: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The provider configuration for `token`.
    pub fn config(&self, token: &Token) -> Pkcs11Config {
        Pkcs11Config {
            module: self.module.clone(),
            token_label: token.label.clone(),
            pin: zeroize::Zeroizing::new(token.pin.clone()),
        }
    }
}

/// Whether this run tests the vault against a PKCS#11 token.
pub fn pkcs11_requested() -> bool {
    std::env::var("KURA_TEST_KEY_PROVIDER").is_ok_and(|v| v == "pkcs11")
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The process's SoftHSM2, from `SOFTHSM2_CONF`, and its pool of tokens (see the module
/// docs).
fn process_softhsm() -> &'static (SoftHsm, Vec<Token>) {
    static HSM: OnceLock<(SoftHsm, Vec<Token>)> = OnceLock::new();
    HSM.get_or_init(|| {
        assert!(
            softhsm_module().is_some(),
            "KURA_TEST_KEY_PROVIDER=pkcs11 needs SoftHSM2: `apt-get install softhsm2`"
        );
        let conf = std::env::var_os("SOFTHSM2_CONF").expect(
            "KURA_TEST_KEY_PROVIDER=pkcs11 needs SOFTHSM2_CONF naming a configuration file \
             (created if missing), e.g. SOFTHSM2_CONF=$(mktemp -d)/softhsm2.conf",
        );
        let hsm = SoftHsm::at(Path::new(&conf));
        let count = std::env::var("KURA_TEST_SOFTHSM_TOKENS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(32usize);
        let pool = (0..count).map(|_| hsm.token()).collect();
        (hsm, pool)
    })
}

const TOKEN_FILE: &str = "vault.pkcs11-token";

/// A fresh key provider for a vault with `vault_id`, its state under `dir`: a key file
/// `dir/vault.key`, or with `KURA_TEST_KEY_PROVIDER=pkcs11` a new SoftHSM2 token (its label
/// and PIN noted in `dir` for [`open_again`]).
pub fn provider(dir: &Path, vault_id: [u8; 16]) -> Arc<dyn KeyProvider> {
    if !pkcs11_requested() {
        return Arc::new(KeyFile::create(&dir.join("vault.key"), vault_id).unwrap());
    }
    let (hsm, pool) = process_softhsm();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let token = pool.get(n).unwrap_or_else(|| {
        panic!(
            "all {} SoftHSM2 test tokens are taken; raise KURA_TEST_SOFTHSM_TOKENS",
            pool.len()
        )
    });
    std::fs::write(
        dir.join(TOKEN_FILE),
        format!("{}\n{}\n", token.label, token.pin),
    )
    .unwrap();
    Arc::new(Pkcs11Provider::create(&hsm.config(token), vault_id).unwrap())
}

/// The provider [`provider`] made under `dir`, opened again (as a restarted process would).
pub fn open_again(dir: &Path, vault_id: [u8; 16]) -> Arc<dyn KeyProvider> {
    if !pkcs11_requested() {
        return Arc::new(KeyFile::open(&dir.join("vault.key")).unwrap());
    }
    let (hsm, _) = process_softhsm();
    let text = std::fs::read_to_string(dir.join(TOKEN_FILE)).unwrap();
    let mut lines = text.lines();
    let token = Token {
        label: lines.next().unwrap().to_owned(),
        pin: lines.next().unwrap().to_owned(),
        so_pin: String::new(),
    };
    Arc::new(Pkcs11Provider::open(&hsm.config(&token), vault_id).unwrap())
}
