//! The vocabulary every other kura crate speaks: collections and their fields, field
//! categories, the configuration file, and the checks that turn raw input into values the
//! vault may seal.
//!
//! This crate does no IO and holds no secrets. It exists so that the rules about *what* a
//! field is (its category, whether it may be searched, how it is masked) live in one place and
//! are checked once, at start-up, before any data is touched.
//!
//! # Invariants
//! - A [`Schema`] that exists has passed [`Schema::validate`]: names are unique and well
//!   formed, and no low-entropy field (birth date, gender, any enum) is searchable, because a
//!   blind index over a small domain can be reversed by enumerating the domain.
//! - Values accepted by [`FieldDef::check_value`] are in the field's declared type; error
//!   messages name the field, never the value.
//!
//! ```
//! let schema = kura_model::Schema::builtin();
//! let accounts = schema.collection("accounts").expect("the built-in schema has accounts");
//! assert!(accounts.field("email").expect("email exists").searchable);
//! ```
#![deny(missing_docs)]

mod config;
mod country;
mod error;
pub mod normalize;
mod principal;
mod schema;
mod subject;

pub use config::{
    AuditConfig, Config, ContainmentConfig, KeyProviderKind, KeysConfig, Pkcs11Settings,
    ServerConfig, StoreConfig, Synchronous, WitnessSettings,
};
pub use country::{is_country_code, validate_country, validate_locale};
pub use error::ModelError;
pub use principal::{OrgRole, PrincipalType};
pub use schema::{Category, Collection, FieldDef, FieldType, MaskRule, Schema};
pub use subject::{is_valid_name, validate_purpose};
