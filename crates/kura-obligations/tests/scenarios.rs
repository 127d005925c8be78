//! Obligations against hand-worked answers: thresholds just under and over, the encryption
//! safe harbour with and without the key, unlawful purpose, a Friday evening before holidays
//! in Brazil and Japan, daylight-saving changes in the EU and the US, regulators per member
//! state, the SEC's business days. Each deadline to the millisecond, in the right zone.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use kura_obligations::{
    Facts, Obligation, Regime, builtin_holidays, builtin_regimes, evaluate, parse_regime,
};

fn regimes() -> Vec<Regime> {
    builtin_regimes()
        .iter()
        .map(|(f, t)| parse_regime(f, t).unwrap())
        .collect()
}

fn ms(rfc3339: &str) -> u64 {
    rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond() as u64
}

fn facts(aware: &str, people: &[(&str, u64)], categories: &[&str]) -> Facts {
    Facts {
        now_ms: ms(aware),
        stamps: BTreeMap::from([("aware".to_owned(), ms(aware))]),
        affected_by_country: people.iter().map(|(c, n)| ((*c).to_owned(), *n)).collect(),
        confirmed_by_country: people.iter().map(|(c, n)| ((*c).to_owned(), *n)).collect(),
        categories: categories.iter().map(|c| (*c).to_owned()).collect(),
        ..Default::default()
    }
}

fn run(f: &Facts) -> BTreeMap<String, Obligation> {
    evaluate(&regimes(), f, &builtin_holidays)
        .unwrap()
        .into_iter()
        .map(|o| (o.id.clone(), o))
        .collect()
}

fn deadline(o: &Obligation) -> u64 {
    o.deadline_ms
        .unwrap_or_else(|| panic!("{} has no deadline: {:?}", o.id, o.reasoning))
}

#[test]
fn every_shipped_rule_file_parses() {
    let r = regimes();
    assert_eq!(r.len(), 9);
    let ids: BTreeSet<&str> = r.iter().map(|r| r.id.as_str()).collect();
    for want in [
        "jp-appi", "eu-gdpr", "de-bdsg", "uk-gdpr", "us-ca", "us-ny", "kr-pipa", "br-lgpd",
        "us-sec",
    ] {
        assert!(ids.contains(want), "{want}");
    }
}

#[test]
fn a_broken_rule_file_is_refused_and_named() {
    let e = parse_regime("x.toml", "id = 1").unwrap_err();
    assert!(e.to_string().contains("x.toml"), "{e}");
    let bad_zone = builtin_regimes()[0]
        .1
        .replace("Asia/Tokyo", "Asia/Atlantis");
    assert!(
        parse_regime("jp.toml", &bad_zone)
            .unwrap_err()
            .to_string()
            .contains("Atlantis")
    );
    let no_clock_start = builtin_regimes()[0]
        .1
        .replacen("start = \"aware\"\n", "", 1);
    assert!(parse_regime("jp.toml", &no_clock_start).is_err());
}

#[test]
fn appi_more_than_1000_people() {
    // Aware Friday 4 December 2026, 18:30 in Tokyo.
    let at = "2026-12-04T09:30:00Z";
    let o = run(&facts(at, &[("JP", 1000)], &["name", "email"]));
    assert!(
        !o["jp-appi-preliminary"].required,
        "{:?}",
        o["jp-appi-preliminary"].reasoning
    );
    assert!(
        o["jp-appi-preliminary"]
            .reasoning
            .iter()
            .any(|r| r.contains("1000 people affected (more than 1000: false)"))
    );
    let o = run(&facts(at, &[("JP", 1001)], &["name", "email"]));
    let pre = &o["jp-appi-preliminary"];
    assert!(pre.required && pre.soft);
    // Five calendar days: the end of Wednesday 9 December, Tokyo time.
    assert_eq!(deadline(pre), ms("2026-12-09T23:59:59.999+09:00"));
    assert!(
        pre.deadline_local
            .as_deref()
            .unwrap()
            .starts_with("2026-12-09T23:59:59+09:00 [Asia/Tokyo]")
    );
    // Thirty: 4 December + 30 = 3 January 2027.
    assert_eq!(
        deadline(&o["jp-appi-final"]),
        ms("2027-01-03T23:59:59.999+09:00")
    );
    assert_eq!(o["jp-appi-final"].state, "due");
}

#[test]
fn appi_a_single_card_or_an_unlawful_purpose_suffices_and_sixty_days() {
    let at = "2026-12-04T09:30:00Z";
    let o = run(&facts(at, &[("JP", 1)], &["payment_card"]));
    assert!(o["jp-appi-final"].required);
    let mut f = facts(at, &[("JP", 1)], &["name"]);
    f.unlawful_purpose = true;
    let o = run(&f);
    // 4 December + 60 days = 2 February 2027.
    assert_eq!(
        deadline(&o["jp-appi-final"]),
        ms("2027-02-02T23:59:59.999+09:00")
    );
    assert!(
        o["jp-appi-final"]
            .reasoning
            .iter()
            .any(|r| r.contains("60 instead of 30"))
    );
}

