//! Incidents over the real vault, SQLite store and signed log: declare, timestamps, close;
//! matrix versions at signed checkpoints (the same checkpoint gives the same bytes after more
//! events); the evidence bundle verifies offline, and any changed byte — or a forgery by
//! someone holding the signing key — fails and says where.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use kura_admin::directory::{self, NewOrganization, NewPrincipal, SecurityOfficer};
use kura_admin::incident::{self, At, IncidentChange, NewIncident, StampInput, Window};
use kura_audit::{Appender, AppenderConfig, AuditStore, Clock, Integrator, IntegratorConfig};
use kura_crypto::{KeyFile, KeyProvider, KeyPurpose};
use kura_model::Schema;
use kura_policy::{Policy, PrincipalKind};
use kura_store::sqlite::{Durability, SqliteStore};
use kura_store::{DirectoryStore as _, Store as _};
use kura_tlog::NoteSigner;
use kura_vault::{Access, Caller, SubjectInput, Uuid, Vault, VaultOptions};

struct Ticking(std::sync::atomic::AtomicU64);
impl Clock for Ticking {
    fn now_ms(&self) -> u64 {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}

const T0: u64 = 1_800_000_000_000;

const POLICY: &str = r#"{"collection":"accounts","purposes":["support"],"actions":["read"],
    "fields":{"name":"plain","email":"masked","phone":"token","birth_date":"denied"}}"#;

struct World {
    store: Arc<SqliteStore>,
    vault: Vault,
    clock: Arc<Ticking>,
    integrator: Integrator,
    signer: NoteSigner,
    vkey: String,
    thief: Access,
    ids: Vec<Uuid>,
    canary: Uuid,
    _dir: tempfile::TempDir,
}

impl World {
    fn at(&self) -> At {
        self.integrator.integrate_now(self.clock.now_ms()).unwrap();
        let (tree_size, checkpoint) = self.store.latest_audit_checkpoint().unwrap().unwrap();
        At {
            tree_size,
            checkpoint,
        }
    }
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let vid = [5u8; 16];
    let keys = KeyFile::create(&dir.path().join("vault.key"), vid).unwrap();
    let seed = keys.derive(KeyPurpose::AuditSigning).unwrap();
    let store =
        Arc::new(SqliteStore::create(&dir.path().join("data"), vid, Durability::Normal).unwrap());
    let clock = Arc::new(Ticking(T0.into()));
    let appender = Arc::new(Appender::start(store.clone(), AppenderConfig::default()).unwrap());
    let vault = Vault::new(
        Schema::builtin(),
        store.clone(),
        Arc::new(keys),
        VaultOptions::default(),
        appender,
        clock.clone(),
    )
    .unwrap();
    let integrator =
        Integrator::new(store.clone(), seed.expose(), IntegratorConfig::default()).unwrap();
    let signer = NoteSigner::from_seed(&kura_audit::origin_for(&vid), seed.expose()).unwrap();
    let vkey = integrator.verifier_key();
    let schema = Schema::builtin();
    directory::create_org(
        &*store,
        &*clock,
        "op",
        NewOrganization {
            id: "callcenter".into(),
            name: "Call centre".into(),
            role: "holder".into(),
            supervisor: None,
            security_officer: SecurityOfficer {
                name: "Ada".into(),
                contact: "ada@example.com".into(),
            },
        },
    )
    .unwrap();
    let (p, _) = directory::create_principal(
        &*store,
        &*clock,
        &schema,
        "op",
        NewPrincipal {
            org: "callcenter".into(),
            name: "agents".into(),
            kind: "processor".into(),
            subject: None,
            policies: vec![serde_json::from_str(POLICY).unwrap()],
        },
    )
    .unwrap();
    let op = Access::operator("op", "testing");
    let inputs = (0..200)
        .map(|i| SubjectInput {
            country: ["JP", "DE", "US", "GB"][i % 4].into(),
            locale: "en".into(),
            fields: [
                ("login_id", format!("user{i}")),
                ("name", format!("Person {i}")),
                ("email", format!("user{i}@example.com")),
                ("phone", format!("+49 30 1234 {i:04}")),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        })
        .collect();
    let ids: Vec<Uuid> = vault
        .create_batch(&op, "accounts", inputs)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let canary = kura_admin::canary::plant(&vault, &*store, "accounts", 1, "example.com")
        .unwrap()
        .remove(0);
    let thief = Access {
        principal: p.id.clone(),
        purpose: "support".into(),
        request_id: "r".into(),
        caller: Caller::with_policies(
            PrincipalKind::Processor,
            vec![Policy::from_json(POLICY, &schema).unwrap()],
            false,
        ),
    };
    World {
        store,
        vault,
        clock,
        integrator,
        signer,
        vkey,
        thief,
        ids,
        canary,
        _dir: dir,
    }
}

fn declare(w: &World) -> incident::Incident {
    incident::declare(
        &*w.store,
        &*w.clock,
        "op",
        NewIncident {
            title: "Processor key on a paste site".into(),
            vector: Some("processor".into()),
            suspects: vec![w.thief.principal.clone()],
            window: Some(Window {
                from_ms: T0,
                to_ms: T0 + 10_000_000,
            }),
            org: Some("callcenter".into()),
            ..Default::default()
        },
    )
    .unwrap()
}

fn code(e: kura_admin::AdminError) -> &'static str {
    e.code()
}

