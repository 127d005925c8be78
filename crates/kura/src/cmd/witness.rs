//! `kura witness`: a minimal C2SP tlog-witness, so that an auditor (or a second site) can
//! countersign kura's checkpoints and later prove that the log was not cut off or
//! rewritten after them.
//!
//! The witness keeps, per log it trusts, the latest checkpoint it cosigned, in its state
//! directory (`logs/<key id>/latest`, replaced atomically). It cosigns a new checkpoint
//! only when the log's key signed it and a consistency proof links it to that latest one
//! (`kura_tlog::witness::check_add`); requests are handled one at a time. Its own key is a
//! 32-byte Ed25519 seed in `witness.key` (mode 0600), never printed.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Subcommand;
use kura_tlog::witness::{AddCheckpoint, Refusal, check_add};
use kura_tlog::{Checkpoint, CosignSigner, NoteVerifier};
use zeroize::Zeroizing;

/// `kura witness ...`.
#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Create a witness: its state directory and its cosigning key; print its verifier key.
    Init {
        /// The state directory (created, mode 0700).
        #[arg(long)]
        state: PathBuf,
        /// The witness's name (a key name: no spaces, no `+`), e.g. `witness.auditor.example`.
        #[arg(long)]
        name: String,
    },
    /// Print the witness's verifier key (`name+keyid+base64(0x04||pubkey)`), for
    /// `[[audit.witnesses]] key` and `kura audit verify --witness-key`.
    Key {
        #[arg(long)]
        state: PathBuf,
    },
    /// Trust a log: its checkpoint verifier key, as `kura audit key` prints it.
    AddLog {
        #[arg(long)]
        state: PathBuf,
        /// The log's verifier key.
        #[arg(long)]
        key: String,
    },
    /// Print the latest checkpoint this witness cosigned for a log (give the log's key).
    Latest {
        #[arg(long)]
        state: PathBuf,
        #[arg(long)]
        log: String,
    },
    /// Serve `POST /add-checkpoint` (C2SP tlog-witness) until interrupted.
    Serve {
        #[arg(long)]
        state: PathBuf,
        /// Where to listen (default 127.0.0.1:8271).
        #[arg(long, default_value = "127.0.0.1:8271")]
        listen: SocketAddr,
    },
}

