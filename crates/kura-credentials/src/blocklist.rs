//! The breached-password blocklist: a binary fuse filter (xorf's
//! `BinaryFuse16`) over 64-bit keys, its file format, and the builder.
//!
//! **Key.** The first 8 bytes (big-endian) of SHA-1 over the UTF-8 of the
//! NFKC-normalized password. SHA-1 is used only because the Pwned Passwords
//! corpus is published as SHA-1 hashes, so a filter can be built from that
//! list without the plaintexts; it plays no security role here (the filter is
//! public data). 64 bits keep accidental key collisions negligible (about
//! 5·10⁻¹¹ per lookup against a billion keys).
//!
//! **False positives.** A 16-bit fingerprint gives a false-positive rate of
//! about 2⁻¹⁶ ≈ 0.0015 %: one good password in ~65 000 is refused as
//! "breached". There are no false negatives. Size ≈ 2.25 bytes per key
//! (≈ 2 GB for the ~930 million hashes of the full Pwned Passwords corpus).
//!
//! **Sharding.** Keys are sorted and split by their top bits into shards of at
//! most 2²² keys, each its own filter, so building needs memory for the key
//! vector (8 bytes per distinct key) plus one shard's construction scratch
//! (~100 MB), never a scratch area proportional to the whole corpus.
//!
//! **File format** (all integers little-endian), version 1:
//! ```text
//! magic "KURABF16" | u16 version=1 | u8 key_kind=1 (sha1-64 of NFKC) | u8 shard_bits
//! u64 distinct_keys
//! per shard (2^shard_bits of them):
//!   u8 present (0/1); if 1: u64 seed, u32 segment_length, u32 segment_length_mask,
//!   u32 segment_count_length, u32 fingerprint_count, fingerprint_count × u16
//! 32 bytes SHA-256 of everything above
//! ```
//! Loading checks the checksum and every descriptor so that a corrupted file
//! is refused instead of causing an out-of-bounds lookup.
//!
//! What it leaves out: downloading the corpus (operators do it with the
//! official downloader, see `docs/passwords.md`), gzip input, and files: the
//! filter is built from a stream and encoded to and decoded from bytes here;
//! reading and writing filter files is `kura_admin::passwords`'s.

use std::io::BufRead;
use std::sync::OnceLock;

use serde::Serialize;
use sha1::{Digest, Sha1};
use sha2::Sha256;
use unicode_normalization::UnicodeNormalization;
use xorf::{BinaryFuse16, Filter as _};
use zeroize::Zeroizing;

use crate::error::{CredentialError, Result};
use crate::secret::Password;

const MAGIC: &[u8; 8] = b"KURABF16";
const FORMAT_VERSION: u16 = 1;
const KEY_KIND_SHA1_64_NFKC: u8 = 1;
/// Maximum keys per shard (construction scratch stays around 100 MB).
const SHARD_TARGET: usize = 1 << 22;
/// Refuse more shards than this when loading (2^16 shards ≈ 275 billion keys).
const MAX_SHARD_BITS: u8 = 16;

/// The default filter shipped in the crate: the 30 000 common passwords of
/// the `zxcvbn` 4.4.2 npm package (MIT). See `data/SOURCE.md`.
static DEFAULT_FILTER_BYTES: &[u8] = include_bytes!("../data/default-blocklist.kbf");

/// The input format of a blocklist source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum InputFormat {
    /// One password per line (UTF-8; `\n` or `\r\n`; empty lines and lines
    /// that are not UTF-8 are skipped). Each is NFKC-normalized, then hashed.
    Plain,
    /// The Pwned Passwords SHA-1 list: `HEX40:count` per line, as written by
    /// the official downloader (`haveibeenpwned-downloader`, SHA-1 mode).
    /// The hashes are of the raw passwords, which are mostly ASCII and thus
    /// already NFKC-normal.
    PwnedSha1,
    /// Decide from the first non-empty line: `PwnedSha1` if it has the form
    /// `HEX40:digits`, otherwise `Plain`.
    Auto,
}

/// Options for building a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildOptions {
    /// The input format.
    pub format: InputFormat,
    /// For `PwnedSha1`: keep only hashes seen at least this often (1 keeps
    /// all). A higher threshold makes a much smaller filter.
    pub min_count: u64,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            format: InputFormat::Auto,
            min_count: 1,
        }
    }
}

