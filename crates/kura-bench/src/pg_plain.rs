//! The plaintext PostgreSQL side of `kura bench --only pg-reads`: the same people as plain
//! rows, read and searched by as many clients as kura gets, and the least a compliant system
//! must do per request on PostgreSQL — that plaintext read plus one audit row, group-committed
//! in the same database (callers wait until their row is committed, as kura's reads wait for
//! their access events).
//!
//! Every client thread has its own connection (as a pooled service would); statements are
//! prepared once per connection. Rates are wall-clock requests per second over all clients.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use ::postgres::{Client, NoTls, Statement};
use kura_store::StoreError;
use uuid::Uuid;

use crate::postgres::TempDatabase;

/// Column names of the plaintext table, in the order of [`PlainRow::cols`].
pub const COLUMNS: [&str; 8] = [
    "login_id",
    "online_id",
    "name",
    "email",
    "phone",
    "postal_address",
    "birth_date",
    "gender",
];

/// One person as a service without kura would store them.
#[derive(Debug, Clone)]
pub struct PlainRow {
    /// The same id the vault gave the person.
    pub id: Uuid,
    /// Country code.
    pub country: String,
    /// Locale.
    pub locale: String,
    /// The eight fields, in the order of [`COLUMNS`].
    pub cols: [String; 8],
}

/// Rates of the plaintext side.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlainRates {
    /// Rows loaded per second (batched `INSERT … SELECT unnest`).
    pub insert_per_s: f64,
    /// Point reads by id per second.
    pub read_per_s: f64,
    /// Searches by e-mail (indexed) per second.
    pub search_per_s: f64,
    /// Point reads, each followed by a group-committed audit row, per second.
    pub read_logged_per_s: f64,
    /// Searches, each followed by a group-committed audit row, per second.
    pub search_logged_per_s: f64,
    /// Mean audit rows per commit in the logged runs.
    pub log_rows_per_commit: f64,
}

fn connect(url: &str) -> Result<Client, StoreError> {
    Client::connect(url, NoTls)
        .map_err(|e| StoreError::Backend(format!("cannot connect to the bench database: {e}")))
}

fn backend(e: ::postgres::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Runs `f` over `items` on `threads` threads, each with its own connection to `url` and
/// `sql` prepared on it; returns the wall-clock seconds.
fn parallel<T: Sync>(
    url: &str,
    items: &[T],
    threads: usize,
    sql: &str,
    f: impl Fn(&mut Client, &Statement, &T) -> Result<(), StoreError> + Sync,
) -> Result<f64, StoreError> {
    let chunk = items.len().div_ceil(threads.max(1)).max(1);
    // Connect and prepare first, so that setup is not timed.
    let mut clients = Vec::new();
    for _ in items.chunks(chunk) {
        let mut c = connect(url)?;
        let st = c.prepare(sql).map_err(backend)?;
        clients.push((c, st));
    }
    let start = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .zip(clients.iter_mut())
            .map(|(part, (client, st))| {
                let f = &f;
                s.spawn(move || part.iter().try_for_each(|x| f(client, st, x)))
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|_| Err(StoreError::Backend("bench thread panicked".into())))
        })
    })?;
    Ok(start.elapsed().as_secs_f64())
}

/// The plaintext table in the bench's temporary database.
#[derive(Debug)]
pub struct PlainTable {
    url: String,
    insert_per_s: f64,
}

