//! Masking of found values: `kura scan` never prints, stores or returns a full value.
//!
//! Every finding leaves the detector already masked by [`mask`]; the raw value is only used
//! inside the detector (for validation and a keyed hash that counts distinct values).

use crate::kind::Kind;

/// Masks a value of the given kind.
///
/// Invariant: the result never equals the input and keeps at most four of its letters or
/// digits (the last four digits of a card, the country and last two characters of an IBAN,
/// the first character of each word of a name, and so on); separators are kept so a reader
/// can still see the shape.
pub fn mask(kind: Kind, value: &str) -> String {
    let masked = match kind {
        Kind::Email => mask_email(value),
        Kind::PaymentCard => keep_last_alnum(value, 4, 0),
        Kind::Iban => keep_last_alnum(value, 2, 2),
        Kind::Phone | Kind::UsSsn | Kind::JpMyNumber => keep_last_alnum(value, 2, 0),
        Kind::BirthDate => keep_last_alnum(value, 0, 0),
        Kind::PersonName => mask_words(value),
        Kind::PostalAddress => mask_prefix(value, 3),
        Kind::IpAddress => mask_ip(value),
        Kind::PasswordHash | Kind::Secret => mask_secret(value),
    };
    if masked == value {
        // Only reachable for values without letters or digits; never echo them.
        "***".to_owned()
    } else {
        masked
    }
}

fn mask_email(v: &str) -> String {
    let Some((local, domain)) = v.rsplit_once('@') else {
        return mask_prefix(v, 1);
    };
    let first = local.chars().next().unwrap_or('*');
    let (host, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
    let hfirst = host.chars().next().unwrap_or('*');
    format!("{first}***@{hfirst}***.{tld}")
}

/// Replaces letters and digits by `*`, keeping the first `keep_first` and the last
/// `keep_last` of them.
fn keep_last_alnum(v: &str, keep_last: usize, keep_first: usize) -> String {
    let total = v.chars().filter(|c| c.is_alphanumeric()).count();
    let keep_last = keep_last.min(total / 2);
    let mut seen = 0usize;
    v.chars()
        .map(|c| {
            if c.is_alphanumeric() {
                seen += 1;
                if seen <= keep_first || seen > total - keep_last {
                    c
                } else {
                    '*'
                }
            } else {
                c
            }
        })
        .collect()
}

fn mask_words(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut at_word_start = true;
    for c in v.chars() {
        if c.is_whitespace() || c == '-' || c == '　' {
            out.push(c);
            at_word_start = true;
        } else if at_word_start {
            out.push(c);
            at_word_start = false;
        } else {
            out.push('*');
        }
    }
    out
}

fn mask_prefix(v: &str, keep: usize) -> String {
    let n = v.chars().count();
    let keep = keep.min(n / 3);
    let mut out: String = v.chars().take(keep).collect();
    out.push_str("***");
    out
}

fn mask_ip(v: &str) -> String {
    if let Some((first, _)) = v.split_once('.') {
        format!("{first}.*.*.*")
    } else if let Some((first, _)) = v.split_once(':') {
        format!("{first}:*")
    } else {
        "***".to_owned()
    }
}

fn mask_secret(v: &str) -> String {
    // Keep the self-describing prefix ("kura_", "AKIA", "$2b$12$", "ghp_") so the reader
    // knows what leaked, never the secret part.
    let prefix_len = if v.starts_with('$') {
        v.match_indices('$').nth(2).map_or(1, |(i, _)| i + 1).min(8)
    } else if let Some(i) = v.find(['_', '-']) {
        (i + 1).min(8)
    } else {
        4.min(v.len() / 4)
    };
    let prefix: String = v.chars().take(prefix_len).collect();
    format!("{prefix}***")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_shape_but_not_value() {
        assert_eq!(mask(Kind::Email, "john.smith@example.com"), "j***@e***.com");
        assert_eq!(
            mask(Kind::PaymentCard, "4111 1111 1111 1111"),
            "**** **** **** 1111"
        );
        assert_eq!(mask(Kind::Phone, "+81 90-1234-5678"), "+** **-****-**78");
        assert_eq!(
            mask(Kind::Iban, "DE89370400440532013000"),
            "DE******************00"
        );
        assert_eq!(mask(Kind::BirthDate, "1985-03-12"), "****-**-**");
        assert_eq!(mask(Kind::PersonName, "John Smith"), "J*** S****");
        assert_eq!(mask(Kind::PersonName, "山田 太郎"), "山* 太*");
        assert_eq!(mask(Kind::IpAddress, "203.0.113.9"), "203.*.*.*");
        assert_eq!(mask(Kind::Secret, "kura_abcdefghijklmnop"), "kura_***");
        assert_eq!(
            mask(Kind::PasswordHash, "$2b$12$abcdefghijklmnopqrstuv"),
            "$2b$12$***"
        );
    }

    #[test]
    fn never_echoes_a_value() {
        for kind in Kind::ALL {
            for v in ["a", "ab", "--", "4111111111111111", "x@y.z", "東京都"] {
                assert_ne!(mask(kind, v), v, "{kind:?} {v}");
            }
        }
    }
}
