//! The card vault through the real binary (issue 7): no card number in any response, log
//! line, file or error; security codes refused with nothing stored; operators never
//! detokenize; tokens stable per subject; erasure shreds cards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use serde_json::{Value, json};
use util::{Resp, Server, full_subject, start, start_with_env};

/// A Luhn-valid number: `prefix`, then digits from `seed` (a SplitMix64 stream), then the
/// check digit, `len` digits in all. Random middles make every 7-digit window distinctive,
/// so a leak cannot hide behind digits that occur anyway (zeros, repeated ones).
fn pan(prefix: &str, len: usize, seed: &mut u64) -> String {
    let mut s = prefix.to_owned();
    while s.len() < len - 1 {
        *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        s.push(char::from(b'0' + (z % 10) as u8));
    }
    (0..=9)
        .map(|d| format!("{s}{d}"))
        .find(|n| kura_cards::luhn_valid(n))
        .unwrap()
}

fn tokenize(s: &Server, body: &Value) -> Resp {
    s.post("/v1/cards", body)
}

fn card_body(subject: &str, pan: &str) -> Value {
    json!({"subject_id": subject, "pan": pan, "exp_month": 12, "exp_year": 2030, "holder": "Taro Yamada"})
}

/// Every 7-digit window of `pan`: none may appear anywhere but in a detokenize response
/// (more than the first six or the last four digits).
fn windows(pan: &str) -> Vec<String> {
    (0..=pan.len() - 7)
        .map(|i| pan[i..i + 7].to_owned())
        .collect()
}

/// The forms a leaked number could take: digit windows, and the whole number grouped by
/// spaces or dashes as typed.
fn needles(pan: &str) -> Vec<String> {
    let mut out = windows(pan);
    let grouped: Vec<&str> = pan
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    out.push(grouped.join(" "));
    out.push(grouped.join("-"));
    out
}

fn find(hay: &[u8], needle: &str) -> bool {
    let utf8 = needle.as_bytes().to_vec();
    let utf16le: Vec<u8> = needle.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let utf16be: Vec<u8> = needle.encode_utf16().flat_map(u16::to_be_bytes).collect();
    [utf8, utf16le, utf16be]
        .iter()
        .any(|n| hay.windows(n.len()).any(|w| w == n.as_slice()))
}

