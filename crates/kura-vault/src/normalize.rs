//! Normalization before blind indexing and tokenizing: one implementation, in
//! [`kura_model::normalize`], re-exported here for the vault's callers.

pub use kura_model::normalize::normalize;