/// What a build read and produced; printed by `kura passwords build-filter`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuildStats {
    /// Input format actually used.
    pub format: InputFormat,
    /// Lines read.
    pub lines: u64,
    /// Lines skipped (empty, not UTF-8, below `min_count`).
    pub skipped: u64,
    /// Distinct keys in the filter.
    pub keys: u64,
    /// Number of shards.
    pub shards: u64,
    /// Size of the serialized filter in bytes.
    pub bytes: u64,
    /// Bits per key of the serialized filter.
    pub bits_per_key: f64,
    /// Expected false-positive rate (2⁻¹⁶).
    pub false_positive_rate: f64,
}

impl BuildStats {
    /// Fills [`Self::bytes`] and [`Self::bits_per_key`] from the length of the
    /// encoded filter ([`BreachFilter::to_bytes`]); both are 0 until then.
    pub fn record_encoded_len(&mut self, len: usize) {
        self.bytes = len as u64;
        self.bits_per_key = if self.keys == 0 {
            0.0
        } else {
            (len as f64 * 8.0) / self.keys as f64
        };
    }
}

/// The expected false-positive rate of a `BinaryFuse16` filter.
pub const FALSE_POSITIVE_RATE: f64 = 1.0 / 65536.0;

/// A breached-password filter: "is this password on the list?" with no false
/// negatives and a false-positive rate of about 2⁻¹⁶.
///
/// The filter holds 16-bit fingerprints of SHA-1 prefixes, not passwords;
/// it is public data and needs no protection.
#[derive(Debug, Clone)]
pub struct BreachFilter {
    shard_bits: u8,
    keys: u64,
    shards: Vec<Option<BinaryFuse16>>,
}

/// The filter key of an already NFKC-normalized password.
#[must_use]
pub fn key_of_normalized(normalized: &str) -> u64 {
    let digest = Sha1::digest(normalized.as_bytes());
    let mut k = [0u8; 8];
    k.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(k)
}

impl BreachFilter {
    /// A filter that contains nothing.
    #[must_use]
    pub fn empty() -> Self {
        Self {
            shard_bits: 0,
            keys: 0,
            shards: vec![None],
        }
    }

