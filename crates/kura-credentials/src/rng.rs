//! Randomness from the operating system's CSPRNG (salts, recovery tokens, the
//! dummy hash). The crate touches no file: reading and writing the
//! breached-password filter moved to `kura_admin::passwords` (issue 13).

use crate::error::{CredentialError, Result};

/// Fills `buf` from the operating system's CSPRNG.
///
/// # Errors
/// [`CredentialError::Rng`] if the generator fails; `buf` must then not be used.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|_| CredentialError::Rng)
}
