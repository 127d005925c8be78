//! Published test vectors, loaded from `testdata/` (see `testdata/SOURCE.md`):
//! RFC 6962 reference trees and proof probes from transparency-dev/merkle,
//! signed-note and tree-note vectors from golang.org/x/mod/sumdb, and the
//! C2SP spec examples.

// A test binary: helpers panic on bad data, which fails the test that called them.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kura_tlog::{
    Checkpoint, Frontier, Hash, NoteSigner, NoteVerifier, TlogError, consistency_proof_of,
    empty_root, hash_children, hash_leaf, inclusion_proof_of, open_note, parse_note_unverified,
    prove_consistency, prove_inclusion, root_of, sign_note, tree_hash, verify_consistency,
    verify_inclusion,
};
use serde::Deserialize;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

fn hx(s: &str) -> Hash {
    Hash::from_slice(&hex::decode(s).unwrap()).unwrap()
}

#[derive(Deserialize)]
struct RefInclusion {
    leaf_index: u64,
    tree_size: u64,
    proof: Vec<String>,
}

#[derive(Deserialize)]
struct RefConsistency {
    old_size: u64,
    new_size: u64,
    proof: Vec<String>,
}

#[derive(Deserialize)]
struct RefTree {
    leaf_inputs: Vec<String>,
    node_hashes: Vec<Vec<String>>,
    root_hashes: Vec<String>,
    inclusion_proofs: Vec<RefInclusion>,
    consistency_proofs: Vec<RefConsistency>,
}