#[test]
fn the_encryption_safe_harbour_holds_only_without_the_key() {
    let at = "2026-12-04T09:30:00Z";
    let mut f = facts(
        at,
        &[("JP", 5000), ("US", 800), ("DE", 20)],
        &["name", "email"],
    );
    f.sealed_only = true;
    let o = run(&f);
    // (Not established in the EU: one Art. 33 report per member state with subjects.)
    for id in ["jp-appi-final", "us-ca-residents", "eu-gdpr-art33/DE"] {
        assert!(!o[id].required, "{id}: {:?}", o[id].reasoning);
        assert!(
            o[id].reasoning.iter().any(|r| r.contains("safe harbour")),
            "{id}"
        );
    }
    assert!(o["eu-gdpr-register"].required, "every breach is registered");
    f.sealed_only = false; // the key file left with the dump
    let o = run(&f);
    // (Not established in the EU: one Art. 33 report per member state with subjects.)
    for id in ["jp-appi-final", "us-ca-residents", "eu-gdpr-art33/DE"] {
        assert!(o[id].required, "{id}");
    }
}

#[test]
fn korea_1000_or_external_access() {
    let at = "2026-12-04T09:30:00Z";
    let o = run(&facts(at, &[("KR", 999)], &["name"]));
    assert!(!o["kr-pipa-pipc"].required);
    assert!(o["kr-pipa-subjects"].required, "every subject is told");
    let o = run(&facts(at, &[("KR", 1000)], &["name"]));
    // 72 clock hours: Monday 7 December, 18:30 in Seoul.
    assert_eq!(
        deadline(&o["kr-pipa-pipc"]),
        ms("2026-12-07T18:30:00+09:00")
    );
    let mut f = facts(at, &[("KR", 3)], &["name"]);
    f.unauthorized_access = true;
    assert!(run(&f)["kr-pipa-pipc"].required);
}

#[test]
fn california_500_residents_and_the_ag_copy_15_days_after_the_notice() {
    let at = "2026-12-04T09:30:00Z";
    let o = run(&facts(at, &[("US", 500)], &["name", "credential"]));
    assert!(!o["us-ca-ag"].required);
    assert!(o["us-ca-residents"].reasoning[0].contains("upper bound"));
    let mut f = facts(at, &[("US", 501)], &["name", "credential"]);
    let o = run(&f);
    assert_eq!(o["us-ca-ag"].state, "waiting", "starts at the notice");
    // Residents: 30 days from 4 December 01:30 PST = the end of 3 January, Pacific time.
    assert_eq!(
        deadline(&o["us-ca-residents"]),
        ms("2027-01-03T23:59:59.999-08:00")
    );
    f.stamps
        .insert("notice_sent".into(), ms("2026-12-10T17:00:00Z"));
    // 10 December 09:00 PST + 15 days: the end of 25 December, Pacific time.
    assert_eq!(
        deadline(&run(&f)["us-ca-ag"]),
        ms("2026-12-25T23:59:59.999-08:00")
    );
}

#[test]
fn a_friday_evening_before_holidays_in_brazil_and_japan() {
    // Brazil: aware Friday 4 September 2026, 20:00 in São Paulo; Monday 7 is Independence
    // Day. Three business days: Tuesday 8, Wednesday 9, Thursday 10.
    let o = run(&facts(
        "2026-09-04T20:00:00-03:00",
        &[("BR", 10)],
        &["credential"],
    ));
    assert_eq!(
        deadline(&o["br-lgpd-anpd"]),
        ms("2026-09-10T23:59:59.999-03:00")
    );
    assert_eq!(
        deadline(&o["br-lgpd-subjects"]),
        ms("2026-09-10T23:59:59.999-03:00")
    );
    // Japan counts calendar days: aware Friday 18 September 2026, 21:00 in Tokyo, before
    // the holidays of 21-23 September; the preliminary target is still the end of the 23rd.
    let o = run(&facts(
        "2026-09-18T21:00:00+09:00",
        &[("JP", 2000)],
        &["name"],
    ));
    assert_eq!(
        deadline(&o["jp-appi-preliminary"]),
        ms("2026-09-23T23:59:59.999+09:00")
    );
    // An evening in Tokyo that is still the morning in UTC counts from the Tokyo date.
    let o = run(&facts(
        "2026-09-18T23:30:00+09:00",
        &[("JP", 2000)],
        &["name"],
    ));
    assert_eq!(
        deadline(&o["jp-appi-preliminary"]),
        ms("2026-09-23T23:59:59.999+09:00")
    );
}

