//! Applying a decided [`Mode`] to one opened field value.

use kura_crypto::SecretKey;
use kura_model::FieldDef;
use kura_model::normalize::normalize;
use zeroize::Zeroizing;

use crate::{Mode, mask, token};

/// Presents one opened value in `mode`: the value itself (`plain`), its category's mask
/// (`masked`, the field's own [`kura_model::MaskRule`] or its category's default), the keyed
/// token of its normalized form (`token`: spellings that find each other in a search get one
/// token), or nothing (`denied`). This is the one place a mode is applied: the vault calls it
/// for every field it returns. `country` is the subject's country (used by the
/// postal-address mask); `token_key` is the key of the caller's token domain (see
/// [`crate::token`]).
///
/// The returned string holds personal data in `plain` (and partly in `masked`) mode; the
/// caller zeroizes it after use, as it does the opened value.
pub fn present(
    mode: Mode,
    collection: &str,
    field: &FieldDef,
    value: &str,
    country: &str,
    token_key: &SecretKey,
) -> Option<String> {
    match mode {
        Mode::Plain => Some(value.to_owned()),
        Mode::Masked => Some(mask(field.mask_rule(), value, country)),
        Mode::Token => {
            let n = Zeroizing::new(normalize(field.category, value));
            Some(token(token_key, collection, &field.name, &n))
        }
        Mode::Denied => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kura_model::Schema;

    #[test]
    fn each_mode() {
        let s = Schema::builtin();
        let c = s.collection("accounts").unwrap();
        let email = c.field("email").unwrap();
        let k = SecretKey::from_bytes([1; 32]);
        let v = "taro@example.com";
        let p = |m| present(m, "accounts", email, v, "JP", &k);
        assert_eq!(p(Mode::Plain).as_deref(), Some(v));
        assert_eq!(p(Mode::Masked).as_deref(), Some("t***@example.com"));
        assert!(p(Mode::Token).unwrap().starts_with("tok_"));
        // Spellings that normalize alike share a token.
        assert_eq!(
            p(Mode::Token),
            present(
                Mode::Token,
                "accounts",
                email,
                " TARO@example.com",
                "JP",
                &k
            )
        );
        assert_eq!(p(Mode::Denied), None);
        let addr = c.field("postal_address").unwrap();
        assert_eq!(
            present(Mode::Masked, "accounts", addr, "東京都港区", "JP", &k).as_deref(),
            Some("東京都")
        );
        let gender = c.field("gender").unwrap();
        assert_eq!(
            present(Mode::Masked, "accounts", gender, "female", "JP", &k).as_deref(),
            Some("***")
        );
    }
}
