//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys
//! (signature type `0x01`), modelled on Go's `golang.org/x/mod/sumdb/note`.
//!
//! A signed note is a text ending in a newline, a blank line, and one or more
//! signature lines `— <key name> base64(key id || signature)`. The key id is
//! `SHA-256(key name || 0x0A || 0x01 || public key)[:4]` read big-endian
//! (§ "Ed25519 signatures"). A verifier key string is
//! `<name>+<key id as 8 lowercase hex digits>+base64(0x01 || public key)`.
//!
//! Opening a note ([`open_note`]) enforces the format rules (§ "Format"): valid
//! UTF-8, no ASCII control character except newline, well-formed signature
//! lines, valid key names, at most [`MAX_SIGNATURES`] signatures. Signatures by
//! unknown keys are ignored, as the spec requires, and returned as
//! unverified. A signature by a known key must verify, a known key may sign
//! only once, and at least one known key must have signed.
//!
//! Secret keys: [`NoteSigner`] is built from a 32-byte Ed25519 seed supplied by
//! the key provider; the `ed25519-dalek` signing key it holds is zeroized on
//! drop, and neither `Debug` nor any other trait shows secret bytes.
//!
//! Left out: other signature types (ECDSA, cosignatures), and Go's
//! `PRIVATE+KEY+…` secret-key string (kura keeps seeds in its key provider).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::TlogError;

/// Signature type byte for Ed25519 (c2sp.org/signed-note § "Signature types").
pub const ALG_ED25519: u8 = 0x01;

/// Most signature lines [`open_note`] accepts (the spec asks for at least 16).
pub const MAX_SIGNATURES: usize = 100;

const SIG_PREFIX: &str = "\u{2014} ";

/// Whether `name` is a valid key name: non-empty, no Unicode space, no `+`.
#[must_use]
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// Splits a verifier key string `name+keyid+base64(alg||public key)` (c2sp.org/signed-note)
/// into its name, key id and 32-byte public key, checking the name, that the key id is 8
/// lowercase hex digits and that the signature type is `alg`. The caller checks that the
/// key id matches the key (its derivation depends on the type).
///
/// # Errors
/// [`TlogError::MalformedVerifierKey`] or [`TlogError::InvalidKeyName`].
pub(crate) fn split_verifier_key(vkey: &str, alg: u8) -> Result<(&str, u32, [u8; 32]), TlogError> {
    let mut parts = vkey.splitn(3, '+');
    let (Some(name), Some(id_hex), Some(key64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(TlogError::MalformedVerifierKey("expected name+keyid+key"));
    };
    if !is_valid_key_name(name) {
        return Err(TlogError::InvalidKeyName);
    }
    if id_hex.len() != 8
        || !id_hex
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(TlogError::MalformedVerifierKey(
            "key id is not 8 lowercase hex digits",
        ));
    }
    let id = u32::from_str_radix(id_hex, 16)
        .map_err(|_| TlogError::MalformedVerifierKey("key id is not hex"))?;
    let raw = STANDARD
        .decode(key64)
        .map_err(|_| TlogError::MalformedVerifierKey("key is not canonical base64"))?;
    let Some((&found, public)) = raw.split_first() else {
        return Err(TlogError::MalformedVerifierKey("empty key"));
    };
    if found != alg {
        return Err(TlogError::MalformedVerifierKey("unknown signature type"));
    }
    let public: [u8; 32] = public
        .try_into()
        .map_err(|_| TlogError::MalformedVerifierKey("ed25519 key must be 32 bytes"))?;
    Ok((name, id, public))
}

/// The Ed25519 key id: `SHA-256(name || 0x0A || 0x01 || public key)[:4]`,
/// big-endian.
#[must_use]
pub fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// An Ed25519 note signer: key name, key id and secret key.
///
/// The secret is zeroized on drop; the type is not `Clone` and its `Debug`
/// shows only the name and key id.
pub struct NoteSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl NoteSigner {
    /// A signer from a 32-byte Ed25519 seed (RFC 8032 secret key).
    ///
    /// # Errors
    /// [`TlogError::InvalidKeyName`].
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, TlogError> {
        if !is_valid_key_name(name) {
            return Err(TlogError::InvalidKeyName);
        }
        let key = SigningKey::from_bytes(seed);
        let key_id = key_id(name, key.verifying_key().as_bytes());
        Ok(Self {
            name: name.to_owned(),
            key_id,
            key,
        })
    }

