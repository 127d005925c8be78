//! C2SP transparency-log checkpoints (<https://c2sp.org/tlog-checkpoint>):
//! the signed tree head of a log, as the text of a signed note.
//!
//! ```text
//! <origin>
//! <tree size, decimal, no leading zeros>
//! <root hash, standard base64>
//! [extension lines…]
//! ```
//!
//! Parsing is strict (§ "Note text"): at least three lines, every line
//! non-empty, a canonical decimal size, a canonical base64 32-byte root, the
//! text ending in one newline. Formatting produces exactly what parsing
//! accepts, so `parse(format(c)) == c` and `format(parse(t)) == t`.
//!
//! Signing and opening go through [`crate::note`]. Left out: witness
//! cosignatures (c2sp.org/tlog-cosignature).

use crate::TlogError;
use crate::hash::Hash;
use crate::note::{NoteSigner, NoteVerifier, open_note};

/// A checkpoint body: origin, tree size, root hash and extension lines.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

fn check_line(line: &str) -> Result<(), TlogError> {
    if line.is_empty() {
        return Err(TlogError::MalformedCheckpoint("empty line"));
    }
    if line.chars().any(|c| c < ' ') {
        return Err(TlogError::MalformedCheckpoint("control character"));
    }
    Ok(())
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    ///
    /// # Errors
    /// [`TlogError::MalformedCheckpoint`] if the origin is empty or holds a
    /// control character (including newline).
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, TlogError> {
        Self::with_extensions(origin, size, root, Vec::new())
    }

    /// A checkpoint with extension lines (NOT RECOMMENDED by the spec).
    ///
    /// # Errors
    /// [`TlogError::MalformedCheckpoint`] if the origin or an extension line is
    /// empty or holds a control character.
    pub fn with_extensions(
        origin: &str,
        size: u64,
        root: Hash,
        extensions: Vec<String>,
    ) -> Result<Self, TlogError> {
        check_line(origin)?;
        for e in &extensions {
            check_line(e)?;
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// The log's origin line.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash at that size.
    #[must_use]
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The extension lines.
    #[must_use]
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// Parses checkpoint note text (the text of the note, not the signed note).
    ///
    /// # Errors
    /// [`TlogError::MalformedCheckpoint`].
    pub fn parse(text: &str) -> Result<Self, TlogError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(TlogError::MalformedCheckpoint("text must end in a newline"))?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(TlogError::MalformedCheckpoint("fewer than three lines"));
        };
        check_line(origin)?;
        let size = parse_size(size)?;
        let root = Hash::from_base64(root)
            .map_err(|_| TlogError::MalformedCheckpoint("root hash is not 32 bytes of base64"))?;
        let extensions = lines
            .map(|l| check_line(l).map(|()| l.to_owned()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// Formats the checkpoint note text.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for e in &self.extensions {
            out.push_str(e);
            out.push('\n');
        }
        out
    }

    /// Signs the checkpoint as a note.
    ///
    /// # Errors
    /// As [`crate::sign_note`] (not expected for a valid checkpoint).
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, TlogError> {
        signer.sign(&self.to_text())
    }

    /// Opens a signed checkpoint: the note must carry a valid signature by
    /// `verifier`, and its text must parse. Other signatures (witnesses,
    /// rotated keys) are ignored as the spec requires.
    ///
    /// # Errors
    /// Any error of [`crate::open_note`], or [`TlogError::MalformedCheckpoint`].
    pub fn open(signed: &[u8], verifier: &NoteVerifier) -> Result<Self, TlogError> {
        let note = open_note(signed, std::slice::from_ref(verifier))?;
        Self::parse(&note.text)
    }
}

fn parse_size(s: &str) -> Result<u64, TlogError> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if !canonical {
        return Err(TlogError::MalformedCheckpoint(
            "tree size is not canonical decimal",
        ));
    }
    s.parse::<u64>()
        .map_err(|_| TlogError::MalformedCheckpoint("tree size overflows"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::empty_root;

    // The example in c2sp.org/tlog-checkpoint.
    const SPEC: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn parses_spec_example_and_round_trips() {
        let c = Checkpoint::parse(SPEC).unwrap();
        assert_eq!(c.origin(), "example.com/behind-the-sofa");
        assert_eq!(c.size(), 20_852_163);
        assert_eq!(c.to_text(), SPEC);
        let ext = format!("{SPEC}ext one\next two\n");
        let c = Checkpoint::parse(&ext).unwrap();
        assert_eq!(c.extensions(), ["ext one", "ext two"]);
        assert_eq!(c.to_text(), ext);
    }

    #[test]
    fn rejects_malformed() {
        let root = empty_root().to_base64();
        let bad = [
            String::new(),
            "o\n0\n".to_owned(),
            format!("o\n0\n{root}"),
            format!("\n0\n{root}\n"),
            format!("o\n00\n{root}\n"),
            format!("o\n01\n{root}\n"),
            format!("o\n+1\n{root}\n"),
            format!("o\n-1\n{root}\n"),
            format!("o\n 1\n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            "o\n1\nAAAA\n".to_owned(),
            format!("o\n1\n{}\n", root.trim_end_matches('=')),
            format!("o\n1\n{root}\n\n"),
            format!("o\n1\n{root}\next\n\n"),
            format!("o\n1\n{root}\n\next\n"),
            format!("o\t\n1\n{root}\n"),
            format!("o\r\n1\n{root}\n"),
        ];
        for b in &bad {
            assert!(Checkpoint::parse(b).is_err(), "accepted {b:?}");
        }
        assert_eq!(
            Checkpoint::parse(&format!("o\n0\n{root}\n"))
                .unwrap()
                .size(),
            0
        );
        assert!(Checkpoint::new("", 1, empty_root()).is_err());
        assert!(Checkpoint::new("a\nb", 1, empty_root()).is_err());
    }

    #[test]
    fn sign_and_open() {
        let signer = NoteSigner::from_seed("kura.example/audit", &[7u8; 32]).unwrap();
        let c = Checkpoint::new("kura.example/audit", 5, empty_root()).unwrap();
        let signed = c.sign(&signer).unwrap();
        assert_eq!(
            Checkpoint::open(signed.as_bytes(), &signer.verifier()).unwrap(),
            c
        );
        let other = NoteSigner::from_seed("kura.example/audit", &[8u8; 32]).unwrap();
        assert!(matches!(
            Checkpoint::open(signed.as_bytes(), &other.verifier()),
            Err(TlogError::NoKnownSignature)
        ));
        let tampered = signed.replacen("\n5\n", "\n6\n", 1);
        assert!(matches!(
            Checkpoint::open(tampered.as_bytes(), &signer.verifier()),
            Err(TlogError::InvalidSignature { .. })
        ));
    }
}
