//! The result: counts for people, subject sets for notices, a digest for proof.

use std::collections::BTreeMap;

use roaring::RoaringTreemap;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::scoper::{ScopeError, Scoper};

/// Subjects confirmed exposed in each mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ModeCounts {
    /// Shown in plain.
    pub plain: u64,
    /// Shown masked.
    pub masked: u64,
    /// Shown as a token.
    pub token: u64,
}

/// One category's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CategoryTotals {
    /// Subjects whose values of this category the log shows returned to a suspect.
    pub confirmed: u64,
    /// Of those, by the most revealing mode each was shown in.
    pub confirmed_by_mode: ModeCounts,
    /// Subjects reachable through the vector but not confirmed.
    pub potential: u64,
}

/// One cell of the matrix: a category and how its values were (or could have been) exposed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Cell {
    /// Field category (`name`, `email`, ...) or `country_and_locale`.
    pub category: String,
    /// `confirmed:<mode>` or `potential:<how>` (`plain`, `masked`, `token`,
    /// `blind_index`, `metadata`, `data_and_keys`).
    pub exposure: String,
    /// Subjects in the cell.
    pub subjects: u64,
}

/// The exposure matrix of one incident at one log checkpoint.
#[derive(Debug, Clone)]
pub struct Matrix {
    /// Every cell, in (category, exposure) order.
    pub cells: Vec<Cell>,
    /// Totals per category (confirmed and potential kept apart).
    pub categories: BTreeMap<String, CategoryTotals>,
    /// Per country of residence: category → (confirmed, potential) subjects.
    pub countries: BTreeMap<String, BTreeMap<String, (u64, u64)>>,
    /// Per country of residence: (people confirmed, people potential only) — what breach
    /// thresholds count.
    pub people_by_country: BTreeMap<String, (u64, u64)>,
    /// Per suspect: subjects confirmed exposed to it.
    pub principals: BTreeMap<String, u64>,
    /// Per organization of the suspects (holder or processor): subjects confirmed exposed
    /// to any of its principals.
    pub organizations: BTreeMap<String, u64>,
    /// People affected: confirmed or potential in any category.
    pub people: u64,
    /// People confirmed in at least one category.
    pub people_confirmed: u64,
    /// Subjects the log shows exposed that are no longer held (erased since): counted, but
    /// without a country.
    pub confirmed_not_held: u64,
    /// Events of the log that showed an exposure.
    pub events_used: u64,
    /// Canaries the log shows returned to a suspect (not counted as people: a canary is
    /// nobody; one touched proves the suspect read beyond any real need).
    pub canaries_touched: u64,
    /// Subjects streamed.
    pub subjects_seen: u64,
    /// The vector, window and suspects, as computed.
    pub vector: String,
    /// Window, unix ms.
    pub window: (u64, u64),
    /// Suspects.
    pub suspects: Vec<String>,
    sets: CellSets,
    affected: RoaringTreemap,
}

/// The subjects behind a matrix: each cell's internal ids and the log indexes of the events
/// that showed an exposure. What a recomputation must reproduce, with the canonical JSON.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CellSets {
    /// (category, exposure) → subjects.
    pub cells: BTreeMap<(String, String), RoaringTreemap>,
    /// Log indexes of the evidence events.
    pub evidence: RoaringTreemap,
}