    /// A fresh signer with a seed from the operating system's RNG. Returns the
    /// seed (zeroized on drop) so the caller can hand it to its key provider.
    ///
    /// # Errors
    /// [`TlogError::InvalidKeyName`] or [`TlogError::Random`].
    pub fn generate(name: &str) -> Result<(Self, Zeroizing<[u8; 32]>), TlogError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|_| TlogError::Random)?;
        let signer = Self::from_seed(name, &seed)?;
        Ok((signer, seed))
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    #[must_use]
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier.
    #[must_use]
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// The verifier key string, `name+keyid+base64(0x01||public key)`
    /// (what `kura audit key` prints).
    #[must_use]
    pub fn verifier_key(&self) -> String {
        self.verifier().verifier_key()
    }

    /// Signs `text` as a note with this key alone.
    ///
    /// # Errors
    /// As [`sign_note`].
    pub fn sign(&self, text: &str) -> Result<String, TlogError> {
        sign_note(text, &[self])
    }
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

/// An Ed25519 note verifier: key name, key id and public key.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// A verifier from a key name and a 32-byte Ed25519 public key.
    ///
    /// # Errors
    /// [`TlogError::InvalidKeyName`], or [`TlogError::MalformedVerifierKey`]
    /// if the bytes are not a valid curve point.
    pub fn from_public_key(name: &str, public_key: &[u8; 32]) -> Result<Self, TlogError> {
        if !is_valid_key_name(name) {
            return Err(TlogError::InvalidKeyName);
        }
        let key = VerifyingKey::from_bytes(public_key)
            .map_err(|_| TlogError::MalformedVerifierKey("invalid public key"))?;
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, public_key),
            key,
        })
    }

    /// Parses a verifier key string `name+keyid+base64(0x01||public key)`.
    /// The key id must be 8 lowercase hex digits and match the key.
    ///
    /// # Errors
    /// [`TlogError::MalformedVerifierKey`] or [`TlogError::InvalidKeyName`].
    pub fn from_verifier_key(vkey: &str) -> Result<Self, TlogError> {
        let (name, id, public) = split_verifier_key(vkey, ALG_ED25519)?;
        let public = &public;
        let v = Self::from_public_key(name, public)?;
        if v.key_id != id {
            return Err(TlogError::MalformedVerifierKey("key id does not match key"));
        }
        Ok(v)
    }

    /// The verifier key string.
    #[must_use]
    pub fn verifier_key(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(ALG_ED25519);
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, STANDARD.encode(raw))
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    #[must_use]
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The raw 32-byte Ed25519 public key.
    #[must_use]
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Checks an Ed25519 signature over `msg` (strict RFC 8032 verification).
    #[must_use]
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify_strict(msg, &sig).is_ok()
    }
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteVerifier({})", self.verifier_key())
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.verifier_key())
    }
}

impl std::str::FromStr for NoteVerifier {
    type Err = TlogError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_verifier_key(s)
    }
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key id.
    pub key_id: u32,
    /// The signature bytes after the key id.
    pub signature: Vec<u8>,
}

/// An opened note: its text and which signatures verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The note text, including its final newline.
    pub text: String,
    /// Signatures by known keys, all verified, in note order.
    pub verified: Vec<NoteSignature>,
    /// Signatures by unknown keys (ignored, not verified), in note order.
    pub unverified: Vec<NoteSignature>,
}

fn check_text_chars(text: &str) -> Result<(), TlogError> {
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(TlogError::MalformedNote("control character"));
    }
    Ok(())
}

