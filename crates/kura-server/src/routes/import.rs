//! `POST /v1/collections/{c}/import`: NDJSON, one subject per line, streamed and written in
//! batches. Parsing overlaps with sealing and writing: a blocking worker takes batches from
//! a bounded channel while the next batch is read from the network.
//!
//! # Before a byte of the body is read (issue 13)
//! 1. the caller's `import` grant is decided ([`kura_vault::Vault::decide_import`]); a
//!    refusal is answered 403 and recorded as an access event (`denied:<code>`), and the
//!    connection is closed without reading the body;
//! 2. a declared length over `max_import_bytes` is answered 413;
//! 3. an import slot is taken (`max_concurrent_imports`): none left is 429
//!    `too_many_imports`.
//!
//! # Bounded memory
//! A line longer than `max_import_line_bytes` is refused on its own (`line_too_long`) and
//! skipped up to its newline: no more than the limit of one line is ever buffered.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use futures_util::StreamExt;
use kura_vault::{SubjectInput, VaultError};

use super::{access, blocking, parse_json, subject_input};
use crate::auth::{Principal, Purpose};
use crate::wire::{CreateSubject, ErrorBody, ImportResult, LineError};
use crate::{ApiError, AppState};

/// Subjects per store transaction.
pub const BATCH: usize = 2_000;

/// Blocking workers sealing and writing batches concurrently.
const WORKERS: usize = 2;

enum Line {
    Ok(SubjectInput),
    Refused(LineError),
}

/// Imports subjects from NDJSON.
#[utoipa::path(
    post, path = "/v1/collections/{c}/import",
    params(("c" = String, Path), ("X-Kura-Purpose" = String, Header)),
    request_body(content = String, content_type = "application/x-ndjson",
                 description = "one CreateSubject JSON object per line"),
    responses((status = 200, body = ImportResult), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn import(
    State(state): State<AppState>,
    principal: Principal,
    purpose: Purpose,
    Path(c): Path<String>,
    req: Request,
) -> Result<Json<ImportResult>, ApiError> {
    if state.vault.schema().collection(&c).is_none() {
        return Err(VaultError::Invalid(kura_model::ModelError::UnknownCollection(c)).into());
    }
    let a = access(&principal, &purpose);
    // Permission before a byte of the body is read (issue 13): a key without the grant
    // cannot make the server read up to `max_import_bytes` for nothing.
    {
        let (vault, a, c) = (state.vault.clone(), a.clone(), c.clone());
        blocking(move || vault.decide_import(&a, &c)).await?;
    }
    let limit = state.limits.max_import_bytes;
    let max_line = state.limits.max_import_line_bytes;
    // A declared length over the limit is refused before anything is read or written. (A
    // chunked body without a length is cut at the limit; lines before it stand.)
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::too_large(limit));
    }
    // Held until the answer: at most `max_concurrent_imports` bodies are read at once.
    let _slot = state
        .limits
        .import_slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_imports",
                "this server is serving as many imports as it allows; retry later",
            )
        })?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<(usize, Line)>>(4);
    let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
    // Two workers seal and write batches as they arrive, so that the sealing of one batch
    // overlaps the store write of the other; each returns per-line results.
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let rx = rx.clone();
            let vault = state.vault.clone();
            let collection = c.clone();
            let a = a.clone();
            tokio::task::spawn_blocking(move || {
                let mut out: Vec<(usize, Result<String, LineError>)> = Vec::new();
                loop {
                    let next = rx
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .blocking_recv();
                    let Some(batch) = next else { break };
                    let mut inputs = Vec::new();
                    let mut lines = Vec::new();
                    for (n, line) in batch {
                        match line {
                            Line::Ok(i) => {
                                inputs.push(i);
                                lines.push(n);
                            }
                            Line::Refused(e) => out.push((n, Err(e))),
                        }
                    }
                    let results = vault.create_batch(&a, &collection, inputs);
                    for (n, r) in lines.into_iter().zip(results) {
                        out.push((
                            n,
                            r.map(|id| id.to_string()).map_err(|e| {
                                let api = ApiError::from(e);
                                LineError {
                                    line: n,
                                    code: api.code.to_owned(),
                                    message: api.message,
                                }
                            }),
                        ));
                    }
                }
                out
            })
        })
        .collect();

    let mut stream = req.into_body().into_data_stream();
    // The current line so far; never longer than `max_line`.
    let mut buf: Vec<u8> = Vec::new();
    // Inside a line already refused as too long: its bytes are dropped up to the newline.
    let mut skipping = false;
    let mut batch: Vec<(usize, Line)> = Vec::with_capacity(BATCH);
    let mut line_no = 0usize;
    let mut total = 0usize;
    let mut too_large = false;
    let parse_line = |n: usize, raw: &[u8]| -> Option<(usize, Line)> {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let parsed = parse_json::<CreateSubject>(raw).and_then(subject_input);
        Some((
            n,
            match parsed {
                Ok(i) => Line::Ok(i),
                Err(e) => Line::Refused(LineError {
                    line: n,
                    code: e.code.to_owned(),
                    message: e.message,
                }),
            },
        ))
    };
    let too_long = |n: usize| {
        (
            n,
            Line::Refused(LineError {
                line: n,
                code: "line_too_long".to_owned(),
                message: format!("the line is longer than the limit of {max_line} bytes"),
            }),
        )
    };
    'read: while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("body_read_error", e.to_string()))?;
        total += chunk.len();
        if total > limit {
            too_large = true;
            break;
        }
        let mut rest: &[u8] = &chunk;
        while !rest.is_empty() {
            let Some(pos) = rest.iter().position(|&b| b == b'\n') else {
                // No newline in the rest of the chunk: keep it only while the line fits.
                if !skipping {
                    if buf.len() + rest.len() > max_line {
                        buf.clear();
                        skipping = true;
                    } else {
                        buf.extend_from_slice(rest);
                    }
                }
                break;
            };
            let part = &rest[..pos];
            rest = &rest[pos + 1..];
            line_no += 1;
            let line = if skipping {
                skipping = false;
                Some(too_long(line_no))
            } else if buf.len() + part.len() > max_line {
                buf.clear();
                Some(too_long(line_no))
            } else if buf.is_empty() {
                parse_line(line_no, part)
            } else {
                buf.extend_from_slice(part);
                let l = parse_line(line_no, &buf);
                buf.clear();
                l
            };
            if let Some(l) = line {
                batch.push(l);
            }
            if batch.len() >= BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if tx.send(full).await.is_err() {
                    break 'read;
                }
            }
        }
    }
    if too_large {
        drop(tx);
        for w in workers {
            let _ = w.await;
        }
        return Err(ApiError::too_large(limit));
    }
    if skipping {
        line_no += 1;
        batch.push(too_long(line_no));
    } else if !buf.is_empty() {
        line_no += 1;
        if let Some(l) = parse_line(line_no, &buf) {
            batch.push(l);
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(batch).await;
    }
    drop(tx);
    let mut results = Vec::new();
    for w in workers {
        results.extend(w.await.map_err(|e| ApiError::internal(&e))?);
    }
    results.sort_by_key(|(n, _)| *n);
    let mut ids = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for (_, r) in results {
        match r {
            Ok(id) => ids.push(Some(id)),
            Err(e) => {
                ids.push(None);
                errors.push(e);
            }
        }
    }
    Ok(Json(ImportResult { ids, errors }))
}
