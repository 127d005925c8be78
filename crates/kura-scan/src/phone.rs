//! Phone number validation against the number plans of libphonenumber's metadata (through the
//! `phonenumber` crate): E.164 numbers of any country, and national formats of Japan, the US,
//! Germany and the UK.
//!
//! For the four home countries the general national-number pattern and possible lengths of
//! the crate's metadata are compiled once into our own regexes: calling
//! `phonenumber::is_valid` per candidate costs a cache lookup per descriptor and dominated
//! the scan of dense CSV files. Other countries' E.164 numbers go through
//! `phonenumber::parse` and `phonenumber::is_valid`.

use std::sync::LazyLock;

use regex_automata::meta::Regex;

/// One country's plan: calling code, national prefix, possible lengths, pattern.
struct Plan {
    code: &'static str,
    national_prefix: Option<u8>,
    lengths: Vec<u16>,
    pattern: Option<Regex>,
}

fn plan(id: &str, code: &'static str, national_prefix: Option<u8>) -> Plan {
    let meta = phonenumber::metadata::DATABASE.by_id(id);
    let (lengths, pattern) = match meta {
        Some(m) => {
            let g = m.descriptors().general();
            // The metadata patterns are written in verbose style: drop the layout blanks.
            let pat: String = g
                .national_number()
                .as_str()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            let src = format!("^(?:{pat})$");
            (g.possible_length().to_vec(), Regex::new(&src).ok())
        }
        None => (Vec::new(), None),
    };
    Plan {
        code,
        national_prefix,
        lengths,
        pattern,
    }
}

static PLANS: LazyLock<[Plan; 4]> = LazyLock::new(|| {
    [
        plan("JP", "81", Some(b'0')),
        plan("US", "1", Some(b'1')),
        plan("DE", "49", Some(b'0')),
        plan("GB", "44", Some(b'0')),
    ]
});

impl Plan {
    fn matches(&self, nsn: &[u8]) -> bool {
        let len_ok =
            self.lengths.is_empty() || self.lengths.iter().any(|&l| usize::from(l) == nsn.len());
        len_ok && self.pattern.as_ref().is_some_and(|re| re.is_match(nsn))
    }
}

/// Whether `text` (with separators; `digits` are its ASCII digits) is a valid phone number:
/// E.164 of any country, or a national number of JP, US, DE or GB.
pub(crate) fn valid(text: &str, digits: &[u8]) -> bool {
    let plans = &*PLANS;
    if text.starts_with('+') {
        // "+49 (0)30 ..." writes the national prefix in brackets: it is not dialled.
        let cleaned;
        let digits = if text.contains("(0)") {
            cleaned = text
                .replace("(0)", "")
                .bytes()
                .filter(u8::is_ascii_digit)
                .collect::<Vec<u8>>();
            &cleaned[..]
        } else {
            digits
        };
        if plans.iter().any(|p| {
            digits
                .strip_prefix(p.code.as_bytes())
                .is_some_and(|nsn| p.matches(nsn))
        }) {
            return true;
        }
        let s = text.replace("(0)", "");
        return phonenumber::parse(None, &s).is_ok_and(|p| phonenumber::is_valid(&p));
    }
    match digits.first() {
        Some(b'0') => plans
            .iter()
            .filter(|p| p.national_prefix == Some(b'0'))
            .any(|p| p.matches(&digits[1..])),
        Some(b'1') if digits.len() == 11 => plans[1].matches(&digits[1..]),
        Some(_) if digits.len() == 10 => plans[1].matches(digits),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> bool {
        let d: Vec<u8> = s.bytes().filter(u8::is_ascii_digit).collect();
        valid(s, &d)
    }

    #[test]
    fn plans_load_from_the_crate_metadata() {
        assert!(PLANS.iter().all(|p| p.pattern.is_some()));
    }

    #[test]
    fn home_countries_and_e164() {
        assert!(ok("090-1234-5678"));
        assert!(ok("03-1234-5678"));
        assert!(ok("+81 90-1234-5678"));
        assert!(ok("(415) 555-2671"));
        assert!(ok("+1 415 555 2671"));
        assert!(ok("030 12345678"));
        assert!(ok("+49 (0)30 12345678"));
        assert!(ok("020 7946 0958"));
        assert!(ok("+33 1 42 68 53 00"));
        assert!(!ok("123-456-7890"));
        assert!(!ok("+81 1"));
        assert!(!ok("0000000"));
    }
}
