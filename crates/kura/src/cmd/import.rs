//! `kura import`: stream an NDJSON file into the vault in batches, with a progress bar.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use kura_vault::{Access, SubjectInput};

use crate::cli::VaultArgs;
use crate::config::resolve;
use crate::open;

const BATCH: usize = 2_000;

pub fn run(args: &VaultArgs, collection: &str, purpose: &str, file: &Path) -> Result<ExitCode> {
    kura_model::validate_purpose(purpose)?;
    let r = resolve(args)?;
    let opened = open::vault(&r)?;
    let vault = opened.vault.clone();
    if vault.schema().collection(collection).is_none() {
        anyhow::bail!("unknown collection `{collection}`");
    }
    let (reader, len): (Box<dyn Read>, Option<u64>) = if file == Path::new("-") {
        (Box::new(std::io::stdin()), None)
    } else {
        let f =
            std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    let bar = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {per_sec} eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let access = Access::operator("operator-cli", purpose);
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let mut line = String::new();
    let mut batch: Vec<(usize, SubjectInput)> = Vec::with_capacity(BATCH);
    let (mut n, mut ok, mut failed) = (0usize, 0usize, 0usize);
    let flush = |batch: &mut Vec<(usize, SubjectInput)>, ok: &mut usize, failed: &mut usize| {
        let (lines, inputs): (Vec<usize>, Vec<SubjectInput>) = batch.drain(..).unzip();
        for (ln, r) in lines
            .into_iter()
            .zip(vault.create_batch(&access, collection, inputs))
        {
            match r {
                Ok(_) => *ok += 1,
                Err(e) => {
                    *failed += 1;
                    eprintln!("line {ln}: {} ({})", e, e.code());
                }
            }
        }
    };
    loop {
        line.clear();
        let read = reader.read_line(&mut line).context("reading the input")?;
        if read == 0 {
            break;
        }
        n += 1;
        bar.inc(read as u64);
        if line.trim().is_empty() {
            continue;
        }
        match kura_server::wire_line(&line) {
            Ok(input) => batch.push((n, input)),
            Err((code, msg)) => {
                failed += 1;
                eprintln!("line {n}: {msg} ({code})");
            }
        }
        if batch.len() >= BATCH {
            flush(&mut batch, &mut ok, &mut failed);
        }
    }
    flush(&mut batch, &mut ok, &mut failed);
    opened.appender.shutdown();
    bar.finish_and_clear();
    println!("imported {ok} subjects; {failed} lines refused");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
