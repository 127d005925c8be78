//! The streaming computation: events first, then subjects, then [`Scoper::finish`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kura_model::{Category, Schema};
use roaring::RoaringTreemap;
use serde::{Deserialize, Serialize};

use crate::matrix::Matrix;

/// How the data is believed to have left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Vector {
    /// A principal's API key used by someone else: what its policies could return.
    StolenKey,
    /// A processor's principal (its key or its staff): as [`Vector::StolenKey`].
    Processor,
    /// A copy of the data store: without the key store, only what is not encrypted.
    DbDump,
    /// A backup of the data store: as [`Vector::DbDump`].
    Backup,
    /// An operator acting on their own: what the log shows they touched.
    Insider,
    /// Anything else: what the log shows the suspects were returned.
    Other,
}

impl Vector {
    /// Parses the snake_case name (`stolen_key`, `processor`, `db_dump`, `backup`,
    /// `insider`, `other`).
    pub fn parse(s: &str) -> Option<Vector> {
        Some(match s {
            "stolen_key" => Vector::StolenKey,
            "processor" => Vector::Processor,
            "db_dump" => Vector::DbDump,
            "backup" => Vector::Backup,
            "insider" => Vector::Insider,
            "other" => Vector::Other,
            _ => return None,
        })
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Vector::StolenKey => "stolen_key",
            Vector::Processor => "processor",
            Vector::DbDump => "db_dump",
            Vector::Backup => "backup",
            Vector::Insider => "insider",
            Vector::Other => "other",
        }
    }
}

/// What a suspect's policies allow it to be shown of one field (mode `plain`, `masked` or
/// `token`; denied fields are not listed).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    /// The suspect principal.
    pub principal: String,
    /// Collection.
    pub collection: String,
    /// Field name.
    pub field: String,
    /// `plain`, `masked` or `token`.
    pub mode: String,
}

/// What the scoping is asked: the window, the suspects and the vector.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Window start, unix ms (inclusive).
    pub from_ms: u64,
    /// Window end, unix ms (inclusive).
    pub to_ms: u64,
    /// Suspect principals: their successful reads are the confirmed exposure.
    pub suspects: BTreeSet<String>,
    /// The vector.
    pub vector: Vector,
    /// For a dump or backup: whether the key store (or key file) left with it — then every
    /// field held is potentially exposed.
    pub keys_exposed: bool,
    /// For a stolen key or a processor: what the suspects' policies could return.
    pub grants: Vec<Grant>,
    /// Canary subjects (internal ids): never counted as people; a canary the log shows
    /// returned to a suspect is counted apart ([`crate::Matrix::canaries_touched`]).
    pub canaries: RoaringTreemap,
    /// Each suspect's organization (holder or processor), for totals per organization; a
    /// suspect without one is counted under its own id.
    pub orgs: BTreeMap<String, String>,
}

/// Field → category and searchability, per collection (from the schema).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    fields: HashMap<(String, String), (Category, bool)>,
}

/// One field of a [`Catalog`], for carrying it outside the schema (an evidence bundle).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    /// Collection.
    pub collection: String,
    /// Field name.
    pub field: String,
    /// Its category.
    pub category: Category,
    /// Whether it carries a blind index.
    pub searchable: bool,
}

impl Catalog {
    /// Every field, sorted.
    pub fn entries(&self) -> Vec<CatalogEntry> {
        let mut v: Vec<CatalogEntry> = self
            .fields
            .iter()
            .map(
                |((collection, field), (category, searchable))| CatalogEntry {
                    collection: collection.clone(),
                    field: field.clone(),
                    category: *category,
                    searchable: *searchable,
                },
            )
            .collect();
        v.sort();
        v
    }

    /// A catalog from its entries.
    pub fn from_entries(entries: &[CatalogEntry]) -> Catalog {
        Catalog {
            fields: entries
                .iter()
                .map(|e| {
                    (
                        (e.collection.clone(), e.field.clone()),
                        (e.category, e.searchable),
                    )
                })
                .collect(),
        }
    }

    /// The catalog of a schema.
    pub fn of(schema: &Schema) -> Catalog {
        let mut fields = HashMap::new();
        for c in schema.collections() {
            for f in &c.fields {
                fields.insert((c.name.clone(), f.name.clone()), (f.category, f.searchable));
            }
        }
        Catalog { fields }
    }

    fn get(&self, collection: &str, field: &str) -> Option<(Category, bool)> {
        self.fields
            .get(&(collection.to_owned(), field.to_owned()))
            .copied()
    }
}

