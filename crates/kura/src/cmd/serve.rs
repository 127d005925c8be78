//! `kura serve` (and `--dev`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use kura_server::{AppState, Limits};

use crate::cli::VaultArgs;
use crate::config::resolve;
use crate::open;

pub fn run(mut args: VaultArgs, listen: Option<SocketAddr>, dev: bool) -> Result<ExitCode> {
    if dev {
        let dir = PathBuf::from("kura-dev");
        args.data = Some(dir.clone());
        if !dir.join(kura_store::sqlite::DATA_FILE).exists() {
            let first = super::init::create_vault(&args, super::init::dev_owner(), None)?;
            let key = first.key;
            let addr = listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8270)));
            println!("kura dev vault created in ./kura-dev (keys in ./kura-dev.key).");
            println!(
                "Owner: a PLACEHOLDER organization `dev` with a placeholder security officer \
                 (security@example.invalid). A real vault names its own: kura init --org ... \
                 --officer-name ... --officer-contact ..."
            );
            println!();
            println!("Operator API key (shown once, stored only as a hash):");
            println!("  {}", key.as_str());
            println!();
            println!("Try it:");
            println!(
                "  curl -s -X POST http://{addr}/v1/collections/accounts/subjects \\\n    -H 'Authorization: Bearer {}' -H 'X-Kura-Purpose: signup' \\\n    -H 'Content-Type: application/json' \\\n    -d '{{\"country\":\"JP\",\"locale\":\"ja\",\"fields\":{{\"login_id\":\"taro\",\"email\":\"taro@example.jp\",\"name\":\"山田太郎\"}}}}'",
                key.as_str()
            );
            println!();
        } else {
            println!(
                "Using the existing dev vault in ./kura-dev (its operator key was printed when it was created)."
            );
        }
    }
    let r = resolve(&args)?;
    if r.config.server.max_import_line_bytes == 0 {
        anyhow::bail!(
            "[server] max_import_line_bytes must be at least 1 (every import line would be refused)"
        );
    }
    let metrics = std::sync::Arc::new(kura_admin::metrics::Metrics::default());
    let opened = open::served_vault(&r, metrics.clone())?;
    let store = opened.vault.store().clone();
    let addr = listen.unwrap_or(r.config.server.listen);
    // The integrator extends the Merkle tree and signs checkpoints in the background.
    let seed = opened
        .keys
        .derive(kura_crypto::KeyPurpose::AuditSigning)
        .context("deriving the audit signing key")?;
    let integrator = std::sync::Arc::new(
        kura_audit::Integrator::new(
            opened.store.clone(),
            seed.expose(),
            kura_audit::IntegratorConfig {
                checkpoint_every_entries: r.config.audit.checkpoint_every_entries,
                checkpoint_every_ms: r.config.audit.checkpoint_every_ms,
                ..Default::default()
            },
        )
        .context("starting the access-log integrator")?,
    );
    let publisher = publisher(&r, &opened, &seed)?;
    drop(seed);
    let integrator_handle = integrator
        .clone()
        .start(std::sync::Arc::new(open::SystemClock), |e| {
            tracing::error!(error = %e, "access-log integration failed");
        })
        .context("starting the access-log integrator")?;
    spawn_log_watch(
        opened.store.clone(),
        publisher,
        std::time::Duration::from_millis(r.config.audit.publish_every_ms.max(100)),
        metrics.clone(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // The hashing pool and the mailer run on this runtime's blocking threads.
    let (credentials, rights) = {
        let _enter = rt.enter();
        let mailer = open::mailer(&r, &opened)?;
        (
            open::credentials(&r, &opened, mailer.clone())?,
            open::rights_service(&r, &opened, integrator.clone(), mailer)?,
        )
    };
    super::doctor::spawn_daily(&r, &opened, addr, metrics.clone())?;
    let state = AppState {
        vault: opened.vault.clone(),
        audit: opened.store.clone(),
        notices: opened.notices.clone(),
        store,
        limits: Limits {
            max_body_bytes: r.config.server.max_body_bytes,
            max_import_bytes: r.config.server.max_import_bytes,
            max_import_line_bytes: r.config.server.max_import_line_bytes,
            import_slots: Limits::import_slots(r.config.server.max_concurrent_imports),
        },
        credentials: Some(credentials),
        directory: opened.directory.clone(),
        policies: std::sync::Arc::default(),
        metrics,
        cards: Some(opened.cards.clone()),
        clock: std::sync::Arc::new(crate::open::SystemClock),
        obligations: std::sync::Arc::new(super::incident::rules(&r.config)?),
        rights: Some(rights),
    };
    {
        let _enter = rt.enter();
        kura_server::containment::spawn_obligations_watch(
            opened.directory.clone(),
            state.obligations.clone(),
            state.metrics.clone(),
            std::sync::Arc::new(open::SystemClock),
            std::time::Duration::from_secs(r.config.obligations.watch_secs.unwrap_or(60).max(1)),
        );
    }
    if let Some(c) = opened.vault.canaries() {
        let _enter = rt.enter();
        kura_server::containment::spawn_housekeeping(
            c.clone(),
            opened.directory.clone(),
            opened.windows.clone(),
            std::sync::Arc::new(open::SystemClock),
            std::time::Duration::from_secs(r.config.containment.refresh_secs.max(1)),
        );
    }
    let console = r.config.console.clone();
    let windows = opened.windows.clone();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        tracing::info!(%local, backend = open::describe(&*state.store), "kura listening");
        // A line on stdout that scripts and tests can wait for.
        println!("listening on http://{local}");
        let mut app = kura_server::router(state.clone());
        if console.enabled {
            app = app.merge(kura_console::router(
                state,
                Some(windows),
                kura_console::Settings {
                    // Secure unless only loopback can reach it (no TLS there).
                    secure_cookie: console.secure_cookie.unwrap_or(!local.ip().is_loopback()),
                    idle_secs: console.idle_secs.max(60),
                    absolute_secs: console.absolute_secs.max(60),
                    max_sessions: console.max_sessions,
                },
            ));
        }
        kura_server::serve_router(listener, app, shutdown_signal())
            .await
            .context("serving")?;
        Ok::<_, anyhow::Error>(())
    })?;
    // Drain: every accepted event is written, integrated and covered by a checkpoint.
    opened.appender.shutdown();
    drop(integrator_handle);
    use kura_audit::Clock as _;
    integrator
        .integrate_now(open::SystemClock.now_ms())
        .context("final access-log integration")?;
    tracing::info!("shut down cleanly");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; draining requests");
}

