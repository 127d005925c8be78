//! A seeded scenario: 10,000 subjects in 12 countries; a processor's key stolen and used for
//! reads of chosen fields in chosen modes (some refused); a second principal untouched; an
//! operator reading one subject. The matrix must equal a ground truth computed here by plain
//! set arithmetic, cell by cell, for each vector — and be byte-identical when more events
//! arrive or the streams come in another order.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use kura_model::Schema;
use kura_scope::{Catalog, Grant, Scope, ScopeEvent, Scoper, SubjectRow, Vector};

const COUNTRIES: [&str; 12] = [
    "JP", "US", "DE", "GB", "KR", "FR", "IT", "ES", "NL", "SE", "CA", "AU",
];
const FIELDS: [&str; 10] = [
    "login_id",
    "online_id",
    "name",
    "email",
    "phone",
    "postal_address",
    "birth_date",
    "gender",
    "password",
    "payment_cards",
];
const CATEGORY: [&str; 10] = [
    "login_id",
    "login_id",
    "name",
    "email",
    "phone",
    "postal_address",
    "birth_date",
    "gender",
    "credential",
    "payment_card",
];
const SEARCHABLE: [bool; 10] = [
    true, true, false, true, true, false, false, false, false, false,
];
const WINDOW: (u64, u64) = (1_000_000, 2_000_000);

/// A deterministic generator (splitmix64).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Subject {
    iid: u64,
    country: &'static str,
    fields: Vec<usize>,
}

struct Event {
    time_ms: u64,
    principal: &'static str,
    action: &'static str,
    ok: bool,
    subjects: Vec<u64>,
    fields: Vec<String>,
}

struct World {
    subjects: Vec<Subject>,
    events: Vec<Event>,
}

fn world() -> World {
    let mut rng = Rng(2011);
    let subjects: Vec<Subject> = (0..10_000u64)
        .map(|i| {
            // Required: login_id, online_id, email, phone; the rest by chance.
            let mut fields = vec![0, 1, 3, 4];
            for f in [2, 5, 6, 7, 8, 9] {
                if rng.below(3) != 0 {
                    fields.push(f);
                }
            }
            fields.sort_unstable();
            Subject {
                iid: 1 + i * 3,
                country: COUNTRIES[rng.below(12) as usize],
                fields,
            }
        })
        .collect();
    let mut events = Vec::new();
    // The stolen processor key: reads of name (plain), email (masked), phone (token).
    for _ in 0..900 {
        let s = &subjects[rng.below(10_000) as usize];
        let t = WINDOW.0 + rng.below(WINDOW.1 - WINDOW.0);
        let ok = rng.below(10) != 0;
        events.push(Event {
            time_ms: t,
            principal: "proc",
            action: "read",
            ok,
            subjects: vec![s.iid],
            fields: vec!["email:masked".into(), "name".into(), "phone:token".into()],
        });
    }
    // Searches with hits, returning login ids in plain; some outside the window.
    for _ in 0..100 {
        let hits: Vec<u64> = (0..3)
            .map(|_| subjects[rng.below(10_000) as usize].iid)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let t = if rng.below(4) == 0 {
            WINDOW.1 + 1 + rng.below(1000)
        } else {
            WINDOW.0 + rng.below(WINDOW.1 - WINDOW.0)
        };
        events.push(Event {
            time_ms: t,
            principal: "proc",
            action: "search",
            ok: true,
            subjects: hits,
            fields: vec!["login_id".into()],
        });
    }
    // A detokenized card and a card's metadata.
    events.push(Event {
        time_ms: WINDOW.0 + 5,
        principal: "proc",
        action: "card_detokenize",
        ok: true,
        subjects: vec![subjects[7].iid],
        fields: vec!["pan".into()],
    });
    events.push(Event {
        time_ms: WINDOW.0 + 6,
        principal: "proc",
        action: "card_read",
        ok: true,
        subjects: vec![subjects[8].iid],
        fields: vec!["metadata".into()],
    });
    // A second principal, untouched by the incident, reads a lot.
    for i in 0..500 {
        events.push(Event {
            time_ms: WINDOW.0 + i,
            principal: "svc2",
            action: "read",
            ok: true,
            subjects: vec![subjects[i as usize].iid],
            fields: vec!["birth_date".into(), "name".into()],
        });
    }
    // An operator reads one subject (everything).
    events.push(Event {
        time_ms: WINDOW.0 + 10,
        principal: "op",
        action: "read",
        ok: true,
        subjects: vec![subjects[42].iid],
        fields: FIELDS.iter().map(|f| (*f).to_owned()).collect(),
    });
    // Writes and password checks expose nothing.
    events.push(Event {
        time_ms: WINDOW.0 + 11,
        principal: "proc",
        action: "patch",
        ok: true,
        subjects: vec![subjects[43].iid],
        fields: vec!["name".into()],
    });
    World { subjects, events }
}