/// Signs `text` with each signer and returns the signed note.
///
/// # Errors
/// [`TlogError::MalformedNote`] if the text is empty, does not end in a
/// newline or holds an ASCII control character other than newline, or if
/// there are no signers; [`TlogError::DuplicateSignature`] if two signers
/// share a name and key id.
pub fn sign_note(text: &str, signers: &[&NoteSigner]) -> Result<String, TlogError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(TlogError::MalformedNote("text must end in a newline"));
    }
    check_text_chars(text)?;
    if signers.is_empty() {
        return Err(TlogError::MalformedNote("no signers"));
    }
    let mut out = String::with_capacity(text.len() + 1 + signers.len() * 110);
    out.push_str(text);
    out.push('\n');
    for (i, s) in signers.iter().enumerate() {
        if signers[..i]
            .iter()
            .any(|o| o.name == s.name && o.key_id == s.key_id)
        {
            return Err(TlogError::DuplicateSignature {
                name: s.name.clone(),
                key_id: s.key_id,
            });
        }
        let sig = s.key.sign(text.as_bytes());
        let mut raw = Vec::with_capacity(4 + 64);
        raw.extend_from_slice(&s.key_id.to_be_bytes());
        raw.extend_from_slice(&sig.to_bytes());
        out.push_str(SIG_PREFIX);
        out.push_str(&s.name);
        out.push(' ');
        out.push_str(&STANDARD.encode(raw));
        out.push('\n');
    }
    Ok(out)
}

fn parse_signature_line(line: &str) -> Result<NoteSignature, TlogError> {
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or(TlogError::MalformedNote(
            "signature line must start with an em dash and space",
        ))?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or(TlogError::MalformedNote("signature line lacks a signature"))?;
    if !is_valid_key_name(name) {
        return Err(TlogError::MalformedNote("invalid key name"));
    }
    let raw = STANDARD
        .decode(b64)
        .map_err(|_| TlogError::MalformedNote("signature is not canonical base64"))?;
    if raw.len() < 5 {
        return Err(TlogError::MalformedNote("signature too short"));
    }
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
        signature: raw[4..].to_vec(),
    })
}

/// Parses a signed note without checking any signature. Only for display or
/// diagnostics: the text of an unverified note must not be trusted.
///
/// # Errors
/// [`TlogError::MalformedNote`] or [`TlogError::TooManySignatures`].
pub fn parse_note_unverified(msg: &[u8]) -> Result<(String, Vec<NoteSignature>), TlogError> {
    let msg = std::str::from_utf8(msg).map_err(|_| TlogError::MalformedNote("not utf-8"))?;
    check_text_chars(msg)?;
    let split = msg
        .rfind("\n\n")
        .ok_or(TlogError::MalformedNote("no blank line before signatures"))?;
    let (text, sigs) = (&msg[..=split], &msg[split + 2..]);
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(TlogError::MalformedNote(
            "signature block must end in a newline",
        ));
    }
    let lines: Vec<&str> = sigs[..sigs.len() - 1].split('\n').collect();
    if lines.len() > MAX_SIGNATURES {
        return Err(TlogError::TooManySignatures(MAX_SIGNATURES));
    }
    let sigs = lines
        .into_iter()
        .map(parse_signature_line)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((text.to_owned(), sigs))
}