#[test]
fn an_incident_keeps_its_timeline_in_the_log() {
    let w = world();
    let before = w.store.audit_size().unwrap();
    let i = declare(&w);
    assert_eq!(i.status, "open");
    assert_eq!(i.timeline.len(), 1);
    // Each change needs a reason and valid stamps; a refused change writes nothing.
    let bad = |change: IncidentChange| {
        code(incident::update(&*w.store, &*w.clock, "op", &i.id, change).unwrap_err())
    };
    let stamp = |name: &str, org: Option<&str>, at_ms: u64| StampInput {
        name: name.into(),
        org: org.map(str::to_owned),
        at_ms,
    };
    assert_eq!(
        bad(IncidentChange {
            stamps: vec![stamp("detected", None, T0)],
            reason: " ".into(),
            ..Default::default()
        }),
        "invalid_value"
    );
    assert_eq!(
        bad(IncidentChange {
            stamps: vec![stamp("aware", None, T0)],
            reason: "r".into(),
            ..Default::default()
        }),
        "invalid_stamp"
    );
    assert_eq!(
        bad(IncidentChange {
            stamps: vec![stamp("detected", None, T0 + 86_400_000)],
            reason: "r".into(),
            ..Default::default()
        }),
        "invalid_stamp"
    );
    assert_eq!(
        bad(IncidentChange {
            suspects: Some(vec!["nobody".into()]),
            reason: "r".into(),
            ..Default::default()
        }),
        "unknown_principal"
    );
    assert_eq!(
        bad(IncidentChange {
            reason: "r".into(),
            ..Default::default()
        }),
        "empty_change"
    );
    assert_eq!(
        w.store.audit_size().unwrap(),
        before + 1,
        "refusals wrote nothing"
    );
    let i = incident::update(
        &*w.store,
        &*w.clock,
        "op",
        &i.id,
        IncidentChange {
            stamps: vec![
                stamp("detected", None, T0 - 3_600_000),
                stamp("aware", Some("callcenter"), T0),
            ],
            reason: "SOC ticket 4711".into(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(i.stamps.len(), 2);
    let i = incident::set_closed(&*w.store, &*w.clock, "op", &i.id, "contained", false).unwrap();
    assert_eq!(
        bad(IncidentChange {
            title: Some("x".into()),
            reason: "r".into(),
            ..Default::default()
        }),
        "incident_closed"
    );
    let i = incident::set_closed(&*w.store, &*w.clock, "op", &i.id, "new facts", true).unwrap();
    assert_eq!(i.status, "open");
    assert_eq!(
        i.timeline
            .iter()
            .map(|e| e.change.as_str())
            .collect::<Vec<_>>(),
        ["opened", "updated", "closed", "reopened"]
    );
    // Every entry is a leaf of the incident carrying the entry's digest.
    let leaves = w.store.incident_leaves(&i.id).unwrap();
    assert_eq!(leaves.len(), 4);
    for (e, index) in i.timeline.iter().zip(&leaves) {
        let ev = kura_audit::AccessEvent::from_leaf(&w.store.audit_leaf(*index).unwrap().unwrap())
            .unwrap();
        assert_eq!(ev.request_id, i.id);
        assert_eq!(ev.principal, "op");
        for f in e.event_fields() {
            assert!(ev.fields.contains(&f), "{f} on leaf {index}");
        }
    }
    assert_eq!(incident::show(&*w.store, &i.id).unwrap(), i);
    assert_eq!(incident::list(&*w.store).unwrap()[0].id, i.id);
}

#[test]
fn matrix_versions_and_the_evidence_bundle() {
    let w = world();
    let schema = Schema::builtin();
    for id in &w.ids[..30] {
        w.vault.read(&w.thief, "accounts", id, None).unwrap();
    }
    // The canary is read too: counted apart, never as a person.
    let _ = w.vault.read(&w.thief, "accounts", &w.canary, None);
    let i = declare(&w);
    let at1 = w.at();
    let (v1, m1) = incident::scope(
        &*w.store,
        &*w.store,
        &schema,
        &*w.clock,
        "op",
        &i.id,
        &at1,
        &mut |_, _, _| {},
    )
    .unwrap();
    assert_eq!(v1.version, 1);
    assert_eq!(m1.people_confirmed, 30);
    assert_eq!(m1.canaries_touched, 1);
    assert_eq!(m1.organizations["callcenter"], 30, "totals per processor");
    assert_eq!(m1.categories["name"].confirmed, 30);
    assert_eq!(m1.categories["email"].confirmed_by_mode.masked, 30);
    // Potential: every real subject holds a name the processor could read.
    assert_eq!(m1.people, 200);
    // More reads, a second version; the first is unchanged and recomputes identically.
    for id in &w.ids[30..40] {
        w.vault.read(&w.thief, "accounts", id, None).unwrap();
    }
    let at2 = w.at();
    let (v2, m2) = incident::scope(
        &*w.store,
        &*w.store,
        &schema,
        &*w.clock,
        "op",
        &i.id,
        &at2,
        &mut |_, _, _| {},
    )
    .unwrap();
    assert_eq!((v2.version, m2.people_confirmed), (2, 40));
    let (again, m_again) = incident::scope(
        &*w.store,
        &*w.store,
        &schema,
        &*w.clock,
        "op",
        &i.id,
        &at1,
        &mut |_, _, _| {},
    )
    .unwrap();
    assert_eq!(again.digest, v1.digest);
    assert_eq!(m_again.canonical_json(), m1.canonical_json());
    let stored = w.store.incident_scopes(&i.id).unwrap();
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[0].sets, stored[2].sets);

    // The bundle.
    let at3 = w.at();
    let file = kura_admin::evidence::export(
        &*w.store, &*w.store, &schema, &*w.clock, "op", &i.id, &at3, &w.signer,
    )
    .unwrap();
    let text = String::from_utf8(file.clone()).unwrap();
    for id in &w.ids {
        assert!(!text.contains(&id.to_string()), "no public subject id");
    }
    assert!(!text.contains("Person 1"), "no field value");
    let r = kura_admin::evidence::verify(&file, &w.vkey);
    assert!(r.ok, "{:?}", r.problems);
    assert_eq!((r.timeline_entries, r.scope_versions), (1, 3));
    assert!(r.leaves >= 40);

    // The wrong key.
    let (other, _) = NoteSigner::generate(&kura_audit::origin_for(&[6u8; 16])).unwrap();
    let r = kura_admin::evidence::verify(&file, &other.verifier_key());
    assert!(!r.ok && r.problems[0].at == "signature", "{:?}", r.problems);

    // Any changed byte fails, and says where: every byte of the separator and the signed
    // note, every fifth byte of the body (each check re-verifies the whole bundle).
    let note_at = text.find("\n\n").unwrap();
    for pos in (0..file.len()).filter(|p| *p >= note_at || p % 5 == 0) {
        let mut bad = file.clone();
        bad[pos] ^= 0x01;
        let r = kura_admin::evidence::verify(&bad, &w.vkey);
        assert!(!r.ok, "byte {pos} changed and the bundle still verifies");
        assert!(!r.problems[0].at.is_empty());
    }

    // A forgery by someone holding the signing key: re-signed, but the log disagrees.
    let forge = |edit: &dyn Fn(&mut serde_json::Value)| {
        let (body, _) = text.split_once("\n\n").unwrap();
        let mut v: serde_json::Value = serde_json::from_str(body).unwrap();
        edit(&mut v);
        resign(&v, &w.signer)
    };
    let r = kura_admin::evidence::verify(
        &forge(&|v| v["incident"]["timeline"][0]["reason"] = "nothing happened".into()),
        &w.vkey,
    );
    assert_eq!(r.problems[0].at, "timeline entry 1", "{:?}", r.problems);
    let r = kura_admin::evidence::verify(
        &forge(&|v| {
            let m = v["scopes"][0]["matrix"]
                .as_str()
                .unwrap()
                .replace("\"people_confirmed\":30", "\"people_confirmed\":3");
            v["scopes"][0]["matrix"] = m.into();
        }),
        &w.vkey,
    );
    assert!(
        r.problems
            .iter()
            .any(|p| p.at == "scope v1" && p.what.contains("digest does not match")),
        "{:?}",
        r.problems
    );
    let r = kura_admin::evidence::verify(
        &forge(&|v| {
            let leaves = v["leaves"].as_array_mut().unwrap();
            leaves[0]["proof"][0] = leaves[1]["proof"][0].clone();
        }),
        &w.vkey,
    );
    assert!(
        r.problems.iter().any(|p| p.at.starts_with("leaves[0]")),
        "{:?}",
        r.problems
    );
}

/// Re-signs an edited body as `export` does (what someone with the key could do).
fn resign(v: &serde_json::Value, signer: &NoteSigner) -> Vec<u8> {
    use sha2::Digest;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let d = |x: &serde_json::Value| hex(&sha2::Sha256::digest(serde_json::to_vec(x).unwrap()));
    let body = serde_json::to_string(v).unwrap();
    let mut st = format!(
        "{} {}\nincident {}\nbody {}\n",
        kura_admin::evidence::FORMAT,
        signer.name(),
        v["incident"]["id"].as_str().unwrap(),
        hex(&sha2::Sha256::digest(body.as_bytes()))
    );
    for name in ["incident", "catalog", "checkpoint", "leaves"] {
        st.push_str(&format!("section {name} {}\n", d(&v[name])));
    }
    for s in v["scopes"].as_array().unwrap() {
        st.push_str(&format!("section scope/{} {}\n", s["version"], d(s)));
    }
    let mut out = body.into_bytes();
    out.extend_from_slice(b"\n\n");
    out.extend_from_slice(signer.sign(&st).unwrap().as_bytes());
    out
}