const KEY_FILE: &str = "witness.key";
const LOGS_FILE: &str = "logs.txt";

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyDoc {
    format: String,
    name: String,
    seed: String,
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

fn load_signer(state: &Path) -> Result<CosignSigner> {
    let path = state.join(KEY_FILE);
    let meta = std::fs::metadata(&path).with_context(|| {
        format!(
            "no witness at {} (run `kura witness init`)",
            state.display()
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            bail!(
                "{} can be read by other users; run `chmod 600` on it",
                path.display()
            );
        }
    }
    let _ = meta;
    let text = Zeroizing::new(std::fs::read_to_string(&path)?);
    let doc: KeyDoc =
        serde_json::from_str(&text).with_context(|| format!("{} is malformed", path.display()))?;
    if doc.format != "kura-witness-key-v1" {
        bail!("{}: unknown format `{}`", path.display(), doc.format);
    }
    let seed = Zeroizing::new(
        B64.decode(&doc.seed)
            .ok()
            .and_then(|s| <[u8; 32]>::try_from(s.as_slice()).ok())
            .with_context(|| format!("{}: the seed is not 32 bytes of base64", path.display()))?,
    );
    Ok(CosignSigner::from_seed(&doc.name, &seed)?)
}

fn load_logs(state: &Path) -> Result<Vec<NoteVerifier>> {
    let text = match std::fs::read_to_string(state.join(LOGS_FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).context("reading logs.txt"),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            NoteVerifier::from_verifier_key(l.trim())
                .with_context(|| format!("logs.txt: `{l}` is not a log verifier key"))
        })
        .collect()
}

fn log_dir(state: &Path, log: &NoteVerifier) -> PathBuf {
    state.join("logs").join(format!("{:08x}", log.key_id()))
}

fn read_latest(state: &Path, log: &NoteVerifier) -> Result<Option<(String, Checkpoint)>> {
    let path = log_dir(state, log).join("latest");
    match std::fs::read_to_string(&path) {
        Ok(t) => {
            let cp = Checkpoint::open(t.as_bytes(), log)
                .with_context(|| format!("{} does not verify", path.display()))?;
            Ok(Some((t, cp)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn write_latest(state: &Path, log: &NoteVerifier, text: &str) -> Result<()> {
    let dir = log_dir(state, log);
    std::fs::create_dir_all(&dir)?;
    let tmp = dir.join(".latest.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join("latest"))?;
    std::fs::File::open(&dir)?.sync_all()?;
    Ok(())
}

pub fn run(cmd: WitnessCommand) -> Result<ExitCode> {
    match cmd {
        WitnessCommand::Init { state, name } => {
            if !kura_tlog::is_valid_key_name(&name) {
                bail!("`{name}` is not a valid witness name (no spaces, no `+`)");
            }
            std::fs::create_dir_all(&state)
                .with_context(|| format!("cannot create {}", state.display()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700))?;
            }
            let seed = Zeroizing::new(kura_crypto::random_array::<32>()?);
            let doc = KeyDoc {
                format: "kura-witness-key-v1".into(),
                name: name.clone(),
                seed: B64.encode(*seed),
            };
            let text = Zeroizing::new(serde_json::to_string_pretty(&doc)?);
            drop(doc);
            write_private(&state.join(KEY_FILE), &text)?;
            println!("{}", load_signer(&state)?.verifier().verifier_key());
            Ok(ExitCode::SUCCESS)
        }
        WitnessCommand::Key { state } => {
            println!("{}", load_signer(&state)?.verifier().verifier_key());
            Ok(ExitCode::SUCCESS)
        }
        WitnessCommand::AddLog { state, key } => {
            let v = NoteVerifier::from_verifier_key(key.trim())
                .context("--key is not a log verifier key (as `kura audit key` prints it)")?;
            load_signer(&state)?;
            if load_logs(&state)?.iter().any(|l| l == &v) {
                println!("already trusted: {}", v.name());
                return Ok(ExitCode::SUCCESS);
            }
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(state.join(LOGS_FILE))?;
            writeln!(f, "{}", v.verifier_key())?;
            f.sync_all()?;
            println!("trusting log {}", v.name());
            Ok(ExitCode::SUCCESS)
        }
        WitnessCommand::Latest { state, log } => {
            let v = NoteVerifier::from_verifier_key(log.trim())
                .context("--log is not a log verifier key")?;
            match read_latest(&state, &v)? {
                Some((text, _)) => {
                    print!("{text}");
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("this witness has cosigned nothing for {}", v.name());
                    Ok(ExitCode::from(1))
                }
            }
        }
        WitnessCommand::Serve { state, listen } => serve(state, listen),
    }
}

struct Witness {
    state: PathBuf,
    signer: CosignSigner,
    logs: Vec<NoteVerifier>,
    /// One request at a time: read latest, decide, write latest.
    lock: Mutex<()>,
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn add_checkpoint(w: &Witness, body: &[u8]) -> Response {
    let plain = "text/plain; charset=utf-8";
    let Ok(body) = std::str::from_utf8(body) else {
        return text(StatusCode::BAD_REQUEST, plain, "body is not UTF-8\n".into());
    };
    let req = match AddCheckpoint::parse(body) {
        Ok(r) => r,
        Err(e) => return text(StatusCode::BAD_REQUEST, plain, format!("{e}\n")),
    };
    let origin = req.checkpoint.lines().next().unwrap_or("");
    let Some(log) = w.logs.iter().find(|l| l.name() == origin) else {
        return text(StatusCode::NOT_FOUND, plain, "unknown log\n".into());
    };
    let Ok(_guard) = w.lock.lock() else {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            plain,
            "lock poisoned\n".into(),
        );
    };
    let latest = match read_latest(&w.state, log) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "reading the witness state failed");
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                plain,
                "state unreadable\n".into(),
            );
        }
    };
    match check_add(log, latest.as_ref().map(|(_, c)| c), &req) {
        Ok(new) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let line = match w.signer.cosign(&new.to_text(), now) {
                Ok(l) => l,
                Err(e) => return text(StatusCode::BAD_REQUEST, plain, format!("{e}\n")),
            };
            let keep = format!("{}{line}", req.checkpoint);
            if let Err(e) = write_latest(&w.state, log, &keep) {
                tracing::error!(error = %e, "writing the witness state failed");
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    plain,
                    "state unwritable\n".into(),
                );
            }
            text(StatusCode::OK, "text/x.tlog.cosignature", line)
        }
        Err(Refusal::Conflict { latest }) => text(
            StatusCode::CONFLICT,
            "text/x.tlog.size",
            format!("{latest}\n"),
        ),
        Err(Refusal::BadSignature) => text(
            StatusCode::FORBIDDEN,
            plain,
            "the checkpoint is not signed by the log's key\n".into(),
        ),
        Err(e @ Refusal::Inconsistent { .. }) => {
            tracing::warn!(target: "kura::alert", log = %log.name(), "witness refused an inconsistent checkpoint: {e}");
            text(StatusCode::UNPROCESSABLE_ENTITY, plain, format!("{e}\n"))
        }
    }
}

fn serve(state: PathBuf, listen: SocketAddr) -> Result<ExitCode> {
    let signer = load_signer(&state)?;
    let logs = load_logs(&state)?;
    if logs.is_empty() {
        bail!(
            "this witness trusts no log yet: `kura witness add-log --state {} --key <kura audit key>`",
            state.display()
        );
    }
    let w = Arc::new(Witness {
        state,
        signer,
        logs,
        lock: Mutex::new(()),
    });
    let app = Router::new()
        .route(
            "/add-checkpoint",
            post(|State(w): State<Arc<Witness>>, body: Bytes| async move {
                tokio::task::spawn_blocking(move || add_checkpoint(&w, &body))
                    .await
                    .unwrap_or_else(|_| {
                        text(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "text/plain; charset=utf-8",
                            "failed\n".into(),
                        )
                    })
            }),
        )
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(w);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        println!("witness listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