    /// The filter shipped in the crate (30 000 common passwords from zxcvbn
    /// 4.4.2, MIT licence), parsed once and cached.
    ///
    /// # Errors
    /// `blocklist_filter_invalid` if the embedded file is corrupt, which a
    /// unit test rules out for every build.
    pub fn embedded_default() -> Result<&'static Self> {
        static CACHE: OnceLock<std::result::Result<BreachFilter, String>> = OnceLock::new();
        CACHE
            .get_or_init(|| Self::from_bytes(DEFAULT_FILTER_BYTES).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|reason| CredentialError::FilterInvalid {
                reason: reason.clone(),
            })
    }

    /// Builds a filter from plaintext passwords (normalized here).
    ///
    /// # Errors
    /// `blocklist_build_failed` if construction fails.
    pub fn from_passwords<'a>(passwords: impl IntoIterator<Item = &'a str>) -> Result<Self> {
        let keys: Vec<u64> = passwords
            .into_iter()
            .map(|p| {
                let n: Zeroizing<String> = Zeroizing::new(p.nfkc().collect());
                key_of_normalized(&n)
            })
            .collect();
        Self::from_keys(keys)
    }

    /// Builds a filter from 64-bit keys (duplicates allowed).
    ///
    /// # Errors
    /// `blocklist_build_failed` if construction fails.
    pub fn from_keys(mut keys: Vec<u64>) -> Result<Self> {
        keys.sort_unstable();
        keys.dedup();
        let n = keys.len();
        let mut shard_bits = 0u8;
        while (n >> shard_bits) > SHARD_TARGET && shard_bits < MAX_SHARD_BITS {
            shard_bits += 1;
        }
        let shard_count = 1usize << shard_bits;
        let mut shards = Vec::with_capacity(shard_count);
        let mut start = 0usize;
        for shard in 0..shard_count {
            let end = if shard + 1 == shard_count {
                n
            } else {
                let next = (shard as u64 + 1) << (64 - u32::from(shard_bits));
                start + keys[start..].partition_point(|&k| k < next)
            };
            let slice = &keys[start..end];
            shards.push(if slice.is_empty() {
                None
            } else {
                Some(
                    BinaryFuse16::try_from(slice)
                        .map_err(|reason| CredentialError::FilterBuild { reason })?,
                )
            });
            start = end;
        }
        Ok(Self {
            shard_bits,
            keys: n as u64,
            shards,
        })
    }

    /// Number of distinct keys the filter was built from.
    #[must_use]
    pub fn key_count(&self) -> u64 {
        self.keys
    }

    /// Whether the password (normalized here) is on the list.
    #[must_use]
    pub fn contains(&self, password: &Password) -> bool {
        self.contains_normalized(&password.normalized())
    }

    /// Whether an already NFKC-normalized password is on the list.
    #[must_use]
    pub fn contains_normalized(&self, normalized: &str) -> bool {
        self.contains_key(key_of_normalized(normalized))
    }

    /// Whether a raw key is in the filter.
    #[must_use]
    pub fn contains_key(&self, key: u64) -> bool {
        let idx = if self.shard_bits == 0 {
            0
        } else {
            (key >> (64 - u32::from(self.shard_bits))) as usize
        };
        match self.shards.get(idx) {
            Some(Some(f)) => f.contains(&key),
            _ => false,
        }
    }

    /// Serializes the filter (format version 1, see the module docs).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let fp_total: usize = self
            .shards
            .iter()
            .flatten()
            .map(|f| f.fingerprints.len())
            .sum();
        let mut out = Vec::with_capacity(20 + self.shards.len() * 25 + fp_total * 2 + 32);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.push(KEY_KIND_SHA1_64_NFKC);
        out.push(self.shard_bits);
        out.extend_from_slice(&self.keys.to_le_bytes());
        for shard in &self.shards {
            match shard {
                None => out.push(0),
                Some(f) => {
                    out.push(1);
                    let d = &f.descriptor;
                    out.extend_from_slice(&d.seed.to_le_bytes());
                    out.extend_from_slice(&d.segment_length.to_le_bytes());
                    out.extend_from_slice(&d.segment_length_mask.to_le_bytes());
                    out.extend_from_slice(&d.segment_count_length.to_le_bytes());
                    // Fingerprint arrays are far below 2^32 entries per shard.
                    out.extend_from_slice(&(f.fingerprints.len() as u32).to_le_bytes());
                    for fp in f.fingerprints.iter() {
                        out.extend_from_slice(&fp.to_le_bytes());
                    }
                }
            }
        }
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    /// Parses and validates a serialized filter.
    ///
    /// # Errors
    /// `blocklist_filter_invalid` on a bad magic, version, key kind, checksum,
    /// truncation, trailing bytes or an inconsistent descriptor.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let invalid = |reason: &str| CredentialError::FilterInvalid {
            reason: reason.to_owned(),
        };
        if bytes.len() < 20 + 32 {
            return Err(invalid("file too short"));
        }
        if &bytes[..8] != MAGIC {
            return Err(invalid("not a kura breached-password filter (bad magic)"));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(body).as_slice() != sum {
            return Err(invalid("checksum mismatch (file corrupt or truncated)"));
        }
        let mut r = Reader { buf: body, pos: 8 };
        let version = u16::from_le_bytes(r.take::<2>()?);
        if version != FORMAT_VERSION {
            return Err(CredentialError::FilterInvalid {
                reason: format!("unsupported format version {version}"),
            });
        }
        if r.take::<1>()?[0] != KEY_KIND_SHA1_64_NFKC {
            return Err(invalid("unsupported key kind"));
        }
        let shard_bits = r.take::<1>()?[0];
        if shard_bits > MAX_SHARD_BITS {
            return Err(invalid("too many shards"));
        }
        let keys = u64::from_le_bytes(r.take::<8>()?);
        let mut shards = Vec::with_capacity(1 << shard_bits);
        for _ in 0..(1usize << shard_bits) {
            match r.take::<1>()?[0] {
                0 => shards.push(None),
                1 => {
                    let seed = u64::from_le_bytes(r.take::<8>()?);
                    let segment_length = u32::from_le_bytes(r.take::<4>()?);
                    let segment_length_mask = u32::from_le_bytes(r.take::<4>()?);
                    let segment_count_length = u32::from_le_bytes(r.take::<4>()?);
                    let count = u32::from_le_bytes(r.take::<4>()?) as usize;
                    // Every index hash_of_hash can produce must be in bounds:
                    // h0 < scl, h1 < scl + sl, h2 < scl + 2 sl (sl a power of
                    // two, scl a multiple of sl), all within u32.
                    let needed = u64::from(segment_count_length) + 2 * u64::from(segment_length);
                    if !segment_length.is_power_of_two()
                        || segment_length_mask != segment_length - 1
                        || segment_count_length == 0
                        || segment_count_length % segment_length != 0
                        || needed > u64::from(u32::MAX)
                        || (count as u64) < needed
                    {
                        return Err(invalid("inconsistent shard descriptor"));
                    }
                    let raw = r.slice(count * 2)?;
                    let fingerprints: Box<[u16]> = raw
                        .chunks_exact(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]]))
                        .collect();
                    shards.push(Some(BinaryFuse16 {
                        descriptor: xorf::Descriptor {
                            seed,
                            segment_length,
                            segment_length_mask,
                            segment_count_length,
                        },
                        fingerprints,
                    }));
                }
                _ => return Err(invalid("bad shard marker")),
            }
        }
        if r.pos != body.len() {
            return Err(invalid("trailing bytes"));
        }
        Ok(Self {
            shard_bits,
            keys,
            shards,
        })
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn slice(&mut self, n: usize) -> Result<&[u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| CredentialError::FilterInvalid {
                reason: "truncated".to_owned(),
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.slice(N)?);
        Ok(a)
    }
}

