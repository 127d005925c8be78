//! The measurements behind `kura bench`, kept out of the product libraries (decision 0012):
//!
//! - [`postgres`]: the PostgreSQL store beside a plaintext COPY baseline
//!   (`kura bench --only postgres`).
//!
//! Tooling, not a product library (`publish = false`): the binary calls it for `kura bench`,
//! and nothing below the binary depends on it. It reads the clock and writes temporary files;
//! it reaches the crates it measures only through their public APIs.
#![deny(missing_docs)]

pub mod postgres;