fn all_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn count(s: &Server, file: &str, table: &str) -> i64 {
    let c = rusqlite::Connection::open(s.dir.join(file)).unwrap();
    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn no_card_number_in_any_response_log_file_or_error() {
    // Debug logging: the most the server ever writes.
    let mut s = start_with_env(&[("KURA_LOG", "debug")]);
    let alice = s.create(&full_subject());
    let mut other = full_subject();
    other["fields"]["login_id"] = json!("suzuki");
    other["fields"]["email"] = json!("suzuki@example.jp");
    let bob = s.create(&other);

    let mut seed = 0x6b75_7261_u64;
    let valid: Vec<(String, &str)> = [
        ("4", 16, "visa"),
        ("51", 16, "mastercard"),
        ("2221", 16, "mastercard"),
        ("37", 15, "amex"),
        ("6011", 16, "discover"),
        ("3528", 16, "jcb"),
        ("36", 14, "diners"),
        ("62", 19, "unionpay"),
        ("6304", 16, "maestro"),
        ("9", 16, "unknown"),
    ]
    .into_iter()
    .map(|(p, len, brand)| (pan(p, len, &mut seed), brand))
    .collect();
    let mut secret: Vec<String> = valid.iter().map(|(p, _)| p.clone()).collect();
    let mut responses: Vec<Resp> = Vec::new();

    for (number, brand) in &valid {
        // Typed with spaces: the stored and shown forms must still hold no more than last4.
        let spaced: String = number
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(" ");
        let r = tokenize(&s, &card_body(&alice, &spaced));
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["brand"], *brand);
        assert_eq!(r.body["last4"], &number[number.len() - 4..]);
        let token = r.body["token"].as_str().unwrap().to_owned();
        responses.push(r);
        responses.push(s.get(&format!("/v1/cards/{token}")));
        // Refused: operators never detokenize.
        let d = s.req(
            "POST",
            &format!("/v1/cards/{token}/detokenize"),
            None,
            &[("X-Kura-Purpose", "charge")],
        );
        assert_eq!(
            (d.status, d.code()),
            (403, "detokenize_denied"),
            "{}",
            d.text
        );
        responses.push(d);
        responses.push(tokenize(&s, &card_body(&bob, number)));
    }
    responses.push(s.get(&format!("/v1/collections/accounts/subjects/{alice}")));

    // Refused and invalid requests, each carrying a card number somewhere.
    let visa = pan("4", 16, &mut seed);
    let bad_luhn = {
        let mut b = visa.clone().into_bytes();
        b[15] = b'0' + (b[15] - b'0' + 1) % 10;
        String::from_utf8(b).unwrap()
    };
    let too_long = format!("{visa}{}", pan("5", 9, &mut seed));
    let too_short = visa[..11].to_owned();
    secret.extend([visa.clone(), bad_luhn.clone(), too_long.clone()]);
    let bodies: Vec<(String, u16, &str)> = vec![
        (card_body(&alice, &bad_luhn).to_string(), 400, "invalid_pan_checksum"),
        (card_body(&alice, &too_short).to_string(), 400, "invalid_pan_length"),
        (card_body(&alice, &too_long).to_string(), 400, "invalid_pan_length"),
        (card_body(&alice, &format!("{visa}x")).to_string(), 400, "invalid_pan"),
        (
            json!({"subject_id": alice, "pan": visa, "exp_month": 12, "exp_year": 2030, "cvv": "123"}).to_string(),
            400,
            "security_code_not_accepted",
        ),
        (
            json!({"subject_id": alice, "pan": visa, "exp_month": 1, "exp_year": 2020}).to_string(),
            400,
            "card_expired",
        ),
        (
            json!({"subject_id": alice, "pan": visa, "exp_month": 12, "exp_year": 2030, "note": visa}).to_string(),
            400,
            "unknown_field",
        ),
        (
            json!({"subject_id": alice, "pan": visa, "exp_month": 12, "exp_year": 2030, visa.clone(): 1}).to_string(),
            400,
            "unknown_field",
        ),
        (
            format!(r#"{{"subject_id":"{alice}","pan":{visa},"exp_month":12,"exp_year":2030}}"#),
            400,
            "invalid_pan",
        ),
        (
            format!(r#"{{"subject_id":"{alice}","pan":"{visa}","exp_month":12,"exp_year":"#),
            400,
            "malformed_json",
        ),
        (
            format!(r#"{{"subject_id":"{alice}","pan":"{visa}" "exp_month":12}}"#),
            400,
            "malformed_json",
        ),
        (
            format!(r#"{{"subject_id":"{alice}","pan":"{visa}","exp_month":{visa},"exp_year":2030}}"#),
            400,
            "invalid_expiry",
        ),
        (
            json!({"subject_id": visa, "pan": visa, "exp_month": 12, "exp_year": 2030}).to_string(),
            400,
            "invalid_subject_id",
        ),
        (
            json!({"subject_id": "0193a4b2-0000-7000-8000-000000000000", "pan": visa, "exp_month": 12, "exp_year": 2030}).to_string(),
            404,
            "subject_not_found",
        ),
        (
            json!({"subject_id": alice, "pan": visa, "exp_month": 12, "exp_year": 2030, "holder": format!("a\u{7}{visa}")}).to_string(),
            400,
            "invalid_holder",
        ),
    ];
    for (body, status, code) in &bodies {
        let r = s.req("POST", "/v1/cards", Some(body), &[]);
        assert_eq!(
            (r.status, r.code()),
            (*status, *code),
            "{body} -> {}",
            r.text
        );
        responses.push(r);
    }
    // A number where a token belongs.
    for path in [
        format!("/v1/cards/{visa}"),
        format!("/v1/cards/{visa}/detokenize"),
    ] {
        let method = if path.ends_with("detokenize") {
            "POST"
        } else {
            "GET"
        };
        let r = s.req(method, &path, None, &[]);
        // The operator's detokenize is refused before any lookup; a read finds nothing.
        let want = if method == "POST" {
            (403, "detokenize_denied")
        } else {
            (404, "card_not_found")
        };
        assert_eq!((r.status, r.code()), want, "{}", r.text);
        responses.push(r);
        let r = s.req("DELETE", &format!("/v1/cards/{visa}"), None, &[]);
        assert_eq!(r.status, 404);
        responses.push(r);
    }
    // Nothing of the refused requests was stored: ten cards for alice, ten for bob.
    assert_eq!(count(&s, "data.db", "cards"), 20);
    assert_eq!(count(&s, "keys.db", "card_keys"), 20);

    let texts: Vec<&str> = responses.iter().map(|r| r.text.as_str()).collect();
    assert!(texts.len() > 50);
    for phase in ["running", "stopped"] {
        if phase == "stopped" {
            assert_eq!(s.terminate(), 0);
        }
        let files = all_files(&s.dir);
        assert!(files.iter().any(|f| f.ends_with("keys.db")));
        let key_file = s.dir.with_extension("key");
        let mut scanned = files.clone();
        if key_file.exists() {
            scanned.push(key_file);
        }
        for f in &scanned {
            let bytes = std::fs::read(f).unwrap();
            for p in &secret {
                for n in needles(p) {
                    assert!(
                        !find(&bytes, &n),
                        "{phase}: `{n}` of a card number in {}",
                        f.display()
                    );
                }
            }
        }
    }
    let logs = format!("{}\n{}", s.logs(), s.stdout());
    assert!(logs.contains("listening on"), "stdout captured");
    for p in &secret {
        for n in needles(p) {
            assert!(
                !logs.contains(&n),
                "`{n}` of a card number in the server's output"
            );
            for t in &texts {
                assert!(!t.contains(&n), "`{n}` of a card number in a response: {t}");
            }
        }
    }
    // The scan is not blind: it finds a number written in the clear.
    assert!(find(
        format!("xx{}yy", secret[0]).as_bytes(),
        &windows(&secret[0])[3]
    ));
}

#[test]
fn every_security_code_spelling_is_refused_and_nothing_is_stored() {
    let s = start();
    let id = s.create(&full_subject());
    let keys_before = count(&s, "keys.db", "data_keys");
    let spellings = [
        "cvv",
        "CVV",
        "cvc",
        "CVC",
        "csc",
        "cvv2",
        "CVV2",
        "cvc2",
        "cid",
        "CID",
        "cvn",
        "cav2",
        "security_code",
        "securityCode",
        "Security-Code",
        "card_security_code",
        "card_verification_value",
        "cardVerificationValue",
        "card_verification_code",
        "verification_code",
        "card_cvv",
        "cvvNumber",
        "cc_cvc",
    ];
    let mut n = 0;
    for name in spellings {
        for value in [json!("123"), json!(123), json!(null), json!("")] {
            let mut body = card_body(&id, "4111 1111 1111 1111");
            body[name] = value.clone();
            let r = tokenize(&s, &body);
            assert_eq!(
                (r.status, r.code()),
                (400, "security_code_not_accepted"),
                "{name}={value}: {}",
                r.text
            );
            assert!(
                r.body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("not accepted")
            );
            n += 1;
        }
        // Nested, or in an array, anywhere in the body.
        for body in [
            json!({"subject_id": id, "pan": "4111111111111111", "exp_month": 12, "exp_year": 2030, "card": {name: "123"}}),
            json!({"subject_id": id, "pan": "4111111111111111", "exp_month": 12, "exp_year": 2030, "extra": [{name: "123"}]}),
            json!({name: "123"}),
        ] {
            let r = tokenize(&s, &body);
            assert_eq!(
                (r.status, r.code()),
                (400, "security_code_not_accepted"),
                "{body}"
            );
            n += 1;
        }
    }
    assert_eq!(count(&s, "data.db", "cards"), 0);
    assert_eq!(count(&s, "keys.db", "card_keys"), 0);
    assert_eq!(count(&s, "keys.db", "card_lookup"), 0);
    assert_eq!(count(&s, "keys.db", "data_keys"), keys_before, "no new key");
    // Each refusal is an access event.
    let refused = {
        let c = rusqlite::Connection::open(s.dir.join("data.db")).unwrap();
        let mut st = c.prepare("SELECT leaf FROM audit_log").unwrap();
        st.query_map([], |r| r.get::<_, Vec<u8>>(0))
            .unwrap()
            .map(Result::unwrap)
            .filter(|l| find(l, "error:security_code_not_accepted"))
            .count()
    };
    assert_eq!(refused, n);
    // The same body without the code is accepted.
    let ok = tokenize(&s, &card_body(&id, "4111 1111 1111 1111"));
    assert_eq!(ok.status, 201, "{}", ok.text);
}

#[test]
fn card_lifecycle_tokens_metadata_record_and_erasure() {
    let s = start();
    let a = s.create(&full_subject());
    let mut other = full_subject();
    other["fields"]["login_id"] = json!("suzuki");
    other["fields"]["email"] = json!("suzuki@example.jp");
    let b = s.create(&other);

    let first = tokenize(&s, &card_body(&a, "5555 5555 5555 4444"));
    assert_eq!(first.status, 201);
    let token = first.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        first.body,
        json!({"token": token, "subject_id": a, "brand": "mastercard", "last4": "4444", "exp_month": 12, "exp_year": 2030})
    );
    assert!(token.starts_with("ct_") && token.len() == 29);
    assert!(!kura_cards::luhn_valid(&token));
    // Same card, same subject: same token, and the same status and body shape as a new
    // card (issue 13: the status is no oracle). Other subject: another token.
    let again = tokenize(&s, &card_body(&a, "5555-5555-5555-4444"));
    assert_eq!(
        (again.status, again.body["token"].as_str()),
        (201, Some(token.as_str()))
    );
    assert_eq!(again.body, first.body);
    let theirs = tokenize(&s, &card_body(&b, "5555555555554444"));
    assert_eq!(theirs.status, 201);
    assert_ne!(theirs.body["token"], json!(token));

    let m = s.get(&format!("/v1/cards/{token}"));
    assert_eq!(m.status, 200);
    assert_eq!(m.body["last4"], "4444");
    // The record lists the subject's tokens as its payment_card field.
    let rec = s.get(&format!("/v1/collections/accounts/subjects/{a}"));
    assert_eq!(rec.body["fields"]["payment_cards"], json!(token));
    // ...which cannot be written through the subject routes.
    let w = s.req(
        "PATCH",
        &format!("/v1/collections/accounts/subjects/{a}"),
        Some(&json!({"fields": {"payment_cards": "ct_x"}}).to_string()),
        &[],
    );
    assert_eq!((w.status, w.code()), (400, "invalid_value"));

    // Operators never detokenize, whatever the purpose.
    for purpose in ["charge", "billing", "support"] {
        let d = s.req(
            "POST",
            &format!("/v1/cards/{token}/detokenize"),
            None,
            &[("X-Kura-Purpose", purpose)],
        );
        assert_eq!(
            (d.status, d.code()),
            (403, "detokenize_denied"),
            "{purpose}"
        );
        assert!(d.body.get("pan").is_none());
    }
    // Purpose and key are still required.
    let d = s.req(
        "POST",
        &format!("/v1/cards/{token}/detokenize"),
        None,
        &[("X-Kura-Purpose", "")],
    );
    assert_eq!(d.status, 400);
    let d = s.req(
        "GET",
        &format!("/v1/cards/{token}"),
        None,
        &[("Authorization", "")],
    );
    assert_eq!(d.status, 401);

    // DELETE one card.
    let t2 = tokenize(&s, &card_body(&a, "4242 4242 4242 4242")).body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let del = s.req("DELETE", &format!("/v1/cards/{t2}"), None, &[]);
    assert_eq!(del.status, 200, "{}", del.text);
    assert_eq!(s.get(&format!("/v1/cards/{t2}")).code(), "card_not_found");
    assert_eq!(count(&s, "keys.db", "card_keys"), 2);

    // Erasing the subject erases its cards: metadata, secrets, lookup.
    let e = s.req(
        "DELETE",
        &format!("/v1/collections/accounts/subjects/{a}"),
        None,
        &[],
    );
    assert_eq!(e.status, 200);
    let m = s.get(&format!("/v1/cards/{token}"));
    assert_eq!((m.status, m.code()), (404, "card_not_found"));
    let d = s.req(
        "POST",
        &format!("/v1/cards/{token}/detokenize"),
        None,
        &[("X-Kura-Purpose", "charge")],
    );
    // The operator may never detokenize: refused before the token is looked up, so a
    // deleted token and a live one answer alike (issue 13).
    assert_eq!((d.status, d.code()), (403, "detokenize_denied"));
    assert_eq!(count(&s, "data.db", "cards"), 1);
    assert_eq!(count(&s, "keys.db", "card_keys"), 1);
    assert_eq!(count(&s, "keys.db", "card_lookup"), 1);
    // Bob's card is untouched.
    let tb = theirs.body["token"].as_str().unwrap();
    assert_eq!(s.get(&format!("/v1/cards/{tb}")).status, 200);
    // Tokenizing for an erased subject is a 404.
    let r = tokenize(&s, &card_body(&a, "5555555555554444"));
    assert_eq!((r.status, r.code()), (404, "subject_not_found"));
}