/// Parses `HEX40:count` (count optional); returns the key and the count.
fn parse_pwned_line(line: &str) -> Option<(u64, u64)> {
    let (hash, count) = match line.split_once(':') {
        Some((h, c)) => (h, c.trim().parse::<u64>().ok()?),
        None => (line, 1),
    };
    if hash.len() != 40 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let key = u64::from_str_radix(&hash[..16], 16).ok()?;
    Some((key, count))
}

/// Builds a filter from a stream, reading it once, line by line, with one
/// reused line buffer: memory is the key vector (8 bytes per key) plus one
/// shard's construction scratch.
///
/// # Errors
/// `blocklist_input_invalid` for a malformed `PwnedSha1` line (its content is
/// not echoed); `io_error` on read errors; `blocklist_build_failed`.
pub fn build_filter(input: impl BufRead, options: BuildOptions) -> Result<BreachFilter> {
    build_filter_with_stats(input, options).map(|(f, _)| f)
}

/// As [`build_filter`], also returning counts (the size fields are filled in
/// by [`BuildStats::record_encoded_len`] once the filter is encoded).
///
/// # Errors
/// As [`build_filter`].
pub fn build_filter_with_stats(
    mut input: impl BufRead,
    options: BuildOptions,
) -> Result<(BreachFilter, BuildStats)> {
    let mut format = options.format;
    let mut keys: Vec<u64> = Vec::new();
    let mut buf: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::with_capacity(256));
    let mut lines = 0u64;
    let mut skipped = 0u64;
    loop {
        buf.clear();
        let n = input
            .read_until(b'\n', &mut buf)
            .map_err(CredentialError::io("reading blocklist input"))?;
        if n == 0 {
            break;
        }
        lines += 1;
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        if buf.is_empty() {
            skipped += 1;
            continue;
        }
        let Ok(line) = std::str::from_utf8(&buf) else {
            skipped += 1;
            continue;
        };
        if format == InputFormat::Auto {
            format = if parse_pwned_line(line).is_some() && line.contains(':') {
                InputFormat::PwnedSha1
            } else {
                InputFormat::Plain
            };
        }
        match format {
            InputFormat::PwnedSha1 => {
                let (key, count) = parse_pwned_line(line).ok_or(CredentialError::FilterInput {
                    line: lines,
                    reason: "expected 40 hex digits of SHA-1, optionally ':count'",
                })?;
                if count >= options.min_count {
                    keys.push(key);
                } else {
                    skipped += 1;
                }
            }
            _ => {
                let n: Zeroizing<String> = Zeroizing::new(line.nfkc().collect());
                keys.push(key_of_normalized(&n));
            }
        }
    }
    if format == InputFormat::Auto {
        format = InputFormat::Plain;
    }
    let filter = BreachFilter::from_keys(keys)?;
    let stats = BuildStats {
        format,
        lines,
        skipped,
        keys: filter.key_count(),
        shards: filter.shards.len() as u64,
        bytes: 0,
        bits_per_key: 0.0,
        false_positive_rate: FALSE_POSITIVE_RATE,
    };
    Ok((filter, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha1_hex(s: &str) -> String {
        hex::encode_upper(Sha1::digest(s.as_bytes()))
    }

    #[test]
    fn plain_and_pwned_formats_agree() {
        let words = [
            "123456",
            "password",
            "qwerty",
            "correct horse",
            "パスワード",
        ];
        let plain = words.join("\n") + "\n";
        let a = build_filter(plain.as_bytes(), BuildOptions::default()).expect("plain");
        let pwned: String = words
            .iter()
            .map(|w| format!("{}:{}\r\n", sha1_hex(w), 10))
            .collect();
        let b = build_filter(pwned.as_bytes(), BuildOptions::default()).expect("pwned");
        for w in words {
            assert!(a.contains(&Password::from(w)), "{w}");
            assert!(b.contains(&Password::from(w)), "{w}");
        }
        assert!(!a.contains(&Password::from("not on any list 8472")));
        assert_eq!(a.key_count(), 5);
        assert_eq!(b.key_count(), 5);
    }

    #[test]
    fn min_count_and_bad_lines() {
        let input = format!("{}:1\n{}:50\n", sha1_hex("rare"), sha1_hex("common"));
        let opts = BuildOptions {
            format: InputFormat::PwnedSha1,
            min_count: 10,
        };
        let f = build_filter(input.as_bytes(), opts).expect("build");
        assert!(f.contains(&Password::from("common")));
        assert!(!f.contains(&Password::from("rare")));
        let bad = format!("{}:1\nnot-a-hash:3\n", sha1_hex("x"));
        let err = build_filter(bad.as_bytes(), opts).expect_err("bad line");
        assert_eq!(err.code(), "blocklist_input_invalid");
        assert!(err.to_string().contains("line 2") && !err.to_string().contains("not-a-hash"));
    }

    #[test]
    fn roundtrip_and_corruption() {
        let f = BreachFilter::from_passwords(["alpha", "beta", "gamma"]).expect("build");
        let bytes = f.to_bytes();
        let g = BreachFilter::from_bytes(&bytes).expect("parse");
        assert!(g.contains(&Password::from("beta")));
        for i in [0usize, 9, 12, 30, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            assert!(BreachFilter::from_bytes(&bad).is_err(), "flip at {i}");
        }
        assert!(BreachFilter::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        let e = BreachFilter::empty();
        let e2 = BreachFilter::from_bytes(&e.to_bytes()).expect("empty");
        assert!(!e2.contains(&Password::from("anything")));
    }

    #[test]
    fn sharded_build_has_no_false_negatives_and_low_fp() {
        // 5M random keys force two shards; check all members and the FP rate.
        let mut keys = vec![0u64; SHARD_TARGET + 800_000];
        let mut bytes = vec![0u8; keys.len() * 8];
        crate::rng::random_bytes(&mut bytes).expect("rng");
        for (k, c) in keys.iter_mut().zip(bytes.chunks_exact(8)) {
            *k = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        }
        let f = BreachFilter::from_keys(keys.clone()).expect("build");
        assert_eq!(f.shards.len(), 2);
        assert!(keys.iter().step_by(7).all(|k| f.contains_key(*k)));
        let g = BreachFilter::from_bytes(&f.to_bytes()).expect("roundtrip");
        assert!(keys.iter().step_by(101).all(|k| g.contains_key(*k)));
        let mut probe = vec![0u8; 8 * 1_000_000];
        crate::rng::random_bytes(&mut probe).expect("rng");
        let fps = probe
            .chunks_exact(8)
            .filter(|c| g.contains_key(u64::from_le_bytes((*c).try_into().expect("8"))))
            .count();
        // Expected ~15 of 1M; allow generous slack.
        assert!(fps < 60, "false positives {fps}");
    }

    #[test]
    fn embedded_default_filter() {
        let f = BreachFilter::embedded_default().expect("embedded filter parses");
        assert_eq!(f.key_count(), 30_000);
        for pw in [
            "password",
            "123456789",
            "qwertyuiop",
            "trustno1",
            "iloveyou",
        ] {
            assert!(f.contains(&Password::from(pw)), "{pw}");
        }
        assert!(!f.contains(&Password::from("kura storehouse vault 2026")));
    }

    #[test]
    fn stats_count_lines_and_record_the_encoded_size() {
        let input = "hunter2\nletmein\n\nletmein\n";
        let (f, mut stats) =
            build_filter_with_stats(input.as_bytes(), BuildOptions::default()).expect("build");
        assert_eq!((stats.lines, stats.skipped, stats.keys), (4, 1, 2));
        assert_eq!(stats.format, InputFormat::Plain);
        assert_eq!((stats.bytes, stats.bits_per_key), (0, 0.0));
        let bytes = f.to_bytes();
        stats.record_encoded_len(bytes.len());
        assert_eq!(stats.bytes, bytes.len() as u64);
        assert!((stats.bits_per_key - bytes.len() as f64 * 4.0).abs() < 1e-9);
        let g = BreachFilter::from_bytes(&bytes).expect("decode");
        assert!(g.contains(&Password::from("letmein")));
    }
}