/// One access event as scoping needs it (decoded from the log by the caller).
#[derive(Debug, Clone, Copy)]
pub struct ScopeEvent<'a> {
    /// The event's index in the log (kept as evidence when the event shows an exposure).
    pub index: u64,
    /// Unix ms.
    pub time_ms: u64,
    /// Principal id.
    pub principal: &'a str,
    /// Action name (`read`, `search`, `export`, `card_read`, `card_detokenize`, ...).
    pub action: &'a str,
    /// Whether the outcome was `ok`.
    pub ok: bool,
    /// Collection.
    pub collection: &'a str,
    /// Subjects (internal ids).
    pub subjects: &'a [u64],
    /// Field entries, `name` or `name:mode`.
    pub fields: &'a [&'a str],
}

/// One subject held (streamed from the store by the caller).
#[derive(Debug, Clone, Copy)]
pub struct SubjectRow<'a> {
    /// Internal id.
    pub iid: u64,
    /// Collection.
    pub collection: &'a str,
    /// Country of residence (ISO 3166-1 alpha-2).
    pub country: &'a str,
    /// Names of the fields the subject holds.
    pub fields: &'a [&'a str],
}

/// Misuse of the streaming contract.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScopeError {
    /// An event was given after the first subject.
    #[error("scoping takes every event before the first subject")]
    EventAfterSubjects,
    /// The window ends before it starts.
    #[error("the window ends before it starts")]
    EmptyWindow,
    /// Encoded cell sets that do not decode.
    #[error("cell sets do not decode: {0}")]
    BadSets(String),
}

/// The pseudo-category of a subject's country of residence and locale (stored in clear).
pub(crate) const METADATA: &str = "country_and_locale";

/// The exposure matrix under construction.
#[derive(Debug)]
pub struct Scoper<'c> {
    scope: Scope,
    catalog: &'c Catalog,
    /// (category, exposure) → subjects; exposure is `confirmed:<mode>` or
    /// `potential:<how>`.
    pub(crate) cells: BTreeMap<(String, String), RoaringTreemap>,
    /// Suspect → subjects confirmed exposed to it.
    pub(crate) by_principal: BTreeMap<String, RoaringTreemap>,
    /// Country → category → (confirmed, potential only) subject counts.
    pub(crate) by_country: BTreeMap<String, BTreeMap<String, (u64, u64)>>,
    /// Country → (people confirmed, people potential only).
    pub(crate) people_by_country: BTreeMap<String, (u64, u64)>,
    /// Every confirmed subject (any category), to find those no longer held.
    confirmed_any: RoaringTreemap,
    /// Confirmed subjects seen in the subject stream.
    held_confirmed: RoaringTreemap,
    /// (collection, field) → modes the suspects were granted (stolen key, processor).
    grants: HashMap<(String, String), BTreeSet<String>>,
    /// Log indexes of the events that showed an exposure.
    pub(crate) evidence: RoaringTreemap,
    /// Canaries the log shows returned to a suspect.
    pub(crate) canaries_touched: RoaringTreemap,
    pub(crate) subjects_seen: u64,
    in_subjects: bool,
}

