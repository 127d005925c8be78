//! Throughput and latency measurements for `kura bench`: build a log of `N`
//! synthetic entries in memory, then time appends, proof generation at that
//! size and a full offline verification.
//!
//! This module reads the monotonic clock (that is its job); nothing else in
//! the crate does. It allocates the whole stored-hash table in memory, about
//! `64·N` bytes (640 MB at 10 million entries).

use std::time::Instant;

use kura_tlog::Checkpoint;
use kura_tlog::Frontier;
use kura_tlog::NoteSigner;
use kura_tlog::{Hash, hash_leaf};
use kura_tlog::{TlogError, verify_consistency, verify_inclusion};
use kura_tlog::{prove_consistency, prove_inclusion, stored_hash_count, tree_hash};
use kura_tlog::{verify_log, verify_log_with_store};

/// Size in bytes of each synthetic entry (about a canonical access event).
pub const BENCH_ENTRY_BYTES: usize = 160;

/// Entries per group commit in the append measurement.
pub const BENCH_BATCH: usize = 1000;

/// Results of [`bench_tlog`]. Times in seconds or microseconds as named.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchReport {
    /// Entries in the log.
    pub entries: u64,
    /// Bytes per entry.
    pub entry_bytes: usize,
    /// Entries per append batch.
    pub batch: usize,
    /// Wall time to hash and append all entries, storing every hash in memory
    /// and signing a checkpoint every `checkpoint_every` entries.
    pub append_seconds: f64,
    /// Entries appended per second.
    pub appends_per_second: f64,
    /// Stored hashes written.
    pub stored_hashes: u64,
    /// Checkpoint interval in entries.
    pub checkpoint_every: u64,
    /// Checkpoints signed.
    pub checkpoints: usize,
    /// Proofs of each kind generated (and verified) for the averages.
    pub proof_samples: usize,
    /// Mean time to generate one inclusion proof at full size.
    pub inclusion_proof_micros: f64,
    /// Mean time to generate one consistency proof to full size.
    pub consistency_proof_micros: f64,
    /// Mean time to compute the tree head at full size from stored hashes.
    pub tree_hash_micros: f64,
    /// Wall time for a full verification: regenerate every entry, recompute
    /// the tree, check every checkpoint's signature and root.
    pub verify_seconds: f64,
    /// Entries verified per second.
    pub verify_entries_per_second: f64,
    /// Wall time for the same verification also against the stored hashes
    /// ([`kura_tlog::verify_log_with_store`]: per-entry leaf hash comparison,
    /// stored roots and consistency proofs between checkpoints).
    pub verify_with_store_seconds: f64,
}

/// The synthetic entry `i`: its index, then a fixed pattern.
fn bench_entry(i: u64, buf: &mut [u8; BENCH_ENTRY_BYTES]) {
    buf[..8].copy_from_slice(&i.to_be_bytes());
    for (j, b) in buf[8..].iter_mut().enumerate() {
        // Truncation is the intent: a repeating byte pattern.
        #[allow(clippy::cast_possible_truncation)]
        {
            *b = (j as u8) ^ (i as u8);
        }
    }
}

