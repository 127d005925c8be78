//! The one way a breach notice learns where to go: [`Vault::notice_addresses`] opens the
//! e-mail field of a batch of subjects, after the policy allowed it and after one
//! `notice_send` access event per subject is durable.
//!
//! # Invariants and security properties
//! - Decided by [`kura_policy::decide`] like any read (`read` of the collection's first
//!   e-mail field, for the caller's purpose): a refusal is recorded and nothing is opened.
//! - Log before read: the events are handed to the caller's `record` (which writes them in
//!   the same transaction as its own state, the campaign's delivery claims) and the
//!   addresses are opened only once `record` returned `Ok`. A crash in between leaves an
//!   event for an address never read — never an address read without an event.
//! - Only the e-mail field is opened; no other value leaves the vault here. A subject whose
//!   key is shredded is absent from the store's answer already and gets nothing.

use kura_audit::Action as EventAction;
use kura_crypto::FieldContext;
use kura_model::Category;
use kura_policy::Action;
use kura_store::{AuditLeaf, StoreError, StoredSubject};
use uuid::Uuid;
use zeroize::{Zeroize, Zeroizing};

use crate::{Access, Vault, VaultError};

/// One subject's notice address.
pub struct NoticeAddress {
    /// Internal id.
    pub iid: u64,
    /// Public id.
    pub id: Uuid,
    /// The address on file; `None` when the subject has none (the notice then falls to the
    /// substitute public notice).
    pub address: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for NoticeAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoticeAddress")
            .field("iid", &self.iid)
            .field("has_address", &self.address.is_some())
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// The first e-mail field of `collection`, if it has one.
    ///
    /// # Errors
    /// [`VaultError::Invalid`] for an unknown collection.
    pub fn email_field(&self, collection: &str) -> Result<Option<String>, VaultError> {
        Ok(self
            .collection(collection)?
            .fields
            .iter()
            .find(|f| f.category == Category::Email)
            .map(|f| f.name.clone()))
    }

    /// Opens the e-mail address of each of `subjects` (all of one collection) to send them a
    /// notice. One `notice_send` event per subject (request id: `access.request_id`, the
    /// campaign) is passed to `record`, which must write them durably — with whatever state
    /// the caller keeps, in one transaction — before anything is opened (see the module's
    /// invariants). Returns one entry per subject, in order.
    ///
    /// # Errors
    /// [`VaultError::Denied`] (recorded); `record`'s store error (nothing opened);
    /// integrity and key errors for a damaged row.
    pub fn notice_addresses(
        &self,
        access: &Access,
        collection: &str,
        subjects: &[StoredSubject],
        record: &mut dyn FnMut(&[AuditLeaf]) -> Result<(), StoreError>,
    ) -> Result<Vec<NoticeAddress>, VaultError> {
        self.contact_addresses(
            access,
            EventAction::NoticeSend,
            collection,
            subjects,
            record,
        )
    }

    /// As [`Vault::notice_addresses`], recording `action` instead of `notice_send`: the one
    /// way kura opens an address on file to write to its owner (breach notices, the
    /// one-time tokens and receipts of data-subject requests, retention reconfirmations).
    ///
    /// # Errors
    /// As [`Vault::notice_addresses`].
    pub fn contact_addresses(
        &self,
        access: &Access,
        action: EventAction,
        collection: &str,
        subjects: &[StoredSubject],
        record: &mut dyn FnMut(&[AuditLeaf]) -> Result<(), StoreError>,
    ) -> Result<Vec<NoticeAddress>, VaultError> {
        let field = self.email_field(collection)?;
        let base = self.event(access, action, collection);
        if let Some(f) = &field {
            self.decide(
                access,
                Action::Read,
                collection,
                Some(std::slice::from_ref(f)),
                None,
            )
            .map_err(|e| self.refused(base.clone().with_fields([f.as_str()]), e))?;
        }
        let mut leaves = Vec::with_capacity(subjects.len());
        for s in subjects {
            if s.collection != collection {
                // Not a subject of this collection: as if absent from it.
                return Err(VaultError::NotFound(s.id.to_string()));
            }
            let ev = base
                .clone()
                .with_subjects([s.iid])
                .with_fields(field.as_deref());
            leaves.extend(self.leaves(&ev)?);
        }
        record(&leaves)?;
        use rayon::prelude::*;
        subjects
            .par_iter()
            .map(|s| {
                let address = match &field {
                    Some(f) => self.open_one(s, f)?,
                    None => None,
                };
                Ok(NoticeAddress {
                    iid: s.iid,
                    id: s.id,
                    address,
                })
            })
            .collect()
    }

    /// Opens one field of a stored subject (after checking the row's manifest).
    fn open_one(
        &self,
        stored: &StoredSubject,
        name: &str,
    ) -> Result<Option<Zeroizing<String>>, VaultError> {
        let cipher = self.cipher_for(stored)?;
        let (sealed, _) = self.open_row(stored, &cipher)?;
        self.open_sealed(stored, &cipher, &sealed, name)
    }
}

/// The context a remediation code is sealed under: bound to the vault, the region and the
/// provider, so a sealed code moved to another region's stock fails to open.
fn code_ctx<'a>(vault_id: &'a [u8; 16], region: &'a str, provider: &'a str) -> FieldContext<'a> {
    FieldContext {
        vault_id,
        collection: region,
        subject: &[0; 16],
        field: provider,
        key_version: 1,
    }
}

impl Vault {
    /// Seals one remediation-offer code of `region` and `provider` for the store, with the
    /// keyed hash that finds it if imported again: `(hash, sealed)`. Neither reveals the
    /// code without the key provider.
    ///
    /// # Errors
    /// Cryptographic failures.
    pub fn seal_remediation_code(
        &self,
        region: &str,
        provider: &str,
        code: &str,
    ) -> Result<([u8; 32], Vec<u8>), VaultError> {
        let id = self.vault_id();
        let mut keyed = Vec::with_capacity(region.len() + code.len() + 1);
        keyed.extend_from_slice(region.as_bytes());
        keyed.push(0);
        keyed.extend_from_slice(code.as_bytes());
        let hash = self.remediation.1.hash(&keyed);
        keyed.zeroize();
        let sealed = self
            .remediation
            .0
            .seal(&code_ctx(&id, region, provider), code.as_bytes())?;
        Ok((hash, sealed))
    }

    /// Opens a code sealed by [`Self::seal_remediation_code`].
    ///
    /// # Errors
    /// [`VaultError::Integrity`] when it was altered or moved to another region or provider.
    pub fn open_remediation_code(
        &self,
        region: &str,
        provider: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<String>, VaultError> {
        let id = self.vault_id();
        let integrity = || VaultError::Integrity {
            subject: format!("remediation code ({region})"),
            field: provider.to_owned(),
        };
        let plain = self
            .remediation
            .0
            .open(&code_ctx(&id, region, provider), sealed)
            .map_err(|_| integrity())?;
        let text = String::from_utf8(plain.to_vec()).map_err(|_| integrity())?;
        Ok(Zeroizing::new(text))
    }
}