const SETS_MAGIC: &[u8; 4] = b"KSS1";

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ScopeError> {
        if self.0.len() < n {
            return Err(ScopeError::BadSets(format!("{what}: truncated")));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u32(&mut self, what: &str) -> Result<u32, ScopeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn text(&mut self, what: &str) -> Result<String, ScopeError> {
        let b = self.take(2, what)?;
        let n = usize::from(u16::from_be_bytes([b[0], b[1]]));
        String::from_utf8(self.take(n, what)?.to_vec())
            .map_err(|_| ScopeError::BadSets(format!("{what}: not UTF-8")))
    }

    fn bitmap(&mut self, what: &str) -> Result<RoaringTreemap, ScopeError> {
        let b = self.take(8, what)?;
        let n = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let n = usize::try_from(n).map_err(|_| ScopeError::BadSets(format!("{what}: too long")))?;
        RoaringTreemap::deserialize_from(self.take(n, what)?)
            .map_err(|e| ScopeError::BadSets(format!("{what}: {e}")))
    }
}

impl CellSets {
    /// The sets as bytes: `KSS1`, then per cell (in order) the category and exposure (each
    /// a u16 big-endian length and UTF-8) and the subjects (a u64 big-endian length and the
    /// portable Roaring serialization), then the evidence the same way.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(SETS_MAGIC);
        out.extend_from_slice(&(self.cells.len() as u32).to_be_bytes());
        let bitmap = |out: &mut Vec<u8>, b: &RoaringTreemap| {
            let mut bytes = Vec::with_capacity(b.serialized_size());
            // Writing to a Vec cannot fail.
            let _ = b.serialize_into(&mut bytes);
            out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
            out.extend_from_slice(&bytes);
        };
        for ((category, exposure), set) in &self.cells {
            for s in [category, exposure] {
                out.extend_from_slice(&(s.len() as u16).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            bitmap(&mut out, set);
        }
        bitmap(&mut out, &self.evidence);
        out
    }

    /// Decodes [`CellSets::encode`]'s bytes.
    ///
    /// # Errors
    /// [`ScopeError::BadSets`] naming what does not decode.
    pub fn decode(bytes: &[u8]) -> Result<CellSets, ScopeError> {
        let mut r = Reader(bytes);
        if r.take(4, "magic")? != SETS_MAGIC {
            return Err(ScopeError::BadSets(
                "not a kura cell-set encoding".to_owned(),
            ));
        }
        let count = r.u32("cell count")?;
        let mut cells = BTreeMap::new();
        for _ in 0..count {
            let category = r.text("category")?;
            let exposure = r.text("exposure")?;
            let set = r.bitmap("cell subjects")?;
            if cells.insert((category, exposure), set).is_some() {
                return Err(ScopeError::BadSets("a cell appears twice".to_owned()));
            }
        }
        let evidence = r.bitmap("evidence")?;
        if !r.0.is_empty() {
            return Err(ScopeError::BadSets("trailing bytes".to_owned()));
        }
        Ok(CellSets { cells, evidence })
    }

    /// SHA-256 over `canonical` (a matrix's canonical JSON), every cell's subjects
    /// (ascending internal ids, 8 bytes big-endian, cell by cell in order) and the evidence
    /// indexes: [`Matrix::digest`], computable from a stored or exported matrix.
    pub fn digest(&self, canonical: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(canonical.as_bytes());
        for ((category, exposure), set) in &self.cells {
            h.update((category.len() as u32).to_be_bytes());
            h.update(category.as_bytes());
            h.update((exposure.len() as u32).to_be_bytes());
            h.update(exposure.as_bytes());
            h.update(set.len().to_be_bytes());
            for id in set {
                h.update(id.to_be_bytes());
            }
        }
        h.update(self.evidence.len().to_be_bytes());
        for i in &self.evidence {
            h.update(i.to_be_bytes());
        }
        h.finalize().into()
    }
}

#[derive(Serialize)]
struct Canonical<'a> {
    version: u32,
    vector: &'a str,
    window: (u64, u64),
    suspects: &'a [String],
    people: u64,
    people_confirmed: u64,
    confirmed_not_held: u64,
    categories: &'a BTreeMap<String, CategoryTotals>,
    countries: &'a BTreeMap<String, BTreeMap<String, (u64, u64)>>,
    people_by_country: &'a BTreeMap<String, (u64, u64)>,
    principals: &'a BTreeMap<String, u64>,
    organizations: &'a BTreeMap<String, u64>,
    cells: &'a [Cell],
    events_used: u64,
    canaries_touched: u64,
    subjects_seen: u64,
}

impl Matrix {
    pub(crate) fn build(s: Scoper<'_>, gone: RoaringTreemap) -> Matrix {
        let scope = s.scope().clone();
        let sets = s.cells;
        let mut categories: BTreeMap<String, CategoryTotals> = BTreeMap::new();
        let mut confirmed_of: BTreeMap<&str, RoaringTreemap> = BTreeMap::new();
        let mut potential_of: BTreeMap<&str, RoaringTreemap> = BTreeMap::new();
        let mut affected = RoaringTreemap::new();
        let mut confirmed_all = RoaringTreemap::new();
        for ((category, exposure), set) in &sets {
            affected |= set;
            if exposure.starts_with("confirmed:") {
                confirmed_all |= set;
                *confirmed_of.entry(category).or_default() |= set;
            } else {
                *potential_of.entry(category).or_default() |= set;
            }
        }
        for (category, set) in &confirmed_of {
            let t = categories.entry((*category).to_owned()).or_default();
            t.confirmed = set.len();
            // The most revealing mode each subject was shown in.
            let mode = |m: &str| {
                sets.get(&((*category).to_owned(), format!("confirmed:{m}")))
                    .cloned()
                    .unwrap_or_default()
            };
            let plain = mode("plain");
            let masked = &mode("masked") - &plain;
            let token = &(&mode("token") - &plain) - &masked;
            t.confirmed_by_mode = ModeCounts {
                plain: plain.len(),
                masked: masked.len(),
                token: token.len(),
            };
        }
        for (category, set) in &potential_of {
            let only = match confirmed_of.get(category) {
                Some(c) => set - c,
                None => set.clone(),
            };
            categories
                .entry((*category).to_owned())
                .or_default()
                .potential = only.len();
        }
        let cells = sets
            .iter()
            .map(|((category, exposure), set)| Cell {
                category: category.clone(),
                exposure: exposure.clone(),
                subjects: set.len(),
            })
            .collect();
        Matrix {
            cells,
            categories,
            countries: s.by_country,
            people_by_country: s.people_by_country,
            organizations: {
                let mut orgs: BTreeMap<String, RoaringTreemap> = BTreeMap::new();
                for (p, b) in &s.by_principal {
                    let org = scope.orgs.get(p).unwrap_or(p).clone();
                    *orgs.entry(org).or_default() |= b;
                }
                orgs.into_iter().map(|(o, b)| (o, b.len())).collect()
            },
            principals: s
                .by_principal
                .iter()
                .map(|(p, b)| (p.clone(), b.len()))
                .collect(),
            people: affected.len(),
            people_confirmed: confirmed_all.len(),
            confirmed_not_held: gone.len(),
            events_used: s.evidence.len(),
            canaries_touched: s.canaries_touched.len(),
            subjects_seen: s.subjects_seen,
            vector: scope.vector.as_str().to_owned(),
            window: (scope.from_ms, scope.to_ms),
            suspects: scope.suspects.iter().cloned().collect(),
            sets: CellSets {
                cells: sets,
                evidence: s.evidence,
            },
            affected,
        }
    }

    /// The matrix as canonical JSON (sorted keys, no whitespace): the same inputs give the
    /// same bytes.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(&Canonical {
            version: 2,
            vector: &self.vector,
            window: self.window,
            suspects: &self.suspects,
            people: self.people,
            people_confirmed: self.people_confirmed,
            confirmed_not_held: self.confirmed_not_held,
            categories: &self.categories,
            countries: &self.countries,
            people_by_country: &self.people_by_country,
            principals: &self.principals,
            organizations: &self.organizations,
            cells: &self.cells,
            events_used: self.events_used,
            canaries_touched: self.canaries_touched,
            subjects_seen: self.subjects_seen,
        })
        .unwrap_or_default()
    }

    /// SHA-256 over the canonical JSON, every cell's subjects and the evidence indexes
    /// ([`CellSets::digest`]): what a recomputation must reproduce.
    pub fn digest(&self) -> [u8; 32] {
        self.sets.digest(&self.canonical_json())
    }

    /// The subjects of every cell and the evidence indexes.
    pub fn sets(&self) -> &CellSets {
        &self.sets
    }

    /// Every affected subject (confirmed or potential), ascending: the notice list.
    pub fn affected(&self) -> impl Iterator<Item = u64> + '_ {
        self.affected.iter()
    }

    /// The subjects of one cell, ascending (empty when the cell does not exist).
    pub fn cell_subjects(&self, category: &str, exposure: &str) -> Vec<u64> {
        self.sets
            .cells
            .get(&(category.to_owned(), exposure.to_owned()))
            .map(|s| s.iter().collect())
            .unwrap_or_default()
    }
}