/// A small deterministic generator (`SplitMix64`) for sample positions.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[allow(clippy::cast_precision_loss)]
fn per_second(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

/// Builds a log of `entries` entries with an in-memory [`kura_tlog::HashReader`]
/// and measures appends, proof generation (`proof_samples` of each kind at
/// random positions, each verified after timing) and full verification.
///
/// # Errors
/// [`TlogError`] if any proof fails to verify or verification fails, which
/// would be a bug; or [`TlogError::TreeTooLarge`].
#[allow(clippy::cast_precision_loss)]
pub fn bench_tlog(entries: u64, proof_samples: usize) -> Result<BenchReport, TlogError> {
    const ORIGIN: &str = "bench.kura.invalid/audit";
    let signer = NoteSigner::from_seed(ORIGIN, &[0x42; 32])?;
    let checkpoint_every = (entries / 10).max(BENCH_BATCH as u64);

    let capacity = usize::try_from(stored_hash_count(entries)).unwrap_or(0);
    let mut store: Vec<Hash> = Vec::with_capacity(capacity);
    let mut frontier = Frontier::new();
    let mut signed = Vec::new();
    let mut buf = [0u8; BENCH_ENTRY_BYTES];
    let mut batch: Vec<[u8; BENCH_ENTRY_BYTES]> = Vec::with_capacity(BENCH_BATCH);

    let start = Instant::now();
    let mut i = 0u64;
    while i < entries {
        batch.clear();
        while batch.len() < BENCH_BATCH && i < entries {
            bench_entry(i, &mut buf);
            batch.push(buf);
            i += 1;
        }
        let before = frontier.size();
        store.extend(frontier.append_entries(&batch)?);
        let after = frontier.size();
        if after / checkpoint_every != before / checkpoint_every || after == entries {
            let c = Checkpoint::new(ORIGIN, after, frontier.root())?;
            signed.push(c.sign(&signer)?);
        }
    }
    let append_seconds = start.elapsed().as_secs_f64();

    let mut rng = 0x6b75_7261_u64;
    let samples = if entries == 0 { 0 } else { proof_samples };
    let root = frontier.root();

    let t = Instant::now();
    for _ in 0..samples {
        let _ = tree_hash(entries, &store)?;
    }
    let tree_hash_micros = micros(t, samples);

    // Warm up caches and the allocator so the first timed proofs do not pay
    // one-off costs (they otherwise triple the first batch's mean).
    for _ in 0..samples.min(200) {
        let idx = splitmix(&mut rng) % entries.max(1);
        let _ = prove_inclusion(idx, entries, &store)?;
        let _ = prove_consistency(1 + idx, entries, &store)?;
    }

    let picks: Vec<u64> = (0..samples)
        .map(|_| splitmix(&mut rng) % entries.max(1))
        .collect();
    let mut proofs = Vec::with_capacity(samples);
    let t = Instant::now();
    for &idx in &picks {
        proofs.push(prove_inclusion(idx, entries, &store)?);
    }
    let inclusion_proof_micros = micros(t, samples);
    for (&idx, p) in picks.iter().zip(&proofs) {
        bench_entry(idx, &mut buf);
        verify_inclusion(&hash_leaf(&buf), idx, entries, p, &root)?;
    }

    let olds: Vec<u64> = (0..samples)
        .map(|_| 1 + splitmix(&mut rng) % entries.max(1))
        .collect();
    proofs.clear();
    let t = Instant::now();
    for &m in &olds {
        proofs.push(prove_consistency(m, entries, &store)?);
    }
    let consistency_proof_micros = micros(t, samples);
    for (&m, p) in olds.iter().zip(&proofs) {
        verify_consistency(m, entries, p, &tree_hash(m, &store)?, &root)?;
    }
    let stored_hashes = store.len() as u64;

    let t = Instant::now();
    let stream = (0..entries).map(|i| {
        let mut b = [0u8; BENCH_ENTRY_BYTES];
        bench_entry(i, &mut b);
        b
    });
    let summary = verify_log_with_store(&signer.verifier(), &signed, stream, &store)?;
    let verify_with_store_seconds = t.elapsed().as_secs_f64();
    debug_assert_eq!(summary.root, root);
    drop(store);

    let t = Instant::now();
    let stream = (0..entries).map(|i| {
        let mut b = [0u8; BENCH_ENTRY_BYTES];
        bench_entry(i, &mut b);
        b
    });
    let summary = verify_log(&signer.verifier(), &signed, stream)?;
    let verify_seconds = t.elapsed().as_secs_f64();
    debug_assert_eq!(summary.root, root);

    Ok(BenchReport {
        entries,
        entry_bytes: BENCH_ENTRY_BYTES,
        batch: BENCH_BATCH,
        append_seconds,
        appends_per_second: per_second(entries, append_seconds),
        stored_hashes,
        checkpoint_every,
        checkpoints: signed.len(),
        proof_samples: samples,
        inclusion_proof_micros,
        consistency_proof_micros,
        tree_hash_micros,
        verify_seconds,
        verify_entries_per_second: per_second(entries, verify_seconds),
        verify_with_store_seconds,
    })
}

#[allow(clippy::cast_precision_loss)]
fn micros(start: Instant, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        start.elapsed().as_secs_f64() * 1e6 / n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bench_runs_and_checks_itself() {
        let r = bench_tlog(5000, 20).unwrap();
        assert_eq!(r.entries, 5000);
        assert_eq!(r.checkpoints, 5);
        assert_eq!(r.stored_hashes, stored_hash_count(5000));
        assert!(
            serde_json::to_string(&r)
                .unwrap()
                .contains("appends_per_second")
        );
        let r = bench_tlog(0, 5).unwrap();
        assert_eq!(r.proof_samples, 0);
    }
}
