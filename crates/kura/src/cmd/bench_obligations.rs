//! `kura bench --only obligations`: what the obligations of a very large incident and its
//! report drafts cost, through the real store.
//!
//! One SQLite vault holds an incident whose stored matrix says 100,000,000 people in 50
//! countries (every regime's countries among them, the rest spread), eleven categories,
//! stamps for awareness, materiality and the notice; the benchmark computes its obligations
//! (`kura_admin::obligations::of_incident`: the latest matrix read from the store, every
//! regime evaluated) and renders every shipped report draft (`kura_admin::obligations::draft`),
//! `--reads` times each, and reports the mean and the slowest.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use kura_admin::incident::{IncidentChange, NewIncident, StampInput};
use kura_audit::Clock as _;
use serde_json::{Value, json};

const COUNTRIES: [&str; 50] = [
    "JP", "US", "DE", "GB", "KR", "BR", "FR", "IT", "ES", "NL", "BE", "AT", "PL", "SE", "DK", "FI",
    "IE", "PT", "CZ", "GR", "HU", "RO", "BG", "HR", "SK", "SI", "LT", "LV", "EE", "LU", "MT", "CY",
    "CA", "AU", "NZ", "SG", "TW", "HK", "IN", "MX", "AR", "CL", "CO", "ZA", "NG", "EG", "TR", "IL",
    "AE", "CH",
];

pub fn run(dir: &Path, a: &super::bench::BenchArgs) -> Result<Value> {
    let rounds = a.reads.clamp(1, 10_000);
    let id: [u8; 16] = kura_crypto::random_array()?;
    let store = kura_store::sqlite::SqliteStore::create(
        &dir.join("data"),
        id,
        kura_store::sqlite::Durability::Normal,
    )?;
    let clock = crate::open::SystemClock;
    let now = clock.now_ms();
    kura_admin::directory::create_org(
        &store,
        &clock,
        "bench",
        kura_admin::directory::NewOrganization {
            id: "holder".into(),
            name: "Holder KK".into(),
            role: "holder".into(),
            supervisor: None,
            security_officer: kura_admin::directory::SecurityOfficer {
                name: "Officer".into(),
                contact: "officer@example.jp".into(),
            },
        },
    )?;
    let i = kura_admin::incident::declare(
        &store,
        &clock,
        "bench",
        NewIncident {
            title: "bench".into(),
            vector: Some("stolen_key".into()),
            org: Some("holder".into()),
            ..Default::default()
        },
    )?;
    let stamp = |name: &str, org: Option<&str>, ago_h: u64| StampInput {
        name: name.into(),
        org: org.map(str::to_owned),
        at_ms: now - ago_h * 3_600_000,
    };
    kura_admin::incident::update(
        &store,
        &clock,
        "bench",
        &i.id,
        IncidentChange {
            stamps: vec![
                stamp("detected", None, 30),
                stamp("aware", Some("holder"), 24),
                stamp("materiality_determined", None, 20),
                stamp("notice_sent", None, 2),
            ],
            reason: "bench".into(),
            ..Default::default()
        },
    )?;
    // 100,000,000 people: 40 % in Japan, 20 % in the US, the rest over 48 countries.
    let total: u64 = 100_000_000;
    let mut people = serde_json::Map::new();
    let mut left = total;
    for (k, c) in COUNTRIES.iter().enumerate() {
        let n = match k {
            0 => total * 40 / 100,
            1 => total * 20 / 100,
            49 => left,
            _ => total * 40 / 100 / 48,
        };
        left -= n;
        people.insert((*c).to_owned(), json!([n / 10, n - n / 10]));
    }
    let categories: serde_json::Map<String, Value> = [
        "name", "postal_address", "email", "phone", "birth_date", "gender", "login_id",
        "credential", "payment_card", "national_id", "other",
    ]
    .iter()
    .map(|c| {
        (
            (*c).to_owned(),
            json!({"confirmed": total / 10, "confirmed_by_mode": {"plain": total / 10, "masked": 0, "token": 0},
                   "potential": total - total / 10}),
        )
    })
    .collect();
    let matrix = json!({"version": 2, "vector": "stolen_key", "people": total,
        "people_confirmed": total / 10, "people_by_country": people, "categories": categories,
        "cells": [{"category": "name", "exposure": "confirmed:plain", "subjects": total / 10}]});
    kura_store::DirectoryStore::insert_incident_scope(
        &store,
        &kura_store::IncidentScopeRecord {
            incident: i.id.clone(),
            version: 1,
            computed_at: now as i64,
            by: "bench".into(),
            tree_size: 0,
            checkpoint: String::new(),
            digest: String::new(),
            matrix: matrix.to_string(),
            sets: Vec::new(),
        },
        &[],
    )?;
    let rules = kura_admin::obligations::Rules::builtin(kura_admin::obligations::Holder {
        established_in: vec!["JP".into()],
        public_company: true,
    })?;
    let time = |f: &mut dyn FnMut() -> Result<()>| -> Result<(f64, f64)> {
        let (mut sum, mut max) = (0.0_f64, 0.0_f64);
        for _ in 0..rounds {
            let t = Instant::now();
            f()?;
            let s = t.elapsed().as_secs_f64();
            sum += s;
            max = max.max(s);
        }
        Ok((sum / rounds as f64, max))
    };
    let mut owed = 0;
    let (mean, max) = time(&mut || {
        let o = kura_admin::obligations::of_incident(
            &store,
            &i.id,
            &rules.regimes,
            &rules.holder,
            now,
        )?;
        owed = o.obligations.iter().filter(|x| x.required).count();
        Ok(())
    })?;
    let obligations = json!({"mean_ms": mean * 1e3, "max_ms": max * 1e3, "obligations_owed": owed});
    let all =
        kura_admin::obligations::of_incident(&store, &i.id, &rules.regimes, &rules.holder, now)?;
    let mut drafts = serde_json::Map::new();
    for (rule, lang, _) in kura_obligations::builtin_templates() {
        let Some(ob) = all
            .obligations
            .iter()
            .find(|o| o.id == *rule || o.id.starts_with(&format!("{rule}/")))
        else {
            continue;
        };
        let oid = ob.id.clone();
        let mut bytes = 0;
        let (mean, max) = time(&mut || {
            let d = kura_admin::obligations::draft(&store, &i.id, &oid, Some(lang), &rules, now)?;
            bytes = d.markdown.len();
            Ok(())
        })?;
        drafts.insert(
            format!("{oid}.{lang}"),
            json!({"mean_ms": mean * 1e3, "max_ms": max * 1e3, "bytes": bytes}),
        );
    }
    Ok(json!({
        "people": total,
        "countries": COUNTRIES.len(),
        "rounds": rounds,
        "obligations": obligations,
        "drafts": drafts,
    }))
}