fn run(w: &World, scope: Scope, reverse: bool) -> kura_scope::Matrix {
    let catalog = Catalog::of(&Schema::builtin());
    let mut sc = Scoper::new(scope, &catalog).unwrap();
    let order: Vec<usize> = if reverse {
        (0..w.events.len()).rev().collect()
    } else {
        (0..w.events.len()).collect()
    };
    for i in order {
        let e = &w.events[i];
        let fields: Vec<&str> = e.fields.iter().map(String::as_str).collect();
        sc.event(&ScopeEvent {
            index: i as u64,
            time_ms: e.time_ms,
            principal: e.principal,
            action: e.action,
            ok: e.ok,
            collection: "accounts",
            subjects: &e.subjects,
            fields: &fields,
        })
        .unwrap();
    }
    let order: Vec<usize> = if reverse {
        (0..w.subjects.len()).rev().collect()
    } else {
        (0..w.subjects.len()).collect()
    };
    for i in order {
        let s = &w.subjects[i];
        let fields: Vec<&str> = s.fields.iter().map(|&f| FIELDS[f]).collect();
        sc.subject(&SubjectRow {
            iid: s.iid,
            collection: "accounts",
            country: s.country,
            fields: &fields,
        });
    }
    sc.finish()
}

fn scope(vector: Vector, suspects: &[&str], keys_exposed: bool) -> Scope {
    let grants = [
        "name:plain",
        "email:masked",
        "phone:token",
        "birth_date:denied",
    ]
    .iter()
    .map(|g| {
        let (field, mode) = g.split_once(':').unwrap();
        Grant {
            principal: "proc".into(),
            collection: "accounts".into(),
            field: field.into(),
            mode: mode.into(),
        }
    })
    .collect();
    Scope {
        from_ms: WINDOW.0,
        to_ms: WINDOW.1,
        suspects: suspects.iter().map(|s| (*s).to_owned()).collect(),
        vector,
        keys_exposed,
        grants,
        canaries: roaring::RoaringTreemap::new(),
        orgs: BTreeMap::from([("proc".to_owned(), "callcenter".to_owned())]),
    }
}

