//! Access policy for kura: who may do what with which fields, in which mode each field is
//! shown, and containment of bulk theft while it happens. Pure logic: no database, no
//! network, no clock (time is a parameter), so every rule is testable in isolation and the
//! server decides where state is kept.
//!
//! # Main types
//! - [`Policy`] (parsed from JSON or TOML as a [`PolicySpec`], checked against the
//!   [`kura_model::Schema`]): a collection, purposes, [`Action`]s, a [`Mode`] per field
//!   (`plain`, `masked`, `token`, `denied`; a field not named is denied), an optional
//!   [`Quota`].
//! - [`decide`]: given a principal's policies, the [`Principal`] and the [`Request`],
//!   returns [`Decision::Allow`] with the fields to open and the mode of each, or
//!   [`Decision::Deny`] with a stable [`DenyCode`] (`action_denied`, `purpose_denied`,
//!   `collection_denied`, `field_denied`, `not_own_subject`, `principal_suspended`).
//! - [`present`] applies a mode to an opened value: [`mask`] by category (e-mail, phone,
//!   name, postal region, birth year, login id, …), [`token`] (a keyed HMAC token that
//!   lets services join without seeing).
//! - Containment rules ([`Quota::admits`], [`Trigger`], [`DraftIncident`], the [`Canaries`]
//!   list): the request that would cross the quota, or touches a canary, is refused whole,
//!   the principal is suspended, and the draft incident lists exactly the subjects it
//!   obtained. The windows themselves live in the store, shared by every server.
//! - [`SupervisionBuilder`]: per-organization reports of what each principal did (requests,
//!   refusals by code, actions, purposes, distinct subjects, suspensions), canaries left out.
//!
//! # A read, in order
//! ```
//! use kura_model::Schema;
//! use kura_policy::{Action, Decision, Mode, Policy, Principal, PrincipalKind, Request, decide};
//!
//! let schema = Schema::builtin();
//! let accounts = schema.collection("accounts").expect("built in");
//! let policy = Policy::from_json(
//!     r#"{"collection":"accounts","purposes":["support"],"actions":["read","search"],
//!         "fields":{"name":"plain","email":"masked","phone":"masked","birth_date":"denied"},
//!         "quota":{"subjects":100,"window_secs":3600}}"#,
//!     &schema,
//! )?;
//! let principal = Principal { id: "svc-support", kind: PrincipalKind::Processor, suspended: false };
//! let request = Request {
//!     action: Action::Read, purpose: "support", collection: "accounts",
//!     fields: None, target: Some(42),
//! };
//! // 1. Policy: which fields, in which mode.
//! let Decision::Allow { fields } = decide(&[policy.clone()], &principal, &request, Some(accounts)) else {
//!     panic!("refused")
//! };
//! assert_eq!(fields[1], ("email".to_owned(), Mode::Masked));
//! // 2. Containment, once the subject's internal id is known and before returning data: the
//! //    store counts the window, under this rule.
//! let quota = policy.quota().expect("stated");
//! assert!(quota.admits(99, 1) && !quota.admits(100, 1));
//! // 3. Open the fields (kura-vault), then present each with `kura_policy::present`.
//! # Ok::<(), kura_policy::PolicyError>(())
//! ```
//!
//! # Invariants
//! - No IO and no clock read.
//! - A decision never returns a mode above the one granted, nor a `denied` field, nor
//!   allows an action, purpose or collection that no policy lists (property-tested).
//! - Errors and incidents carry names and internal ids, never a field value.
//! - A mask never slices inside a grapheme; a value a mask rule cannot parse shows `***`.
#![deny(missing_docs)]

mod containment;
mod decide;
mod error;
pub mod mask;
mod policy;
mod present;
mod supervision;
pub mod token;

pub use containment::{Canaries, DraftIncident, Trigger};
pub use decide::{
    CHARGE_PURPOSE, Decision, Principal, PrincipalKind, Request, decide, decide_restricted,
};
pub use error::{DenyCode, PolicyError};
pub use mask::{mask, region};
pub use policy::{Action, Mode, Policy, PolicySpec, Quota};
pub use present::present;
pub use supervision::{
    AccessRecord, OrganizationReport, PrincipalActivity, RecordOutcome, SupervisionBuilder,
};
pub use token::token;
