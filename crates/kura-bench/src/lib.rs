//! The measurements behind `kura bench`, kept out of the product libraries (decision 0012):
//!
//! - [`pg_plain`]: plaintext PostgreSQL reads and searches, bare and with a group-committed
//!   audit row, beside kura's own on PostgreSQL (`kura bench --only pg-reads`);
//! - [`postgres`]: the PostgreSQL store beside a plaintext COPY baseline
//!   (`kura bench --only postgres`);
//! - [`scan`]: `kura scan`'s precision and recall per kind on the labelled corpus and its
//!   throughput on bulk text and CSV (`kura bench --only scan`);
//! - [`passwords`]: Argon2id verifications per core, the hashing pool under a login flood
//!   (the `bench-passwords` example);
//! - [`corpus`]: that labelled synthetic corpus (ja, en, de people with decoys), also used by
//!   `kura-scan`'s tests.
//!
//! Tooling, not a product library (`publish = false`): the binary calls it for `kura bench`;
//! no library depends on it except as a dev-dependency (kura-scan's tests use the corpus). It
//! reads the clock and writes temporary files; it reaches the crates it measures only through
//! their public APIs.
//!
//! **Invariant:** a given seed yields the same corpus byte for byte, so quality numbers are
//! comparable across runs and versions.
#![deny(missing_docs)]

pub mod corpus;
pub mod passwords;
pub mod pg_plain;
pub mod postgres;
pub mod scan;

/// An audit row of the size of kura's access event (who, why, what, which subject, when):
/// what the logged baselines of `kura bench` (SQLite and PostgreSQL) write per request.
pub fn audit_row(action: &str, iid: i64) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!(
        "{{\"t\":{now},\"p\":\"bench-principal\",\"why\":\"support\",\"a\":\"{action}\",\"c\":\"accounts\",\"s\":[{iid}],\"f\":8}}"
    )
    .into_bytes()
}