/// The ground truth, by direct set arithmetic over the same world.
fn truth(w: &World, s: &Scope) -> BTreeMap<(String, String), BTreeSet<u64>> {
    let mut cells: BTreeMap<(String, String), BTreeSet<u64>> = BTreeMap::new();
    let field_index: HashMap<&str, usize> =
        FIELDS.iter().enumerate().map(|(i, f)| (*f, i)).collect();
    for e in &w.events {
        if !e.ok
            || e.time_ms < s.from_ms
            || e.time_ms > s.to_ms
            || !s.suspects.contains(e.principal)
        {
            continue;
        }
        let mut keys = Vec::new();
        match e.action {
            "read" | "search" => {
                for f in &e.fields {
                    let (name, mode) = f.split_once(':').unwrap_or((f, "plain"));
                    keys.push((
                        CATEGORY[field_index[name]].to_owned(),
                        format!("confirmed:{mode}"),
                    ));
                }
            }
            "card_detokenize" => keys.push(("payment_card".into(), "confirmed:plain".into())),
            "card_read" => keys.push(("payment_card".into(), "confirmed:masked".into())),
            _ => {}
        }
        for k in keys {
            cells
                .entry(k)
                .or_default()
                .extend(e.subjects.iter().copied());
        }
    }
    for sub in &w.subjects {
        let mut add = |c: &str, how: &str| {
            cells
                .entry((c.to_owned(), format!("potential:{how}")))
                .or_default()
                .insert(sub.iid);
        };
        match (s.vector, s.keys_exposed) {
            (Vector::DbDump | Vector::Backup, false) => {
                add("country_and_locale", "metadata");
                for &f in &sub.fields {
                    if SEARCHABLE[f] {
                        add(CATEGORY[f], "blind_index");
                    }
                }
            }
            (Vector::DbDump | Vector::Backup, true) => {
                add("country_and_locale", "metadata");
                for &f in &sub.fields {
                    add(CATEGORY[f], "data_and_keys");
                }
            }
            (Vector::StolenKey | Vector::Processor, _) => {
                for &f in &sub.fields {
                    match FIELDS[f] {
                        "name" => add("name", "plain"),
                        "email" => add("email", "masked"),
                        "phone" => add("phone", "token"),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    cells
}

fn check(w: &World, s: Scope) -> kura_scope::Matrix {
    let want = truth(w, &s);
    let m = run(w, s, false);
    let got: BTreeMap<(String, String), BTreeSet<u64>> = m
        .cells
        .iter()
        .map(|c| {
            (
                (c.category.clone(), c.exposure.clone()),
                m.cell_subjects(&c.category, &c.exposure)
                    .into_iter()
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (k, v) in &want {
        assert_eq!(&got[k], v, "cell {k:?}");
    }
    // Confirmed and potential kept apart in the totals.
    for (category, t) in &m.categories {
        let confirmed: HashSet<u64> = want
            .iter()
            .filter(|((c, e), _)| c == category && e.starts_with("confirmed:"))
            .flat_map(|(_, s)| s.iter().copied())
            .collect();
        let potential: HashSet<u64> = want
            .iter()
            .filter(|((c, e), _)| c == category && e.starts_with("potential:"))
            .flat_map(|(_, s)| s.iter().copied())
            .filter(|s| !confirmed.contains(s))
            .collect();
        assert_eq!(t.confirmed, confirmed.len() as u64, "{category} confirmed");
        assert_eq!(t.potential, potential.len() as u64, "{category} potential");
        assert_eq!(
            t.confirmed_by_mode.plain + t.confirmed_by_mode.masked + t.confirmed_by_mode.token,
            t.confirmed
        );
    }
    let affected: BTreeSet<u64> = want.values().flatten().copied().collect();
    assert_eq!(m.people, affected.len() as u64);
    assert_eq!(m.affected().collect::<BTreeSet<u64>>(), affected);
    // Per country, each category's confirmed + potential adds up to the category's totals.
    for (category, t) in &m.categories {
        let (c, p) = m
            .countries
            .values()
            .filter_map(|cats| cats.get(category))
            .fold((0, 0), |(a, b), (c, p)| (a + c, b + p));
        assert_eq!((c, p), (t.confirmed, t.potential), "{category} per country");
    }
    m
}

#[test]
fn a_stolen_processor_key_matches_the_ground_truth() {
    let w = world();
    let m = check(&w, scope(Vector::StolenKey, &["proc"], false));
    // The second principal and the operator are not in it.
    assert_eq!(m.principals.keys().collect::<Vec<_>>(), ["proc"]);
    assert!(
        m.categories["name"].confirmed > 700,
        "{:?}",
        m.categories["name"]
    );
    assert_eq!(
        m.categories["email"].confirmed_by_mode.masked,
        m.categories["email"].confirmed
    );
    assert!(
        !m.categories.contains_key("birth_date"),
        "denied and never read"
    );
    assert_eq!(m.categories["payment_card"].confirmed, 2);
    assert_eq!(m.categories["payment_card"].confirmed_by_mode.plain, 1);
    assert_eq!(m.countries.len(), 12);
}

#[test]
fn a_dump_without_keys_exposes_only_blind_indexes_and_metadata() {
    let w = world();
    let m = check(&w, scope(Vector::DbDump, &[], false));
    assert_eq!(m.people_confirmed, 0);
    assert_eq!(m.categories["country_and_locale"].potential, 10_000);
    assert!(!m.categories.contains_key("name"), "names are sealed");
    assert!(!m.categories.contains_key("credential"));
    assert_eq!(m.categories["email"].potential, 10_000);
}

#[test]
fn a_dump_with_the_keys_exposes_everything_held() {
    let w = world();
    let m = check(&w, scope(Vector::Backup, &[], true));
    assert_eq!(m.people, 10_000);
    assert!(m.categories["credential"].potential > 6_000);
}

#[test]
fn an_insider_operator_is_what_they_touched() {
    let w = world();
    let m = check(&w, scope(Vector::Insider, &["op"], false));
    assert_eq!(m.people, 1);
    assert_eq!(m.categories.len(), 9, "{:?}", m.categories.keys());
}

#[test]
fn the_same_checkpoint_gives_the_same_bytes() {
    let mut w = world();
    let s = || scope(Vector::StolenKey, &["proc"], false);
    let a = run(&w, s(), false);
    let b = run(&w, s(), true);
    assert_eq!(a.canonical_json(), b.canonical_json());
    assert_eq!(a.digest(), b.digest());
    // More events after the window, and by others, change nothing.
    w.events.push(Event {
        time_ms: WINDOW.1 + 10,
        principal: "proc",
        action: "read",
        ok: true,
        subjects: vec![w.subjects[1].iid],
        fields: vec!["name".into()],
    });
    w.events.push(Event {
        time_ms: WINDOW.0 + 10,
        principal: "svc2",
        action: "read",
        ok: true,
        subjects: vec![w.subjects[2].iid],
        fields: vec!["name".into()],
    });
    let c = run(&w, s(), false);
    assert_eq!(a.digest(), c.digest());
    // One more confirmed read inside the window does change it.
    w.events.push(Event {
        time_ms: WINDOW.0 + 10,
        principal: "proc",
        action: "read",
        ok: true,
        subjects: vec![w.subjects[9_999].iid],
        fields: vec!["postal_address".into()],
    });
    assert_ne!(a.digest(), run(&w, s(), false).digest());
}

#[test]
fn subjects_erased_since_are_counted_without_a_country() {
    let mut w = world();
    let m0 = run(&w, scope(Vector::Insider, &["op"], false), false);
    assert_eq!(m0.confirmed_not_held, 0);
    w.subjects.retain(|s| {
        s.iid
            != w.events
                .iter()
                .find(|e| e.principal == "op")
                .unwrap()
                .subjects[0]
    });
    let m = run(&w, scope(Vector::Insider, &["op"], false), false);
    assert_eq!(m.people, 1);
    assert_eq!(m.confirmed_not_held, 1);
    assert!(m.countries.is_empty());
}

#[test]
fn totals_per_organization_are_the_union_of_its_principals() {
    let w = world();
    let m = run(&w, scope(Vector::StolenKey, &["proc", "op"], false), false);
    // `proc` is the call centre's; `op` has no organization here and counts under itself.
    assert_eq!(m.organizations["callcenter"], m.principals["proc"]);
    assert_eq!(m.organizations["op"], m.principals["op"]);
    assert_eq!(m.organizations.len(), 2);
}

#[test]
fn canaries_are_nobody_but_are_counted_when_touched() {
    let w = world();
    let base = run(&w, scope(Vector::StolenKey, &["proc"], false), false);
    // Make one subject the suspect read, and one it did not, canaries.
    let read = w
        .events
        .iter()
        .find(|e| e.principal == "proc" && e.ok && e.action == "read")
        .unwrap()
        .subjects[0];
    let unread = w
        .subjects
        .iter()
        .map(|s| s.iid)
        .find(|iid| !base.cell_subjects("name", "confirmed:plain").contains(iid))
        .unwrap();
    let mut s = scope(Vector::StolenKey, &["proc"], false);
    s.canaries = [read, unread].into_iter().collect();
    let m = run(&w, s, false);
    assert_eq!(m.canaries_touched, 1);
    assert!(m.people < base.people, "canaries are not people");
    assert!(m.affected().all(|iid| iid != read && iid != unread));
    assert_eq!(m.subjects_seen, base.subjects_seen);
    assert_eq!(
        m.events_used, base.events_used,
        "the event is still evidence"
    );
}

#[test]
fn cell_sets_round_trip_and_carry_the_digest() {
    let w = world();
    let m = run(&w, scope(Vector::StolenKey, &["proc"], false), false);
    let bytes = m.sets().encode();
    let back = kura_scope::CellSets::decode(&bytes).unwrap();
    assert_eq!(&back, m.sets());
    assert_eq!(back.digest(&m.canonical_json()), m.digest());
    assert_eq!(back.evidence.len(), m.events_used);
    // Every truncation and a flipped magic are refused, never misread.
    for cut in [0, 3, 8, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            kura_scope::CellSets::decode(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut bad = bytes.clone();
    bad[0] ^= 1;
    assert!(kura_scope::CellSets::decode(&bad).is_err());
    let mut longer = bytes;
    longer.push(0);
    assert!(kura_scope::CellSets::decode(&longer).is_err());
}

#[test]
fn people_per_country_add_up_to_the_people_held() {
    let w = world();
    for (vector, suspects) in [
        (Vector::StolenKey, &["proc"][..]),
        (Vector::Insider, &["op"][..]),
        (Vector::DbDump, &[][..]),
    ] {
        let m = run(&w, scope(vector, suspects, false), false);
        let (c, p): (u64, u64) = m
            .people_by_country
            .values()
            .fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
        assert_eq!(c + p, m.people - m.confirmed_not_held, "{vector:?}");
        assert_eq!(c, m.people_confirmed - m.confirmed_not_held, "{vector:?}");
        // Each country's people are at least its most exposed category's.
        for (country, cats) in &m.countries {
            let (pc, pp) = m.people_by_country[country];
            for (cc, cp) in cats.values() {
                assert!(pc + pp >= cc + cp, "{country}");
            }
        }
    }
}
