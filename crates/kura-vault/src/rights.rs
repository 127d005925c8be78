//! What data-subject requests need from the vault (`kura_admin::rights` holds the rules):
//! finding a subject by an identifier without opening anything, the whole record of a
//! subject for an access request, the categories it holds, and events whose log index a
//! receipt proves.
//!
//! # Invariants and security properties
//! - [`Vault::find_for_request`] goes through the blind index only; it opens no field and
//!   returns the stored row to the caller inside kura — never to whoever supplied the
//!   identifier (the request's answer is the same whether or not it matched).
//! - [`Vault::export_subject`] is decided by [`kura_policy::decide`] (`export` of the
//!   collection) for the access it is given, honours restriction, and writes its event
//!   before anything is returned. Credential fields (password hashes) are never opened.

use std::collections::BTreeMap;

use kura_audit::AccessEvent;
use kura_model::Category;
use kura_policy::Action;
use kura_store::StoredSubject;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::{Access, Vault, VaultError};

/// How a request names its subject before identity is verified.
#[derive(Clone)]
pub enum Identifier {
    /// The subject's public id.
    Subject(Uuid),
    /// An e-mail address, matched through the blind index of the collection's first
    /// searchable e-mail field.
    Email(Zeroizing<String>),
    /// A login id, matched through the blind index of the first searchable login-id field.
    LoginId(Zeroizing<String>),
}

impl std::fmt::Debug for Identifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Identifier::Subject(_) => "Identifier::Subject",
            Identifier::Email(_) => "Identifier::Email",
            Identifier::LoginId(_) => "Identifier::LoginId",
        })
    }
}

/// A subject's whole record, opened for its own access request.
pub struct ExportedSubject {
    /// The stored row (country, locale, ids).
    pub stored: StoredSubject,
    /// Every field held, by name (credentials excluded; card tokens under the card field).
    pub fields: BTreeMap<String, Zeroizing<String>>,
    /// The index of the `rights_export` event in the access log.
    pub event_index: u64,
}

impl Vault {
    /// The access log's clock, in unix milliseconds.
    pub fn clock_ms(&self) -> u64 {
        self.now_ms()
    }

    /// Records `ev` and returns its index in the access log once durable.
    ///
    /// # Errors
    /// Audit failures; [`VaultError::Invalid`] never. A vault without a log cannot prove an
    /// event: [`VaultError::Store`] (`no_access_log`).
    pub fn record_event(&self, ev: &AccessEvent) -> Result<u64, VaultError> {
        match self.append(ev)? {
            Some(a) => Ok(a.index()),
            None => Err(VaultError::Store(kura_store::StoreError::Backend(
                "no access log: this vault cannot prove an event".into(),
            ))),
        }
    }

    /// Records several events consecutively in one group commit and returns their log
    /// indexes, in order, once durable.
    ///
    /// # Errors
    /// As [`Vault::record_event`].
    pub fn record_events(&self, evs: &[AccessEvent]) -> Result<Vec<u64>, VaultError> {
        let Some(a) = &self.audit else {
            return Err(VaultError::Store(kura_store::StoreError::Backend(
                "no access log: this vault cannot prove an event".into(),
            )));
        };
        if evs.is_empty() {
            return Ok(Vec::new());
        }
        Ok(a.appender
            .submit_many(evs)?
            .wait_all()?
            .iter()
            .map(kura_audit::Appended::index)
            .collect())
    }

    /// Records a refused or failed request (`denied:<code>` / `error:<code>`) and returns
    /// its error (or the audit error: fail closed).
    pub fn record_refusal(&self, ev: AccessEvent, err: VaultError) -> VaultError {
        self.refused(ev, err)
    }

    /// The event a request of `access` would record (time, principal, purpose, request id).
    pub fn event_for(
        &self,
        access: &Access,
        action: kura_audit::Action,
        collection: &str,
    ) -> AccessEvent {
        self.event(access, action, collection)
    }

    /// Loads the subject an unverified request names, through the blind index for an
    /// identifier (nothing is opened). `None` when nothing matches; the first match (in
    /// internal-id order) when several do.
    ///
    /// # Errors
    /// [`VaultError::Invalid`] for an unknown collection; store failures.
    pub fn find_for_request(
        &self,
        collection: &str,
        who: &Identifier,
    ) -> Result<Option<StoredSubject>, VaultError> {
        let c = self.collection(collection)?;
        let (category, value) = match who {
            Identifier::Subject(id) => return Ok(self.store().subject(collection, id)?),
            Identifier::Email(v) => (Category::Email, v),
            Identifier::LoginId(v) => (Category::LoginId, v),
        };
        let Some(field) = c
            .fields
            .iter()
            .find(|f| f.category == category && f.searchable)
        else {
            return Ok(None);
        };
        let Some(token) = self.blind_token(c, &field.name, value) else {
            return Ok(None);
        };
        match self
            .store()
            .search(collection, &token, 1)?
            .into_iter()
            .next()
        {
            Some(hit) => Ok(self.store().subject(collection, &hit.id)?),
            None => Ok(None),
        }
    }

    /// The categories of the fields `stored` holds (names from the sealed manifest; nothing
    /// is opened), each once, in the schema's order.
    ///
    /// # Errors
    /// [`VaultError::Invalid`] for an unknown collection; a damaged row.
    pub fn categories_held(&self, stored: &StoredSubject) -> Result<Vec<Category>, VaultError> {
        let c = self.collection(&stored.collection)?;
        let held = crate::held_field_names(&stored.fields)?;
        let mut out: Vec<Category> = Vec::new();
        for f in &c.fields {
            let has = held.iter().any(|h| h == &f.name)
                || (f.category == Category::PaymentCard
                    && !self.store().card_tokens(&stored.id)?.is_empty());
            if has && !out.contains(&f.category) {
                out.push(f.category);
            }
        }
        Ok(out)
    }

    /// Opens the whole record of `id` for its own access request, after the policy allowed
    /// `export` for `access` (refusals recorded) and with `ev` (`rights_export`, request id:
    /// the rights request) durable before anything is returned.
    ///
    /// # Errors
    /// [`VaultError::Denied`] (recorded), [`VaultError::NotFound`], integrity failures.
    pub fn export_subject(
        &self,
        access: &Access,
        collection: &str,
        id: &Uuid,
        ev: AccessEvent,
    ) -> Result<ExportedSubject, VaultError> {
        let mut iid = None;
        let mut inner =
            || -> Result<(StoredSubject, BTreeMap<String, Zeroizing<String>>), VaultError> {
                let c = self.collection(collection)?;
                self.decide(access, Action::Export, collection, None, Some(id))?;
                let stored = self.load(collection, id)?;
                iid = Some(stored.iid);
                self.check_restricted(access, Action::Export, &stored)?;
                self.touch(access, &[stored.iid])?;
                let mut fields = self.open_fields(c, &stored, None)?;
                self.add_card_tokens(c, &stored, None, &mut fields)?;
                Ok((stored, fields))
            };
        match inner() {
            Ok((stored, fields)) => {
                let names: Vec<String> = fields.keys().cloned().collect();
                let ev = ev.with_subjects([stored.iid]).with_fields(names);
                let event_index = self.record_event(&ev)?;
                Ok(ExportedSubject {
                    stored,
                    fields,
                    event_index,
                })
            }
            Err(e) => Err(self.refused(ev.with_subjects(iid), e)),
        }
    }
}