impl<'c> Scoper<'c> {
    /// Starts a computation.
    ///
    /// # Errors
    /// [`ScopeError::EmptyWindow`].
    pub fn new(scope: Scope, catalog: &'c Catalog) -> Result<Scoper<'c>, ScopeError> {
        if scope.to_ms < scope.from_ms {
            return Err(ScopeError::EmptyWindow);
        }
        let mut grants: HashMap<(String, String), BTreeSet<String>> = HashMap::new();
        if matches!(scope.vector, Vector::StolenKey | Vector::Processor) {
            for g in &scope.grants {
                if scope.suspects.contains(&g.principal) && g.mode != "denied" {
                    grants
                        .entry((g.collection.clone(), g.field.clone()))
                        .or_default()
                        .insert(g.mode.clone());
                }
            }
        }
        Ok(Scoper {
            scope,
            catalog,
            cells: BTreeMap::new(),
            by_principal: BTreeMap::new(),
            by_country: BTreeMap::new(),
            people_by_country: BTreeMap::new(),
            confirmed_any: RoaringTreemap::new(),
            held_confirmed: RoaringTreemap::new(),
            grants,
            evidence: RoaringTreemap::new(),
            canaries_touched: RoaringTreemap::new(),
            subjects_seen: 0,
            in_subjects: false,
        })
    }

    /// Takes one event of the log (in any order, all before the first subject).
    ///
    /// # Errors
    /// [`ScopeError::EventAfterSubjects`].
    pub fn event(&mut self, e: &ScopeEvent<'_>) -> Result<(), ScopeError> {
        if self.in_subjects {
            return Err(ScopeError::EventAfterSubjects);
        }
        if !e.ok
            || e.subjects.is_empty()
            || e.time_ms < self.scope.from_ms
            || e.time_ms > self.scope.to_ms
            || !self.scope.suspects.contains(e.principal)
        {
            return Ok(());
        }
        let exposures: Vec<(String, String)> = match e.action {
            "read" | "search" | "export" => e
                .fields
                .iter()
                .filter_map(|entry| {
                    let (name, mode) = entry.split_once(':').unwrap_or((entry, "plain"));
                    let (category, _) = self.catalog.get(e.collection, name)?;
                    (mode != "denied")
                        .then(|| (category.as_str().to_owned(), format!("confirmed:{mode}")))
                })
                .collect(),
            // Brand, last four and expiry; the number itself only to detokenize.
            "card_read" => vec![(
                Category::PaymentCard.as_str().to_owned(),
                "confirmed:masked".to_owned(),
            )],
            "card_detokenize" => vec![(
                Category::PaymentCard.as_str().to_owned(),
                "confirmed:plain".to_owned(),
            )],
            _ => Vec::new(),
        };
        if exposures.is_empty() {
            return Ok(());
        }
        self.evidence.insert(e.index);
        let mut subjects: RoaringTreemap = e.subjects.iter().copied().collect();
        if !self.scope.canaries.is_empty() {
            let canaries = &subjects & &self.scope.canaries;
            if !canaries.is_empty() {
                self.canaries_touched |= &canaries;
                subjects -= &canaries;
                if subjects.is_empty() {
                    return Ok(());
                }
            }
        }
        for key in exposures {
            *self.cells.entry(key).or_default() |= &subjects;
        }
        *self.by_principal.entry(e.principal.to_owned()).or_default() |= &subjects;
        self.confirmed_any |= &subjects;
        Ok(())
    }

    /// Takes one subject held (each once, in any order, after every event).
    pub fn subject(&mut self, s: &SubjectRow<'_>) {
        self.in_subjects = true;
        self.subjects_seen += 1;
        if self.scope.canaries.contains(s.iid) {
            return;
        }
        let mut potential: Vec<(String, String)> = Vec::new();
        match (self.scope.vector, self.scope.keys_exposed) {
            (Vector::DbDump | Vector::Backup, false) => {
                potential.push((METADATA.to_owned(), "potential:metadata".to_owned()));
                for f in s.fields {
                    if let Some((category, true)) = self.catalog.get(s.collection, f) {
                        potential.push((
                            category.as_str().to_owned(),
                            "potential:blind_index".to_owned(),
                        ));
                    }
                }
            }
            (Vector::DbDump | Vector::Backup, true) => {
                potential.push((METADATA.to_owned(), "potential:metadata".to_owned()));
                for f in s.fields {
                    if let Some((category, _)) = self.catalog.get(s.collection, f) {
                        potential.push((
                            category.as_str().to_owned(),
                            "potential:data_and_keys".to_owned(),
                        ));
                    }
                }
            }
            (Vector::StolenKey | Vector::Processor, _) => {
                for f in s.fields {
                    let Some(modes) = self.grants.get(&(s.collection.to_owned(), (*f).to_owned()))
                    else {
                        continue;
                    };
                    if let Some((category, _)) = self.catalog.get(s.collection, f) {
                        for m in modes {
                            potential
                                .push((category.as_str().to_owned(), format!("potential:{m}")));
                        }
                    }
                }
            }
            (Vector::Insider | Vector::Other, _) => {}
        }
        for key in &potential {
            self.cells.entry(key.clone()).or_default().insert(s.iid);
        }
        // Per country: each category once, confirmed before potential.
        let mut categories: BTreeMap<String, bool> = BTreeMap::new();
        if self.confirmed_any.contains(s.iid) {
            self.held_confirmed.insert(s.iid);
            for ((category, exposure), set) in &self.cells {
                if exposure.starts_with("confirmed:") && set.contains(s.iid) {
                    categories.insert(category.clone(), true);
                }
            }
        }
        for (category, _) in potential {
            categories.entry(category).or_insert(false);
        }
        if categories.is_empty() {
            return;
        }
        let person = self
            .people_by_country
            .entry(s.country.to_owned())
            .or_default();
        if categories.values().any(|c| *c) {
            person.0 += 1;
        } else {
            person.1 += 1;
        }
        let country = self.by_country.entry(s.country.to_owned()).or_default();
        for (category, confirmed) in categories {
            let cell = country.entry(category).or_default();
            if confirmed {
                cell.0 += 1;
            } else {
                cell.1 += 1;
            }
        }
    }

    /// The matrix.
    pub fn finish(self) -> Matrix {
        let gone = &self.confirmed_any - &self.held_confirmed;
        Matrix::build(self, gone)
    }

    pub(crate) fn scope(&self) -> &Scope {
        &self.scope
    }
}