fn ref_tree() -> RefTree {
    let text = std::fs::read_to_string(testdata().join("merkle/reference_tree.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn rfc6962_reference_tree_roots_nodes_and_proofs() {
    let t = ref_tree();
    let leaves: Vec<Hash> = t
        .leaf_inputs
        .iter()
        .map(|l| hash_leaf(&hex::decode(l).unwrap()))
        .collect();
    assert_eq!(t.root_hashes.len(), 9);
    assert_eq!(hx(&t.root_hashes[0]), empty_root());

    // Roots for every size, three ways: reference recursion, frontier, stored layout.
    let mut frontier = Frontier::new();
    let mut store = Vec::new();
    assert_eq!(frontier.root(), hx(&t.root_hashes[0]));
    for (n, want) in t.root_hashes.iter().enumerate().skip(1) {
        assert_eq!(root_of(&leaves[..n]), hx(want), "root_of size {n}");
        frontier.append(leaves[n - 1], &mut store).unwrap();
        assert_eq!(frontier.root(), hx(want), "frontier size {n}");
        assert_eq!(
            tree_hash(n as u64, &store).unwrap(),
            hx(want),
            "stored size {n}"
        );
    }

    // Every perfect subtree hash sits at its stored index.
    for (level, row) in t.node_hashes.iter().enumerate() {
        for (k, want) in row.iter().enumerate() {
            let idx = kura_tlog::stored_hash_index(level as u32, k as u64);
            assert_eq!(
                store[idx as usize],
                hx(want),
                "node level {level} index {k}"
            );
        }
    }
    // Level-0 node hashes are the leaf hashes.
    for (i, want) in t.node_hashes[0].iter().enumerate() {
        assert_eq!(leaves[i], hx(want));
    }
    // Sanity: level 1 node 0 is the hash of leaves 0 and 1.
    assert_eq!(
        hash_children(&leaves[0], &leaves[1]),
        hx(&t.node_hashes[1][0])
    );

    for p in &t.inclusion_proofs {
        let want: Vec<Hash> = p.proof.iter().map(|h| hx(h)).collect();
        let l = &leaves[..p.tree_size as usize];
        assert_eq!(inclusion_proof_of(l, p.leaf_index).unwrap(), want);
        assert_eq!(
            prove_inclusion(p.leaf_index, p.tree_size, &store).unwrap(),
            want
        );
        let root = hx(&t.root_hashes[p.tree_size as usize]);
        verify_inclusion(
            &leaves[p.leaf_index as usize],
            p.leaf_index,
            p.tree_size,
            &want,
            &root,
        )
        .unwrap();
    }
    for p in &t.consistency_proofs {
        let want: Vec<Hash> = p.proof.iter().map(|h| hx(h)).collect();
        let l = &leaves[..p.new_size as usize];
        assert_eq!(consistency_proof_of(l, p.old_size).unwrap(), want);
        assert_eq!(
            prove_consistency(p.old_size, p.new_size, &store).unwrap(),
            want
        );
        verify_consistency(
            p.old_size,
            p.new_size,
            &want,
            &hx(&t.root_hashes[p.old_size as usize]),
            &hx(&t.root_hashes[p.new_size as usize]),
        )
        .unwrap();
    }
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
    out.sort();
}

/// A base64 hash from a probe; `None` if it is not 32 bytes (then our typed
/// API cannot even receive it).
fn probe_hash(s: &str) -> Option<Hash> {
    Hash::from_slice(&STANDARD.decode(s).ok()?).ok()
}

fn probe_proof(v: &serde_json::Value) -> Option<Vec<Hash>> {
    match v {
        serde_json::Value::Null => Some(Vec::new()),
        serde_json::Value::Array(a) => a.iter().map(|h| probe_hash(h.as_str()?)).collect(),
        _ => None,
    }
}

#[test]
fn transparency_dev_inclusion_probes() {
    let mut files = Vec::new();
    json_files(&testdata().join("merkle/inclusion"), &mut files);
    assert_eq!(files.len(), 98, "probe files");
    let (mut ok, mut rejected) = (0, 0);
    for f in &files {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let want_err = v["wantErr"].as_bool().unwrap();
        let idx = v["leafIdx"].as_u64().unwrap();
        let size = v["treeSize"].as_u64().unwrap();
        let typed = (|| {
            Some((
                probe_hash(v["root"].as_str()?)?,
                probe_hash(v["leafHash"].as_str()?)?,
                probe_proof(&v["proof"])?,
            ))
        })();
        let result = match typed {
            Some((root, leaf, proof)) => verify_inclusion(&leaf, idx, size, &proof, &root).is_ok(),
            None => {
                assert!(
                    want_err,
                    "{}: expects success with non-32-byte hashes",
                    f.display()
                );
                false
            }
        };
        assert_eq!(result, !want_err, "{}", f.display());
        if result { ok += 1 } else { rejected += 1 }
    }
    assert!(ok >= 5 && rejected >= 80, "ok {ok} rejected {rejected}");
}

#[test]
fn transparency_dev_consistency_probes() {
    // Placeholder 15-byte roots that expect success: not expressible with typed hashes.
    const SKIP: &[&str] = &["sizes-are-equal-one-and-proof-is-empty.json"];
    let mut files = Vec::new();
    json_files(&testdata().join("merkle/consistency"), &mut files);
    assert_eq!(files.len(), 98, "probe files");
    let mut checked = 0;
    for f in &files {
        if SKIP.iter().any(|s| f.ends_with(s)) {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let want_err = v["wantErr"].as_bool().unwrap();
        let s1 = v["size1"].as_u64().unwrap();
        let s2 = v["size2"].as_u64().unwrap();
        let typed = (|| {
            Some((
                probe_hash(v["root1"].as_str()?)?,
                probe_hash(v["root2"].as_str()?)?,
                probe_proof(&v["proof"])?,
            ))
        })();
        let result = match typed {
            Some((r1, r2, proof)) => verify_consistency(s1, s2, &proof, &r1, &r2).is_ok(),
            None => {
                assert!(
                    want_err,
                    "{}: expects success with non-32-byte hashes",
                    f.display()
                );
                false
            }
        };
        assert_eq!(result, !want_err, "{}", f.display());
        checked += 1;
    }
    assert_eq!(checked, files.len() - SKIP.len());
}

#[derive(Deserialize)]
struct TreeNote {
    text: String,
    size: u64,
    root_is_leaf_hash_of: String,
    bad: Vec<String>,
}

#[derive(Deserialize)]
struct NoteVectors {
    peter_vkey: String,
    peter_skey: String,
    enoch_vkey: String,
    bad_vkeys: Vec<String>,
    text: String,
    peter_sig_line: String,
    enoch_sig_line: String,
    signed_by_peter: String,
    bad_messages: Vec<String>,
    bad_message_invalid_utf8_prefix_hex: String,
    tree_note: TreeNote,
    c2sp_checkpoint_example: String,
    c2sp_note_example: String,
}

fn note_vectors() -> NoteVectors {
    let text = std::fs::read_to_string(testdata().join("note/vectors.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The Ed25519 seed inside Go's `PRIVATE+KEY+name+id+base64(0x01||seed)`.
fn go_skey_seed(skey: &str) -> (String, u32, [u8; 32]) {
    let parts: Vec<&str> = skey.splitn(5, '+').collect();
    assert_eq!(&parts[..2], ["PRIVATE", "KEY"]);
    let raw = STANDARD.decode(parts[4]).unwrap();
    assert_eq!(raw[0], 1);
    (
        parts[2].to_owned(),
        u32::from_str_radix(parts[3], 16).unwrap(),
        raw[1..].try_into().unwrap(),
    )
}

#[test]
fn go_note_keys() {
    let v = note_vectors();
    let peter = NoteVerifier::from_verifier_key(&v.peter_vkey).unwrap();
    assert_eq!(peter.name(), "PeterNeumann");
    assert_eq!(peter.key_id(), 0xc74f_20a3);
    assert_eq!(peter.verifier_key(), v.peter_vkey);
    let (name, id, seed) = go_skey_seed(&v.peter_skey);
    let signer = NoteSigner::from_seed(&name, &seed).unwrap();
    assert_eq!(signer.key_id(), id);
    assert_eq!(signer.verifier_key(), v.peter_vkey);
    assert!(!format!("{signer:?}").contains(&hex::encode(seed)));

    for bad in &v.bad_vkeys {
        assert!(NoteVerifier::from_verifier_key(bad).is_err(), "{bad}");
    }
    // Go's mangling test: every proper substring and every single-byte bump fails.
    let b = v.peter_vkey.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if (i, j) != (0, b.len())
                && let Ok(s) = std::str::from_utf8(&b[i..j])
            {
                assert!(NoteVerifier::from_verifier_key(s).is_err(), "{s}");
            }
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] += 1;
        if let Ok(s) = std::str::from_utf8(&m) {
            assert!(NoteVerifier::from_verifier_key(s).is_err(), "{s}");
        }
    }
}

#[test]
fn go_note_sign_is_byte_exact() {
    let v = note_vectors();
    let (name, _, seed) = go_skey_seed(&v.peter_skey);
    let signer = NoteSigner::from_seed(&name, &seed).unwrap();
    assert_eq!(sign_note(&v.text, &[&signer]).unwrap(), v.signed_by_peter);
    assert!(matches!(
        sign_note("abc", &[&signer]),
        Err(TlogError::MalformedNote(_))
    ));
    assert!(matches!(
        sign_note(&v.text, &[&signer, &signer]),
        Err(TlogError::DuplicateSignature { .. })
    ));
}

#[test]
fn go_note_open() {
    let v = note_vectors();
    let peter = NoteVerifier::from_verifier_key(&v.peter_vkey).unwrap();
    let enoch = NoteVerifier::from_verifier_key(&v.enoch_vkey).unwrap();
    let both = format!("{}\n{}{}", v.text, v.peter_sig_line, v.enoch_sig_line);

    let n = open_note(both.as_bytes(), std::slice::from_ref(&peter)).unwrap();
    assert_eq!(n.text, v.text);
    assert_eq!(n.verified.len(), 1);
    assert_eq!(n.verified[0].key_id, 0xc74f_20a3);
    assert_eq!(n.unverified.len(), 1);
    assert_eq!(n.unverified[0].name, "EnochRoot");

    let n = open_note(both.as_bytes(), &[peter.clone(), enoch.clone()]).unwrap();
    assert_eq!(n.verified.len(), 2);
    assert!(n.unverified.is_empty());

    assert!(matches!(
        open_note(both.as_bytes(), &[]),
        Err(TlogError::NoKnownSignature)
    ));
    let only_enoch = format!("{}\n{}", v.text, v.enoch_sig_line);
    assert!(matches!(
        open_note(
            only_enoch.as_bytes(),
            &[enoch.clone(), peter.clone(), enoch.clone()]
        ),
        Err(TlogError::AmbiguousKey { .. })
    ));
    let only_peter = format!("{}\n{}", v.text, v.peter_sig_line);
    open_note(
        only_peter.as_bytes(),
        &[enoch.clone(), peter.clone(), enoch.clone()],
    )
    .unwrap();

    // Too many signatures.
    let many = format!("{}\n{}", v.text, v.peter_sig_line.repeat(101));
    assert!(open_note(many.as_bytes(), std::slice::from_ref(&peter)).is_err());
    assert!(open_note(many.as_bytes(), &[]).is_err());

    // Corrupted signature by a known key rejects the whole note.
    let s = &v.peter_sig_line;
    let corrupt = format!("{}\n{}ABCD{}", v.text, &s[..60], &s[60..]);
    assert!(matches!(
        open_note(corrupt.as_bytes(), std::slice::from_ref(&peter)),
        Err(TlogError::InvalidSignature { .. })
    ));

    // Duplicate signature by a known key: stricter than Go (which dedups), by design.
    let dup = format!("{}\n{}{}", v.text, v.peter_sig_line, v.peter_sig_line);
    assert!(matches!(
        open_note(dup.as_bytes(), std::slice::from_ref(&peter)),
        Err(TlogError::DuplicateSignature { .. })
    ));

    for bad in &v.bad_messages {
        assert!(
            matches!(
                open_note(bad.as_bytes(), std::slice::from_ref(&peter)),
                Err(TlogError::MalformedNote(_))
            ),
            "{bad:?}"
        );
    }
    let mut invalid = hex::decode(&v.bad_message_invalid_utf8_prefix_hex).unwrap();
    invalid.extend_from_slice(v.signed_by_peter.as_bytes());
    assert!(matches!(
        open_note(&invalid, std::slice::from_ref(&peter)),
        Err(TlogError::MalformedNote(_))
    ));

    // A signature naming a known key id under another name is an unknown key.
    let misnamed = only_peter.replace("PeterNeumann", "CarmenSandiego");
    assert!(matches!(
        open_note(misnamed.as_bytes(), std::slice::from_ref(&peter)),
        Err(TlogError::NoKnownSignature)
    ));
}

#[test]
fn go_tree_note_and_c2sp_examples() {
    let v = note_vectors();
    let c = Checkpoint::parse(&v.tree_note.text).unwrap();
    assert_eq!(c.origin(), "go.sum database tree");
    assert_eq!(c.size(), v.tree_note.size);
    assert_eq!(
        *c.root(),
        hash_leaf(v.tree_note.root_is_leaf_hash_of.as_bytes())
    );
    assert_eq!(c.to_text(), v.tree_note.text);
    for bad in &v.tree_note.bad {
        assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
    }
    assert!(Checkpoint::parse(&format!("{}JOE\n", v.tree_note.text)).is_ok());
    assert!(Checkpoint::parse(&format!("{}JOE", v.tree_note.text)).is_err());

    let (text, sigs) = parse_note_unverified(v.c2sp_checkpoint_example.as_bytes()).unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].name, "example.com/behind-the-sofa");
    assert_eq!(sigs[0].signature.len(), 64);
    let c = Checkpoint::parse(&text).unwrap();
    assert_eq!(c.size(), 20_852_163);

    let (text, sigs) = parse_note_unverified(v.c2sp_note_example.as_bytes()).unwrap();
    assert!(text.contains("\n\ned è subito sera.\n"));
    assert_eq!(sigs[0].name, "quasimodo.example/salvatore");
}
