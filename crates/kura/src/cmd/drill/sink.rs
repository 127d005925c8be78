//! The drill's mail sink. By default a real SMTP server on a loopback port, which kura's
//! `[mail]` SMTP transport delivers to exactly as it would to a relay; with `--mail outbox`,
//! the drill plays the MTA that picks up kura's outbox instead: it takes each `.eml` file,
//! counts it the same way, and removes it. The protocol (commands, replies,
//! DATA and dot-unstuffing) is the `mailin` crate's state machine; this module only moves
//! lines between it and blocking sockets, one thread per connection, at most
//! [`MAX_CONNECTIONS`] at once, lines bounded, idle connections closed after a minute. It keeps, per phase of the
//! drill, how many messages each recipient got and in which script they were written, and
//! the full text only of messages to addresses the drill watches (the people who ask for
//! erasure, whose one-time codes it must read). Nothing is written to disk.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, BufWriter, Read as _, Write as _};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use mailin::{Action, Handler, Response, SessionBuilder, response};

/// Connections served at once (kura's transport opens `[mail] smtp_connections`, 16 by
/// default); one more is closed at once and the client retries.
pub const MAX_CONNECTIONS: usize = 64;
/// The longest line read (RFC 5321 allows 1,000 octets; notices stay far below).
const MAX_LINE: u64 = 64 * 1024;

/// What arrived in one phase.
#[derive(Debug, Default, Clone)]
pub struct Phase {
    /// Messages per recipient address (lowercase).
    pub per_recipient: HashMap<String, u32>,
    /// Messages per script of their text: `ja`, `ko`, `latin`.
    pub per_script: BTreeMap<&'static str, u64>,
    /// Messages in all.
    pub messages: u64,
}

#[derive(Default)]
struct State {
    phase: String,
    phases: BTreeMap<String, Phase>,
    watched: HashMap<String, Vec<String>>,
    /// Messages that could not be read (an outbox file gone bad): any makes the checks fail.
    errors: u64,
}

impl State {
    /// Counts one message to `to` in the current phase; keeps its text for watched
    /// recipients.
    fn record(&mut self, to: &[String], raw: &[u8]) {
        let parsed = mail_parser::MessageParser::default().parse(raw);
        let text = parsed
            .as_ref()
            .map(|m| {
                format!(
                    "{}\n{}",
                    m.subject().unwrap_or_default(),
                    m.body_text(0).unwrap_or_default()
                )
            })
            .unwrap_or_default();
        let kind = script(&text);
        let phase = self.phases.entry(self.phase.clone()).or_default();
        phase.messages += 1;
        *phase.per_script.entry(kind).or_default() += 1;
        for t in to {
            *phase.per_recipient.entry(t.clone()).or_default() += 1;
            if let Some(w) = self.watched.get_mut(t) {
                w.push(text.clone());
            }
        }
    }
}

/// A handle on the running sink.
#[derive(Clone)]
pub struct Sink {
    state: Arc<Mutex<State>>,
    /// The port the SMTP sink listens on (127.0.0.1); 0 for an outbox.
    pub port: u16,
    /// The outbox directory the drill drains, for `--mail outbox`.
    outbox: Option<std::path::PathBuf>,
}

#[derive(Clone)]
struct Conn {
    state: Arc<Mutex<State>>,
    to: Vec<String>,
    buf: Vec<u8>,
}

/// The script a message is written in: kana → `ja`, Hangul → `ko`, otherwise `latin`.
fn script(text: &str) -> &'static str {
    if text.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)) {
        "ja"
    } else if text.chars().any(|c| ('\u{ac00}'..='\u{d7af}').contains(&c)) {
        "ko"
    } else {
        "latin"
    }
}

impl Handler for Conn {
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.iter().map(|t| t.to_lowercase()).collect();
        self.buf.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        // Bounded: a notice is a few kilobytes; anything past 1 MiB is not kept.
        if self.buf.len() < 1 << 20 {
            self.buf.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let Ok(mut st) = self.state.lock() else {
            return response::INTERNAL_ERROR;
        };
        st.record(&self.to, &self.buf);
        self.buf.clear();
        response::OK
    }
}

/// One SMTP session on `stream` until QUIT, an error or a minute of silence.
fn session(stream: TcpStream, handler: Conn) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;
    let remote = stream.peer_addr()?.ip();
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = BufWriter::new(stream);
    let mut session = SessionBuilder::new("sink.kura-drill.invalid").build(remote, handler);
    session.greeting().write_to(&mut writer)?;
    writer.flush()?;
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        if (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let res = session.process(&line);
        match res.action {
            Action::NoReply => {}
            Action::Reply => {
                res.write_to(&mut writer)?;
                writer.flush()?;
            }
            // STARTTLS is never offered; anything else that closes ends the session.
            Action::Close | Action::UpgradeTls => {
                res.write_to(&mut writer)?;
                writer.flush()?;
                return Ok(());
            }
        }
    }
}