#[test]
fn daylight_saving_changes_in_the_eu_and_the_us() {
    // EU: aware Saturday 24 October 2026, 12:00 CEST; summer time ends on the 25th. 72 clock
    // hours later it is 11:00 CET on Tuesday 27 October on the wall clock.
    let mut f = facts("2026-10-24T12:00:00+02:00", &[("DE", 30)], &["name"]);
    f.established_in = BTreeSet::from(["DE".to_owned()]);
    let o = run(&f);
    let art33 = &o["eu-gdpr-art33"];
    assert_eq!(deadline(art33), ms("2026-10-27T11:00:00+01:00"));
    assert!(
        art33
            .deadline_local
            .as_deref()
            .unwrap()
            .starts_with("2026-10-27T11:00:00+01:00")
    );
    // US: aware 20 October 2026 10:00 PDT; summer time ends 1 November. Thirty days: the
    // end of 19 November in PST.
    let o = run(&facts(
        "2026-10-20T10:00:00-07:00",
        &[("US", 50)],
        &["email"],
    ));
    assert_eq!(
        deadline(&o["us-ny-residents"]),
        ms("2026-11-19T23:59:59.999-05:00")
    );
    assert_eq!(
        deadline(&o["us-ca-residents"]),
        ms("2026-11-19T23:59:59.999-08:00")
    );
}

#[test]
fn a_holder_outside_the_eu_reports_to_every_member_state_with_subjects() {
    let mut f = facts(
        "2026-12-04T09:30:00Z",
        &[("DE", 10), ("FR", 5), ("IT", 0), ("JP", 9)],
        &["name"],
    );
    f.established_in = BTreeSet::from(["JP".to_owned()]);
    let o = run(&f);
    let per: Vec<&String> = o
        .keys()
        .filter(|k| k.starts_with("eu-gdpr-art33/"))
        .collect();
    assert_eq!(per, ["eu-gdpr-art33/DE", "eu-gdpr-art33/FR"]);
    assert_eq!(o["eu-gdpr-art33/DE"].country.as_deref(), Some("DE"));
    f.established_in = BTreeSet::from(["DE".to_owned()]);
    let o = run(&f);
    assert!(o.contains_key("eu-gdpr-art33"));
    assert!(!o.keys().any(|k| k.starts_with("eu-gdpr-art33/")));
}

#[test]
fn the_sec_counts_business_days_after_materiality() {
    let mut f = facts("2026-11-20T15:00:00Z", &[], &["name"]);
    f.public_company = true;
    let o = run(&f);
    assert_eq!(o["us-sec-8k"].state, "waiting");
    // Determined material Wednesday 25 November 2026; Thursday 26 is Thanksgiving. Four
    // business days: Friday 27, Monday 30, Tuesday 1, Wednesday 2 December.
    f.stamps.insert(
        "materiality_determined".into(),
        ms("2026-11-25T16:00:00-05:00"),
    );
    assert_eq!(
        deadline(&run(&f)["us-sec-8k"]),
        ms("2026-12-02T23:59:59.999-05:00")
    );
    f.public_company = false;
    assert!(!run(&f)["us-sec-8k"].required);
}

#[test]
fn overdue_submitted_and_beyond_the_calendar() {
    let mut f = facts("2026-12-04T09:30:00Z", &[("KR", 2000)], &["name"]);
    f.now_ms = ms("2026-12-08T00:00:00Z");
    let o = run(&f);
    assert_eq!(o["kr-pipa-pipc"].state, "overdue");
    assert!(o["kr-pipa-pipc"].time_left_ms.unwrap() < 0);
    f.stamps
        .insert("submitted:kr-pipa-pipc".into(), ms("2026-12-06T00:00:00Z"));
    assert_eq!(run(&f)["kr-pipa-pipc"].state, "submitted");
    // Business days in a year without holiday data are refused, not guessed.
    let f = facts("2028-03-01T12:00:00Z", &[("BR", 10)], &["credential"]);
    let e = evaluate(&regimes(), &f, &builtin_holidays).unwrap_err();
    assert!(e.to_string().contains("2028"), "{e}");
}

#[test]
fn nobody_in_a_regime_means_nothing_owed_and_says_why() {
    let o = run(&facts("2026-12-04T09:30:00Z", &[("JP", 5000)], &["name"]));
    assert!(!o["kr-pipa-pipc"].required);
    assert!(o["kr-pipa-pipc"].reasoning[0].contains("no affected person lives in KR"));
    assert_eq!(o["kr-pipa-pipc"].state, "not_required");
}
