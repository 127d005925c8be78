//! Report templates: every shipped template carries its regime's checklist; one that drops
//! an item or a mandated heading is refused naming it; a draft renders with the figures and
//! marks what is still to be completed; an incomplete report is named as such.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use kura_obligations::{
    ObligationRule, ReportContext, builtin_regimes, builtin_templates, load_template, missing,
    parse_regime, render,
};

fn rule(id: &str) -> ObligationRule {
    builtin_regimes()
        .iter()
        .map(|(f, t)| parse_regime(f, t).unwrap())
        .flat_map(|r| r.obligations)
        .find(|o| o.id == id)
        .unwrap_or_else(|| panic!("no rule {id}"))
}

#[test]
fn every_shipped_template_passes_its_checklist() {
    for (id, lang, source) in builtin_templates() {
        let r = rule(id);
        assert!(!r.checklist.is_empty(), "{id}");
        load_template(&r, lang, source).unwrap_or_else(|e| panic!("{id}.{lang}: {e}"));
    }
    // Every regulator report owed under a built-in regime has a template.
    for id in [
        "jp-appi-preliminary",
        "jp-appi-final",
        "eu-gdpr-art33",
        "uk-gdpr-ico",
        "us-ca-ag",
        "us-ny-regulators",
        "kr-pipa-pipc",
        "br-lgpd-anpd",
        "us-sec-8k",
    ] {
        assert!(builtin_templates().iter().any(|(t, _, _)| *t == id), "{id}");
    }
}

#[test]
fn a_template_without_an_item_or_a_mandated_heading_is_refused() {
    let (_, _, src) = builtin_templates()
        .iter()
        .find(|(id, lang, _)| *id == "jp-appi-final" && *lang == "ja")
        .unwrap();
    let dropped = src.replace("{{ items.cause }}", "");
    let e = load_template(&rule("jp-appi-final"), "ja", &dropped).unwrap_err();
    assert!(e.to_string().contains("`cause`"), "{e}");
    let (_, _, ca) = builtin_templates()
        .iter()
        .find(|(id, _, _)| *id == "us-ca-residents")
        .unwrap();
    let retitled = ca.replace("# Notice of Data Breach", "# Important update");
    let e = load_template(&rule("us-ca-residents"), "en", &retitled).unwrap_err();
    assert!(e.to_string().contains("Notice of Data Breach"), "{e}");
    assert!(load_template(&rule("eu-gdpr-art33"), "en", "{{ items.nature").is_err());
}

#[test]
fn a_draft_renders_and_names_what_is_missing() {
    let r = rule("jp-appi-final");
    let (_, _, src) = builtin_templates()
        .iter()
        .find(|(id, _, _)| *id == "jp-appi-final")
        .unwrap();
    let t = load_template(&r, "ja", src).unwrap();
    let mut items = BTreeMap::new();
    items.insert("people".to_owned(), "13,625名（確認済み）".to_owned());
    items.insert("items".to_owned(), "氏名、メールアドレス".to_owned());
    let ctx = ReportContext {
        incident_id: "inc-1".into(),
        holder: "Example KK".into(),
        recipient: "個人情報保護委員会".into(),
        deadline: "2027-01-03T23:59:59+09:00".into(),
        phase_ja: "確報".into(),
        items: items.clone(),
        ..Default::default()
    };
    let text = render(&t, &r, &ctx).unwrap();
    assert!(
        text.contains("（確報）") && text.contains("13,625名"),
        "{text}"
    );
    assert!(text.contains("[to be completed: cause]"), "{text}");
    let m = missing(&r, &items);
    assert_eq!(m[0], "overview");
    assert!(m.contains(&"cause".to_owned()) && !m.contains(&"people".to_owned()));
    for item in &r.checklist {
        items.insert(item.clone(), "記載".into());
    }
    assert!(missing(&r, &items).is_empty());
    items.insert("cause".into(), "  ".into());
    assert_eq!(missing(&r, &items), ["cause"]);
}