impl PlainTable {
    /// Creates `public.people` (uuid primary key, country, locale, the eight columns, the
    /// four searchable ones indexed) in `db` and loads `rows` in batches of `batch`.
    ///
    /// # Errors
    /// Backend failures.
    pub fn load(
        db: &TempDatabase,
        rows: impl IntoIterator<Item = PlainRow>,
        batch: usize,
    ) -> Result<Self, StoreError> {
        let url = db.url().to_owned();
        let mut c = connect(&url)?;
        c.batch_execute(
            "CREATE TABLE public.people (iid bigserial, id uuid PRIMARY KEY, country text NOT NULL,
               locale text NOT NULL, login_id text, online_id text, name text, email text,
               phone text, postal_address text, birth_date text, gender text);
             CREATE INDEX ON public.people (login_id); CREATE INDEX ON public.people (online_id);
             CREATE INDEX ON public.people (email); CREATE INDEX ON public.people (phone);
             CREATE TABLE public.audit (seq bigserial PRIMARY KEY, leaf bytea NOT NULL);",
        )
        .map_err(backend)?;
        let insert = c
            .prepare(
                "INSERT INTO public.people (id, country, locale, login_id, online_id, name, email,
                   phone, postal_address, birth_date, gender)
                 SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                   $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])",
            )
            .map_err(backend)?;
        let mut n = 0usize;
        let mut secs = 0.0;
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let part: Vec<PlainRow> = rows.by_ref().take(batch.max(1)).collect();
            let ids: Vec<Uuid> = part.iter().map(|r| r.id).collect();
            let country: Vec<&str> = part.iter().map(|r| r.country.as_str()).collect();
            let locale: Vec<&str> = part.iter().map(|r| r.locale.as_str()).collect();
            let cols: Vec<Vec<&str>> = (0..8)
                .map(|k| part.iter().map(|r| r.cols[k].as_str()).collect())
                .collect();
            let t = Instant::now();
            c.execute(
                &insert,
                &[
                    &ids, &country, &locale, &cols[0], &cols[1], &cols[2], &cols[3], &cols[4],
                    &cols[5], &cols[6], &cols[7],
                ],
            )
            .map_err(backend)?;
            secs += t.elapsed().as_secs_f64();
            n += part.len();
        }
        // Both sides are measured with fresh statistics and visibility maps, as tables under
        // autovacuum have them: the whole database, kura's tables included.
        c.batch_execute("VACUUM ANALYZE").map_err(backend)?;
        Ok(PlainTable {
            url,
            insert_per_s: n as f64 / secs.max(1e-9),
        })
    }

    /// Reads `ids` by primary key and searches `emails`, each on `threads` clients, bare and
    /// with one group-committed audit row per request.
    ///
    /// # Errors
    /// Backend failures, or a read or search that finds nothing.
    pub fn rates(
        &self,
        ids: &[Uuid],
        emails: &[String],
        threads: usize,
    ) -> Result<PlainRates, StoreError> {
        const READ: &str = "SELECT iid, id, country, locale, login_id, online_id, name, email, \
             phone, postal_address, birth_date, gender FROM public.people WHERE id = $1";
        const SEARCH: &str = "SELECT iid FROM public.people WHERE email = $1 LIMIT 10";
        let read_once = |c: &mut Client, st: &Statement, id: &Uuid| -> Result<i64, StoreError> {
            let row = c.query_opt(st, &[id]).map_err(backend)?;
            row.map(|r| r.get::<_, i64>(0))
                .ok_or_else(|| StoreError::Corrupt("baseline row missing".into()))
        };
        let search_once =
            |c: &mut Client, st: &Statement, email: &String| -> Result<i64, StoreError> {
                let rows = c.query(st, &[email]).map_err(backend)?;
                rows.first()
                    .map(|r| r.get::<_, i64>(0))
                    .ok_or_else(|| StoreError::Corrupt("baseline search found nothing".into()))
            };
        let read_s = parallel(&self.url, ids, threads, READ, |c, st, id| {
            read_once(c, st, id).map(drop)
        })?;
        let search_s = parallel(&self.url, emails, threads, SEARCH, |c, st, e| {
            search_once(c, st, e).map(drop)
        })?;
        let log = GroupLog::start(&self.url)?;
        let read_logged_s = parallel(&self.url, ids, threads, READ, |c, st, id| {
            let iid = read_once(c, st, id)?;
            log.append(crate::audit_row("read", iid))
        })?;
        let search_logged_s = parallel(&self.url, emails, threads, SEARCH, |c, st, e| {
            let iid = search_once(c, st, e)?;
            log.append(crate::audit_row("search", iid))
        })?;
        let (commits, rows) = log.stop();
        let per = |n: usize, s: f64| n as f64 / s.max(1e-9);
        Ok(PlainRates {
            insert_per_s: self.insert_per_s,
            read_per_s: per(ids.len(), read_s),
            search_per_s: per(emails.len(), search_s),
            read_logged_per_s: per(ids.len(), read_logged_s),
            search_logged_per_s: per(emails.len(), search_logged_s),
            log_rows_per_commit: rows as f64 / commits.max(1) as f64,
        })
    }
}

#[derive(Default)]
struct LogState {
    queue: Vec<Vec<u8>>,
    queued: u64,
    durable: u64,
    commits: u64,
    failed: bool,
    closed: bool,
}

/// The baseline's group commit: callers queue a row and wait until the writer thread has
/// committed it (one `INSERT … SELECT unnest` per commit, everything queued at once).
struct GroupLog {
    state: Arc<(Mutex<LogState>, Condvar, Condvar)>,
    writer: Option<std::thread::JoinHandle<()>>,
}

fn lock(m: &Mutex<LogState>) -> std::sync::MutexGuard<'_, LogState> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl GroupLog {
    fn start(url: &str) -> Result<Self, StoreError> {
        let mut conn = connect(url)?;
        let insert = conn
            .prepare("INSERT INTO public.audit (leaf) SELECT unnest($1::bytea[])")
            .map_err(backend)?;
        let state: Arc<(Mutex<LogState>, Condvar, Condvar)> = Arc::default();
        let st = state.clone();
        let writer = std::thread::spawn(move || {
            let (m, work, done) = &*st;
            loop {
                let (rows, upto) = {
                    let mut g = lock(m);
                    while g.queue.is_empty() && !g.closed {
                        g = work
                            .wait(g)
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                    }
                    if g.queue.is_empty() {
                        return;
                    }
                    (std::mem::take(&mut g.queue), g.queued)
                };
                let ok = conn.execute(&insert, &[&rows]).is_ok();
                let mut g = lock(m);
                if ok {
                    g.durable = upto;
                    g.commits += 1;
                } else {
                    g.failed = true;
                }
                done.notify_all();
                if !ok {
                    return;
                }
            }
        });
        Ok(GroupLog {
            state,
            writer: Some(writer),
        })
    }

    /// Returns once the row is committed.
    fn append(&self, row: Vec<u8>) -> Result<(), StoreError> {
        let (m, work, done) = &*self.state;
        let mut g = lock(m);
        g.queue.push(row);
        g.queued += 1;
        let mine = g.queued;
        work.notify_one();
        while g.durable < mine {
            if g.failed {
                return Err(StoreError::Backend("baseline audit insert failed".into()));
            }
            g = done
                .wait(g)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        Ok(())
    }

    /// Stops the writer; returns (commits, rows).
    fn stop(mut self) -> (u64, u64) {
        let (m, work, _) = &*self.state;
        lock(m).closed = true;
        work.notify_one();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        let g = lock(m);
        (g.commits, g.durable)
    }
}