/// Opens a signed note: checks its format and verifies every signature from a
/// key in `known`.
///
/// # Errors
/// [`TlogError::MalformedNote`], [`TlogError::TooManySignatures`],
/// [`TlogError::AmbiguousKey`] (two known verifiers share name and id and
/// that key signed), [`TlogError::InvalidSignature`],
/// [`TlogError::DuplicateSignature`], or [`TlogError::NoKnownSignature`].
pub fn open_note(msg: &[u8], known: &[NoteVerifier]) -> Result<Note, TlogError> {
    let (text, sigs) = parse_note_unverified(msg)?;
    let mut verified: Vec<NoteSignature> = Vec::new();
    let mut unverified: Vec<NoteSignature> = Vec::new();
    for sig in sigs {
        let mut matches = known
            .iter()
            .filter(|v| v.name == sig.name && v.key_id == sig.key_id);
        let Some(v) = matches.next() else {
            if !unverified.contains(&sig) {
                unverified.push(sig);
            }
            continue;
        };
        if matches.next().is_some() {
            return Err(TlogError::AmbiguousKey {
                name: sig.name,
                key_id: sig.key_id,
            });
        }
        if verified
            .iter()
            .any(|s| s.name == sig.name && s.key_id == sig.key_id)
        {
            return Err(TlogError::DuplicateSignature {
                name: sig.name,
                key_id: sig.key_id,
            });
        }
        if !v.verify(text.as_bytes(), &sig.signature) {
            return Err(TlogError::InvalidSignature {
                name: sig.name,
                key_id: sig.key_id,
            });
        }
        verified.push(sig);
    }
    if verified.is_empty() {
        return Err(TlogError::NoKnownSignature);
    }
    Ok(Note {
        text,
        verified,
        unverified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_key_zeroizes_on_drop() {
        fn assert_zeroize_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        // NoteSigner's only secret field.
        assert_zeroize_on_drop::<SigningKey>();
    }

    #[test]
    fn debug_hides_secret() {
        let seed = [0xabu8; 32];
        let s = NoteSigner::from_seed("k", &seed).unwrap();
        let dbg = format!("{s:?}");
        assert!(dbg.contains("NoteSigner") && dbg.contains("\"k\""));
        assert!(!dbg.to_lowercase().contains("abab"));
        assert!(!dbg.contains(&STANDARD.encode(seed)));
    }

    #[test]
    fn key_id_follows_the_spec_formula() {
        let s = NoteSigner::from_seed("example.com/log", &[9u8; 32]).unwrap();
        let pk = s.verifier().public_key();
        let mut h = Sha256::new();
        h.update(b"example.com/log\n\x01");
        h.update(pk);
        let d = h.finalize();
        assert_eq!(s.key_id(), u32::from_be_bytes([d[0], d[1], d[2], d[3]]));
        let vkey = s.verifier_key();
        assert!(vkey.starts_with(&format!("example.com/log+{:08x}+", s.key_id())));
        let v: NoteVerifier = vkey.parse().unwrap();
        assert_eq!(v, s.verifier());
        assert_eq!(v.to_string(), vkey);
        // Upper-case key ids are not canonical.
        let upper = vkey.replacen(
            &format!("{:08x}", s.key_id()),
            &format!("{:08X}", s.key_id()),
            1,
        );
        if upper != vkey {
            assert!(NoteVerifier::from_verifier_key(&upper).is_err());
        }
    }

    #[test]
    fn names_and_text_rules() {
        for bad in ["", "a b", "a+b", "a\u{3000}b", "a\tb"] {
            assert!(!is_valid_key_name(bad), "{bad:?}");
            assert!(NoteSigner::from_seed(bad, &[1; 32]).is_err());
        }
        let s = NoteSigner::from_seed("k", &[1; 32]).unwrap();
        assert!(s.sign("").is_err());
        assert!(s.sign("no newline").is_err());
        assert!(s.sign("tab\there\n").is_err());
        assert!(sign_note("x\n", &[]).is_err());
        // Text may hold blank lines and em-dash lines; the last blank line splits.
        let text = "a\n\n\u{2014} k AAAA\n";
        let signed = s.sign(text).unwrap();
        let n = open_note(signed.as_bytes(), &[s.verifier()]).unwrap();
        assert_eq!(n.text, text);
        // CR is a control character.
        let cr = signed.replacen('a', "\r", 1);
        assert!(matches!(
            open_note(cr.as_bytes(), &[s.verifier()]),
            Err(TlogError::MalformedNote(_))
        ));
    }

    #[test]
    fn generated_keys_work() {
        let (s, seed) = NoteSigner::generate("kura.example/audit").unwrap();
        let again = NoteSigner::from_seed("kura.example/audit", &seed).unwrap();
        assert_eq!(s.verifier(), again.verifier());
        let signed = s.sign("hello\n").unwrap();
        open_note(signed.as_bytes(), &[again.verifier()]).unwrap();
    }

    #[test]
    fn unknown_keys_sharing_name_or_id_are_ignored() {
        let a = NoteSigner::from_seed("log", &[1; 32]).unwrap();
        let b = NoteSigner::from_seed("log", &[2; 32]).unwrap();
        let signed = sign_note("t\n", &[&a, &b]).unwrap();
        let n = open_note(signed.as_bytes(), &[a.verifier()]).unwrap();
        assert_eq!(n.verified.len(), 1);
        assert_eq!(n.unverified.len(), 1);
        assert_eq!(n.unverified[0].key_id, b.key_id());
        // A wrong-length signature from a known key is invalid, not malformed.
        let line = format!(
            "t\n\n\u{2014} log {}\n",
            STANDARD.encode([&a.key_id().to_be_bytes()[..], &[0u8; 10]].concat())
        );
        assert!(matches!(
            open_note(line.as_bytes(), &[a.verifier()]),
            Err(TlogError::InvalidSignature { .. })
        ));
    }
}