/// The checkpoint publisher of `[audit] checkpoint_dir` and `[[audit.witnesses]]`, if any.
fn publisher(
    r: &crate::config::Resolved,
    opened: &open::Opened,
    seed: &kura_crypto::SecretKey,
) -> Result<Option<kura_admin::witness::Publisher>> {
    let a = &r.config.audit;
    if a.checkpoint_dir.is_none() && a.witnesses.is_empty() {
        return Ok(None);
    }
    let origin = kura_audit::origin_for(&opened.vault.vault_id());
    let log = kura_tlog::NoteSigner::from_seed(&origin, seed.expose())?.verifier();
    let mut witnesses = Vec::new();
    for w in &a.witnesses {
        if !w.url.starts_with("http://") && !w.url.starts_with("https://") {
            anyhow::bail!("[[audit.witnesses]] url `{}` must be an http(s) URL", w.url);
        }
        witnesses.push(kura_admin::witness::Witness {
            url: w.url.clone(),
            verifier: kura_tlog::CosignVerifier::from_verifier_key(w.key.trim()).with_context(
                || {
                    format!(
                        "[[audit.witnesses]] key of {} is not a witness verifier key",
                        w.url
                    )
                },
            )?,
        });
    }
    Ok(Some(
        kura_admin::witness::Publisher::new(
            opened.store.clone(),
            log,
            a.checkpoint_dir.clone(),
            witnesses,
            opened.appender.clone(),
        )
        .context("setting up checkpoint publication")?,
    ))
}

/// The log watch, on a thread of its own: every second it reads the log's size and latest
/// checkpoint into the metrics, and every `every` it publishes the latest checkpoint (when
/// a checkpoint directory or witnesses are configured).
fn spawn_log_watch(
    store: std::sync::Arc<dyn kura_store::AuditStore>,
    mut publisher: Option<kura_admin::witness::Publisher>,
    every: std::time::Duration,
    metrics: std::sync::Arc<kura_admin::metrics::Metrics>,
) {
    use kura_audit::Clock as _;
    use std::sync::atomic::Ordering::Relaxed;
    let tick = std::time::Duration::from_secs(1).min(every);
    let spawned = std::thread::Builder::new()
        .name("kura-log-watch".into())
        .spawn(move || {
            let mut last_publish: Option<std::time::Instant> = None;
            loop {
                let now = open::SystemClock.now_ms();
                if let Ok(n) = store.audit_size() {
                    metrics.log_entries.store(n, Relaxed);
                }
                if let Ok(Some((size, _))) = store.latest_audit_checkpoint()
                    && metrics.checkpoint_size.swap(size, Relaxed) != size
                {
                    metrics.checkpoint_seen_at_ms.store(now, Relaxed);
                }
                let due = last_publish.is_none_or(|t| t.elapsed() >= every);
                if let Some(p) = publisher.as_mut().filter(|_| due) {
                    last_publish = Some(std::time::Instant::now());
                    match p.round(now) {
                        Ok(round) => {
                            if !round.cosigned.is_empty() {
                                metrics.witnessed_at_ms.store(now, Relaxed);
                            }
                            for (name, why) in &round.failed {
                                tracing::warn!(witness = %name, "checkpoint not witnessed: {why}");
                                kura_admin::metrics::Metrics::inc(&metrics.witness_failures);
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "publishing the checkpoint failed"),
                    }
                }
                std::thread::sleep(tick);
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the log watch");
    }
}