impl Sink {
    /// Starts the sink on 127.0.0.1 at a free port, serving on background threads until the
    /// process ends.
    pub fn start() -> Result<Sink> {
        let listener = TcpListener::bind((IpAddr::from([127, 0, 0, 1]), 0))
            .context("binding the drill's SMTP sink")?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(Mutex::new(State {
            phase: "setup".into(),
            ..State::default()
        }));
        let shared = state.clone();
        let open = Arc::new(AtomicUsize::new(0));
        std::thread::Builder::new()
            .name("drill-smtp-sink".into())
            .spawn(move || {
                for stream in listener.incoming().map_while(Result::ok) {
                    if open.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                        open.fetch_sub(1, Ordering::AcqRel);
                        drop(stream);
                        continue;
                    }
                    let handler = Conn {
                        state: shared.clone(),
                        to: Vec::new(),
                        buf: Vec::new(),
                    };
                    let done = open.clone();
                    let spawned =
                        std::thread::Builder::new()
                            .name("drill-smtp".into())
                            .spawn(move || {
                                if let Err(e) = session(stream, handler) {
                                    tracing::debug!(
                                        "an SMTP session of the drill's sink ended: {e}"
                                    );
                                }
                                done.fetch_sub(1, Ordering::AcqRel);
                            });
                    if spawned.is_err() {
                        open.fetch_sub(1, Ordering::AcqRel);
                        tracing::warn!("the drill's SMTP sink could not start a session thread");
                    }
                }
            })
            .context("starting the SMTP sink")?;
        Ok(Sink {
            state,
            port,
            outbox: None,
        })
    }

    /// A sink that drains kura's outbox directory `dir` (created here).
    pub fn outbox(dir: &std::path::Path) -> Result<Sink> {
        std::fs::create_dir_all(dir)?;
        Ok(Sink {
            state: Arc::new(Mutex::new(State {
                phase: "setup".into(),
                ..State::default()
            })),
            port: 0,
            outbox: Some(dir.to_path_buf()),
        })
    }

    /// The outbox directory, for `--mail outbox`.
    pub fn outbox_dir(&self) -> Option<&std::path::Path> {
        self.outbox.as_deref()
    }

    /// With an outbox: takes every finished message file (`.eml`) from it, counts it in the
    /// current phase by its `To:` header and removes it. Files still being written (kura
    /// writes a temporary name and renames) are left for the next sweep.
    fn sweep(&self) {
        let Some(dir) = &self.outbox else { return };
        let Ok(entries) = std::fs::read_dir(dir) else {
            if let Ok(mut st) = self.state.lock() {
                st.errors += 1;
            }
            return;
        };
        for e in entries.map_while(Result::ok) {
            let path = e.path();
            if path.extension().and_then(|x| x.to_str()) != Some("eml") {
                continue;
            }
            let Ok(raw) = std::fs::read(&path) else {
                continue;
            };
            let to: Vec<String> = mail_parser::MessageParser::default()
                .parse_headers(&raw)
                .and_then(|m| {
                    m.to().map(|a| {
                        a.iter()
                            .filter_map(|x| x.address())
                            .map(str::to_lowercase)
                            .collect()
                    })
                })
                .unwrap_or_default();
            let Ok(mut st) = self.state.lock() else {
                return;
            };
            if to.is_empty() || std::fs::remove_file(&path).is_err() {
                st.errors += 1;
                continue;
            }
            st.record(&to, &raw);
        }
    }

    /// Messages that could not be read or taken: any is a failure of the drill.
    pub fn errors(&self) -> u64 {
        self.sweep();
        self.state.lock().map_or(1, |s| s.errors)
    }

    /// Messages from now on are counted under `name` (an outbox is drained into the
    /// phase that ends first).
    pub fn phase(&self, name: &str) {
        self.sweep();
        if let Ok(mut s) = self.state.lock() {
            s.phase = name.to_owned();
        }
    }

    /// Keep the text of messages to `address` from now on.
    pub fn watch(&self, address: &str) {
        if let Ok(mut s) = self.state.lock() {
            s.watched.entry(address.to_lowercase()).or_default();
        }
    }

    /// The texts received for a watched address.
    pub fn texts(&self, address: &str) -> Vec<String> {
        self.sweep();
        self.state
            .lock()
            .ok()
            .and_then(|s| s.watched.get(&address.to_lowercase()).cloned())
            .unwrap_or_default()
    }

    /// What arrived in a phase so far.
    pub fn counts(&self, name: &str) -> Phase {
        self.sweep();
        self.state
            .lock()
            .ok()
            .and_then(|s| s.phases.get(name).cloned())
            .unwrap_or_default()
    }
}
