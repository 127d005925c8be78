//! The witness's side of C2SP tlog-witness (<https://c2sp.org/tlog-witness>): the
//! `add-checkpoint` request body and the decision whether to cosign it.
//!
//! A witness keeps, per log, the latest checkpoint it cosigned. It cosigns a new checkpoint
//! only if the log signed it and it is consistent with that latest one (a consistency proof
//! from the old size to the new), so a log that cut off its tail or rewrote its history
//! after a checkpoint was witnessed can never get a cosignature for the new history. IO
//! (the state, HTTP, the clock) is the caller's.

use crate::{Checkpoint, Hash, NoteVerifier, TlogError, verify_checkpoint_consistency};

/// Most proof lines an `add-checkpoint` body may carry (a consistency proof of a tree of
/// 2^62 leaves has fewer).
pub const MAX_PROOF_LINES: usize = 63;

/// An `add-checkpoint` request: the size of the latest checkpoint the submitter believes
/// the witness holds, a consistency proof from that size, and the signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The witness's latest size for this log as the submitter believes it (0: none).
    pub old_size: u64,
    /// Consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint (a signed note).
    pub checkpoint: String,
}

impl AddCheckpoint {
    /// The request body: `old N`, one base64 hash per line, a blank line, the checkpoint.
    #[must_use]
    pub fn to_body(&self) -> String {
        let mut out = format!("old {}\n", self.old_size);
        for h in &self.proof {
            out.push_str(&h.to_base64());
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses a request body.
    ///
    /// # Errors
    /// [`TlogError::MalformedNote`] naming what is wrong.
    pub fn parse(body: &str) -> Result<Self, TlogError> {
        let (head, checkpoint) = body
            .split_once("\n\n")
            .ok_or(TlogError::MalformedNote("no blank line after the proof"))?;
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .ok_or(TlogError::MalformedNote("first line must be `old <size>`"))?;
        if old.is_empty() || (old.len() > 1 && old.starts_with('0')) {
            return Err(TlogError::MalformedNote(
                "old size is not a canonical number",
            ));
        }
        let old_size: u64 = old
            .parse()
            .map_err(|_| TlogError::MalformedNote("old size is not a number"))?;
        let mut proof = Vec::new();
        for l in lines {
            if proof.len() == MAX_PROOF_LINES {
                return Err(TlogError::MalformedNote("too many proof lines"));
            }
            proof.push(Hash::from_base64(l)?);
        }
        Ok(Self {
            old_size,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }
}

/// Why a witness refuses to cosign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The checkpoint is not signed by the log's key (HTTP 403).
    #[error("the checkpoint is not signed by the log's key")]
    BadSignature,
    /// The submitter's `old` is not the witness's latest size (HTTP 409, with the size).
    #[error("the witness's latest size for this log is {latest}")]
    Conflict {
        /// The witness's latest cosigned size (0: none).
        latest: u64,
    },
    /// The checkpoint is older than the witness's latest, or the proof does not show it
    /// consistent — a cut-off tail, a rewritten history or a fork (HTTP 422).
    #[error("the checkpoint is not consistent with the one witnessed at size {latest}: {reason}")]
    Inconsistent {
        /// The witness's latest cosigned size.
        latest: u64,
        /// What failed.
        reason: String,
    },
}

/// Decides whether to cosign `req`, given the log's key and the latest checkpoint the
/// witness cosigned for this log. Returns the new checkpoint to cosign and keep.
///
/// # Errors
/// A [`Refusal`]; the witness's state must not change on error.
pub fn check_add(
    log: &NoteVerifier,
    latest: Option<&Checkpoint>,
    req: &AddCheckpoint,
) -> Result<Checkpoint, Refusal> {
    let new =
        Checkpoint::open(req.checkpoint.as_bytes(), log).map_err(|_| Refusal::BadSignature)?;
    let have = latest.map_or(0, Checkpoint::size);
    if req.old_size != have {
        return Err(Refusal::Conflict { latest: have });
    }
    let inconsistent = |reason: String| Refusal::Inconsistent {
        latest: have,
        reason,
    };
    let Some(old) = latest else {
        if !req.proof.is_empty() {
            return Err(inconsistent("a proof from size 0 must be empty".into()));
        }
        return Ok(new);
    };
    if new.size() < old.size() {
        return Err(inconsistent(format!(
            "size {} is smaller than the witnessed size",
            new.size()
        )));
    }
    verify_checkpoint_consistency(old, &new, &req.proof)
        .map_err(|e| inconsistent(e.to_string()))?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{Frontier, NoteSigner, prove_consistency};

    #[test]
    fn witness_accepts_growth_and_refuses_truncation_and_forks() {
        let log = NoteSigner::from_seed("example.com/log", &[1; 32]).unwrap();
        let v = log.verifier();
        let mut f = Frontier::new();
        let leaves: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 3]).collect();
        let mut stored = Vec::new();
        let mut cps = Vec::new();
        for l in &leaves {
            stored.extend(f.append_entries([l.as_slice()]).unwrap());
            cps.push(Checkpoint::new("example.com/log", f.size(), f.root()).unwrap());
        }
        let signed = |c: &Checkpoint| c.sign(&log).unwrap();
        // First checkpoint: old 0, no proof.
        let first = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            checkpoint: signed(&cps[3]),
        };
        assert_eq!(AddCheckpoint::parse(&first.to_body()).unwrap(), first);
        let held = check_add(&v, None, &first).unwrap();
        assert_eq!(held.size(), 4);
        // Growth with a proof.
        let proof = prove_consistency(4, 10, &stored).unwrap();
        let grow = AddCheckpoint {
            old_size: 4,
            proof: proof.clone(),
            checkpoint: signed(&cps[9]),
        };
        let grow = AddCheckpoint::parse(&grow.to_body()).unwrap();
        assert_eq!(check_add(&v, Some(&held), &grow).unwrap().size(), 10);
        // A stale `old`.
        let stale = AddCheckpoint {
            old_size: 2,
            ..grow.clone()
        };
        assert_eq!(
            check_add(&v, Some(&held), &stale),
            Err(Refusal::Conflict { latest: 4 })
        );
        // A cut-off tail: a checkpoint at 3 after 4 was witnessed.
        let cut = AddCheckpoint {
            old_size: 4,
            proof: vec![],
            checkpoint: signed(&cps[2]),
        };
        assert!(matches!(
            check_add(&v, Some(&held), &cut),
            Err(Refusal::Inconsistent { .. })
        ));
        // A rewritten history: another tree of 10 leaves.
        let mut g = Frontier::new();
        let mut other_stored = Vec::new();
        for (i, l) in leaves.iter().enumerate() {
            let l = if i == 1 {
                b"rewritten".to_vec()
            } else {
                l.clone()
            };
            other_stored.extend(g.append_entries([l.as_slice()]).unwrap());
        }
        let forged = Checkpoint::new("example.com/log", 10, g.root()).unwrap();
        let fork = AddCheckpoint {
            old_size: 4,
            proof: prove_consistency(4, 10, &other_stored).unwrap(),
            checkpoint: signed(&forged),
        };
        assert!(matches!(
            check_add(&v, Some(&held), &fork),
            Err(Refusal::Inconsistent { .. })
        ));
        // Same size, other root.
        let same = Checkpoint::new("example.com/log", 4, g.root()).unwrap();
        let same = AddCheckpoint {
            old_size: 4,
            proof: vec![],
            checkpoint: signed(&same),
        };
        assert!(matches!(
            check_add(&v, Some(&held), &same),
            Err(Refusal::Inconsistent { .. })
        ));
        // Not the log's signature.
        let other = NoteSigner::from_seed("example.com/log", &[9; 32]).unwrap();
        let bad = AddCheckpoint {
            old_size: 4,
            proof,
            checkpoint: cps[9].sign(&other).unwrap(),
        };
        assert_eq!(check_add(&v, Some(&held), &bad), Err(Refusal::BadSignature));
        assert!(AddCheckpoint::parse("old 01\n\nx").is_err());
        assert!(AddCheckpoint::parse("new 1\n\nx").is_err());
    }
}
