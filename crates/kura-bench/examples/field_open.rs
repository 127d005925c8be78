//! What one field open costs: kura's own `SubjectCipher::open` on values of 30, 200 and
//! 2,000 bytes (decision 0019, point 9). Compare the Poly1305 backends by building twice:
//!
//! ```text
//! cargo run --release -p kura-bench --example field_open                   # as shipped (portable Poly1305, .cargo/config.toml)
//! RUSTFLAGS=' ' cargo run --release -p kura-bench --example field_open --target-dir target/avx2   # the crate's default (AVX2 where available)
//! ```
//! (A set `RUSTFLAGS`, even a blank one, replaces the workspace's build flags.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use kura_crypto::SecretKey;
use kura_crypto::field::{FieldContext, SubjectCipher};

fn main() {
    let cipher = SubjectCipher::new(&SecretKey::from_bytes([7; 32]));
    let ctx = FieldContext {
        vault_id: &[1; 16],
        collection: "accounts",
        subject: &[2; 16],
        field: "postal_address",
        key_version: 1,
    };
    let iters = 400_000;
    for len in [30usize, 200, 2_000] {
        let sealed = cipher.seal(&ctx, &vec![b'x'; len]).expect("seal");
        let start = Instant::now();
        let mut total = 0usize;
        for _ in 0..iters {
            total += cipher.open(&ctx, &sealed).expect("open").len();
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(iters);
        println!("{len:>5} bytes: {ns:>6.0} ns per open ({total} bytes opened)");
    }
}
