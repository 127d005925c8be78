//! Context that raises or lowers a finding's confidence: what a column header or key says a
//! field holds, and which words (en, ja, de) stand near a value.
//!
//! Leaves out the values themselves: this module only looks at names of fields and at the
//! few bytes before a match.

/// What a column header or key says a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    /// No header, or one that says nothing about personal data.
    None,
    Email,
    Phone,
    Card,
    Iban,
    Ssn,
    MyNumber,
    Birth,
    /// A header that names a person's name unambiguously (`full_name`, `氏名`, `Vorname`).
    NameStrong,
    /// The bare header `name`, which may as well name a product.
    NameWeak,
    Address,
    Zip,
    Ip,
    Password,
    /// A header that says the field is *not* personal: order numbers, product codes, versions.
    Negative,
}

impl Field {
    /// Whether values of this field are judged as a whole (not only by patterns).
    pub(crate) fn judged_whole(self) -> bool {
        matches!(
            self,
            Field::NameStrong | Field::NameWeak | Field::Address | Field::Password
        )
    }
}

/// In a table whose other columns hold contact data (e-mail, phone, birth date, address), a
/// bare `name` column names people, not products: upgrades it to [`Field::NameStrong`].
pub(crate) fn person_table(cols: &mut [Field]) {
    let contact = cols.iter().any(|c| {
        matches!(
            c,
            Field::Email | Field::Phone | Field::Birth | Field::Address
        )
    });
    if contact {
        for c in cols.iter_mut().filter(|c| **c == Field::NameWeak) {
            *c = Field::NameStrong;
        }
    }
}

/// Classifies a column header or key. Case, `_`, `-`, `.` and spaces are ignored.
pub(crate) fn classify_key(key: &str) -> Field {
    let mut norm = String::with_capacity(key.len());
    for c in key.trim().trim_matches(['"', '\'']).chars() {
        if !matches!(c, '_' | '-' | '.' | ' ' | '　') {
            norm.extend(c.to_lowercase());
        }
    }
    let k = norm.as_str();
    match k {
        "email"
        | "mail"
        | "emailaddress"
        | "mailaddress"
        | "eメール"
        | "メール"
        | "メールアドレス"
        | "emailadresse" => Field::Email,
        "phone" | "tel" | "telephone" | "phonenumber" | "mobile" | "mobilephone" | "cell"
        | "電話" | "電話番号" | "携帯" | "携帯電話" | "telefon" | "telefonnummer" | "handy"
        | "mobilnummer" | "fax" | "phonenumbers" => Field::Phone,
        "card"
        | "cardnumber"
        | "cc"
        | "ccnumber"
        | "pan"
        | "creditcard"
        | "creditcardnumber"
        | "カード番号"
        | "クレジットカード"
        | "kartennummer"
        | "kreditkarte"
        | "kreditkartennummer" => Field::Card,
        "iban" | "bankaccount" | "konto" | "kontonummer" => Field::Iban,
        "ssn" | "socialsecuritynumber" | "socialsecurity" => Field::Ssn,
        "mynumber" | "マイナンバー" | "個人番号" => Field::MyNumber,
        "birth" | "dob" | "birthdate" | "dateofbirth" | "birthday" | "生年月日" | "誕生日"
        | "geburtsdatum" | "geburtstag" | "gebdatum" => Field::Birth,
        "fullname" | "firstname" | "lastname" | "givenname" | "familyname" | "surname"
        | "customername" | "contactname" | "personname" | "氏名" | "名前" | "お名前" | "姓"
        | "名" | "顧客名" | "フリガナ" | "vorname" | "nachname" | "kundenname"
        | "vollständigername" | "cardholder" | "cardholdername" | "accountholder"
        | "accountholdername" | "nameoncard" | "karteninhaber" | "kontoinhaber" | "名義"
        | "名義人" | "カード名義" | "口座名義" | "assignee" | "assignedto" | "ansprechpartner"
        | "sachbearbeiter" | "bearbeiter" | "担当者" | "記入者" | "作成者" | "申込者"
        | "契約者" | "受取人" | "recipientname" => Field::NameStrong,
        // Keys that hold a person's name or something else (a team, a system): their values
        // count when the name is a known one or the record holds contact data.
        "name" | "from" | "to" | "contact" | "agent" | "担当" | "差出人" | "宛先" | "von"
        | "an" => Field::NameWeak,
        "address" | "street" | "streetaddress" | "address1" | "address2" | "addressline1"
        | "addressline2" | "addr" | "住所" | "所在地" | "anschrift" | "adresse" | "straße"
        | "strasse" | "postaladdress" | "homeaddress" => Field::Address,
        "zip" | "zipcode" | "postalcode" | "postcode" | "plz" | "postleitzahl" | "郵便番号" => {
            Field::Zip
        }
        "ip" | "ipaddress" | "clientip" | "remoteaddr" | "remoteip" | "srcip" | "sourceip"
        | "ipaddr" | "client" => Field::Ip,
        "password" | "passwd" | "pwd" | "passwordhash" | "pwhash" | "passhash" | "passwort"
        | "kennwort" | "パスワード" | "hashedpassword" | "passworthash" => Field::Password,
        "order" | "orderid" | "orderno" | "ordernumber" | "invoice" | "invoiceno" | "sku"
        | "productcode" | "productid" | "itemcode" | "partno" | "partnumber" | "注文番号"
        | "品番" | "型番" | "商品コード" | "bestellnummer" | "artikelnummer"
        | "rechnungsnummer" | "trackingnumber" | "version" | "serial" | "serialnumber" => {
            Field::Negative
        }
        // "last_login_ip", "customer_ip_address", "ip_v4": a key that ends in `ip` or holds
        // `ipaddr`/`ipv4`/`ipv6`.
        _ if k.ends_with("ip")
            && k.len() > 2
            && !k.ends_with("zip")
            && !k.ends_with("ship")
            && !k.ends_with("tip") =>
        {
            Field::Ip
        }
        _ if ["ipaddr", "ipv4", "ipv6"].iter().any(|w| k.contains(w)) => Field::Ip,
        _ => Field::None,
    }
}

/// Nearby words that point at a kind, in English, Japanese and German, compiled once.
pub(crate) mod words {
    use super::Words;
    use std::sync::LazyLock;

    macro_rules! compiled {
        ($($name:ident = $list:ident;)*) => {
            $(
                #[doc = concat!("The compiled `", stringify!($list), "` list.")]
                pub(crate) static $name: LazyLock<Words> = LazyLock::new(|| Words::new(super::raw::$list));
            )*
        };
    }
    compiled! {
        ADDRESS = ADDRESS; PERSON_KEYS = PERSON_KEYS; MESSAGE_ID = MESSAGE_ID; EMAIL = EMAIL; PHONE = PHONE; CARD = CARD; SSN = SSN; MY_NUMBER = MY_NUMBER;
        BIRTH = BIRTH; BIRTH_AFTER = BIRTH_AFTER; IBAN = IBAN; IP = IP; NEGATIVE = NEGATIVE;
        VERSION = VERSION;
    }
}

/// The raw word lists (lowercase; matched ASCII case-insensitively).
pub(crate) mod raw {
    /// Keys that say a record is about a person (JSON, key=value logs): a bare `name` key
    /// in such a record names a person, as a `name` column does in a table with contact
    /// columns.
    pub(crate) const PERSON_KEYS: &[&str] = &[
        "\"email",
        "\"e-mail",
        "\"mail\"",
        "\"phone",
        "\"tel",
        "\"mobile",
        "\"birth",
        "\"dob\"",
        "\"date_of_birth",
        "\"address",
        "\"street",
        "\"customer",
        "\"user_id",
        "email=",
        "phone=",
        "\"メール",
        "\"電話",
        "\"住所",
        "\"生年月日",
    ];
    /// Words before a postal code that say an address is being written.
    pub(crate) const ADDRESS: &[&str] = &[
        "anschrift",
        "adresse",
        "wohnhaft",
        "address",
        "住所",
        "postanschrift",
        "lieferadresse",
    ];
    /// Words before a string that looks like an e-mail address but is a message identifier.
    pub(crate) const MESSAGE_ID: &[&str] = &[
        "message-id",
        "message_id",
        "messageid",
        "msgid",
        "in-reply-to",
        "references:",
    ];
    /// Words near an e-mail address.
    pub(crate) const EMAIL: &[&str] = &["mail", "メール", "contact", "連絡"];
    /// Words near a phone number.
    pub(crate) const PHONE: &[&str] = &[
        "tel", "phone", "mobile", "call", "fax", "電話", "携帯", "telefon", "handy", "mobil",
        "ruf", "nummer:",
    ];
    /// Words near a payment card number.
    pub(crate) const CARD: &[&str] = &[
        "card",
        "credit",
        "visa",
        "master",
        "amex",
        "jcb",
        "カード",
        "クレジット",
        "karte",
    ];
    /// Words near a US SSN.
    pub(crate) const SSN: &[&str] = &["ssn", "social security", "soc. sec", "soc sec"];
    /// Words near a My Number.
    pub(crate) const MY_NUMBER: &[&str] = &["my number", "mynumber", "マイナンバー", "個人番号"];
    /// Words near a date of birth.
    pub(crate) const BIRTH: &[&str] = &[
        "birth",
        "born",
        "dob",
        "d.o.b",
        "生年月日",
        "誕生日",
        "生まれ",
        "geburt",
        "geboren",
        "geb.",
    ];
    /// Words written *after* a date of birth on the same line ("am 15.12.1991 in Köln
    /// geboren", "1952年1月7日生まれ").
    pub(crate) const BIRTH_AFTER: &[&str] = &["geboren", "生まれ", "生誕"];
    /// Words near an IBAN.
    pub(crate) const IBAN: &[&str] = &["iban", "konto", "account", "口座", "bank"];
    /// Words near an IP address.
    pub(crate) const IP: &[&str] = &["ip", "client", "remote", "from", "addr", "host"];
    /// Words that say a number is not personal: orders, products, versions.
    pub(crate) const NEGATIVE: &[&str] = &[
        // "ref" only as a word of its own ("Ref: 1234", "ref#"), not inside "refund".
        "order",
        "invoice",
        "tracking",
        "sku",
        "product",
        "item",
        "part no",
        "serial",
        "ref ",
        "ref:",
        "ref.",
        "ref#",
        "ref-",
        "ref_",
        "reference",
        "注文",
        "品番",
        "型番",
        "商品",
        "伝票",
        "bestell",
        "rechnung",
        "artikel",
        "auftrag",
        "art.-nr",
        "version",
        "release",
        "build",
        "ver.",
    ];
    /// Words just before a dotted number that make it a version, not an IP address.
    pub(crate) const VERSION: &[&str] = &["version", "release", "ver", "v", "build"];
}

/// The start of the line holding `pos`, looking back at most `limit` bytes.
pub(crate) fn line_start(buf: &[u8], pos: usize, limit: usize) -> usize {
    let from = pos.saturating_sub(limit);
    memchr::memrchr(b'\n', &buf[from..pos]).map_or(from, |i| from + i + 1)
}

/// A compiled list of context words, matched ASCII case-insensitively.
pub(crate) struct Words(aho_corasick::AhoCorasick);

impl Words {
    /// Compiles a word list.
    ///
    /// # Panics
    /// Never for the built-in lists (a test builds them all).
    pub(crate) fn new(words: &[&str]) -> Words {
        Words(
            aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(words)
                .expect("invariant: built-in word lists compile (tested)"),
        )
    }
}

/// Whether any of `words` occurs (ASCII case-insensitively) in `window`.
pub(crate) fn near(window: &[u8], words: &Words) -> bool {
    words.0.is_match(window)
}

/// The key written just before `start` on the same line (`"key": "`, `key=`, `key: `,
/// `氏名：`), if any.
pub(crate) fn key_before(buf: &[u8], start: usize) -> Option<&str> {
    let ls = line_start(buf, start, 200);
    let s = &buf[ls..start];
    let mut i = s.len();
    // Skip an opening quote and blanks, then require a separator.
    while i > 0 && matches!(s[i - 1], b'"' | b'\'' | b' ' | b'\t') {
        i -= 1;
    }
    if i >= 3 && &s[i - 3..i] == "：".as_bytes() {
        i -= 3;
    } else if i > 0 && matches!(s[i - 1], b':' | b'=') {
        i -= 1;
    } else {
        return None;
    }
    while i > 0 && matches!(s[i - 1], b'"' | b'\'' | b' ' | b'\t') {
        i -= 1;
    }
    let end = i;
    while i > 0
        && (s[i - 1].is_ascii_alphanumeric()
            || matches!(s[i - 1], b'_' | b'-' | b'.')
            || s[i - 1] >= 0x80)
    {
        i -= 1;
    }
    if i == end {
        return None;
    }
    // Keys made of non-ASCII bytes must start on a character boundary.
    let mut key = &s[i..end];
    while let Some((&b, rest)) = key.split_first() {
        if (0x80..0xC0).contains(&b) {
            key = rest;
        } else {
            break;
        }
    }
    std::str::from_utf8(key).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_classify_in_three_languages() {
        assert_eq!(classify_key("E-Mail"), Field::Email);
        assert_eq!(classify_key("氏名"), Field::NameStrong);
        assert_eq!(classify_key("Nachname"), Field::NameStrong);
        assert_eq!(classify_key("name"), Field::NameWeak);
        assert_eq!(classify_key("Geburtsdatum"), Field::Birth);
        assert_eq!(classify_key("order_id"), Field::Negative);
        assert_eq!(classify_key("colour"), Field::None);
    }

    #[test]
    fn finds_the_key_before_a_value() {
        let s = br#"{"id": 3, "email": "a@b.de"}"#;
        let at = s.windows(2).position(|w| w == b"a@").expect("has a value");
        assert_eq!(key_before(s, at), Some("email"));
        let s = "氏名：山田".as_bytes();
        assert_eq!(key_before(s, "氏名：".len()), Some("氏名"));
        let s = b"user=bob ip=1.2.3.4";
        assert_eq!(key_before(s, 12), Some("ip"));
        assert_eq!(key_before(b"hello world", 6), None);
    }

    #[test]
    fn near_is_case_insensitive() {
        assert!(near(b"Date of Birth: ", &words::BIRTH));
        assert!(near("生年月日 ".as_bytes(), &words::BIRTH));
        assert!(!near(b"Shipped on ", &words::BIRTH));
        for w in [
            &words::EMAIL,
            &words::PHONE,
            &words::CARD,
            &words::SSN,
            &words::MY_NUMBER,
            &words::IBAN,
            &words::IP,
            &words::NEGATIVE,
            &words::VERSION,
        ] {
            assert!(!near(b"", w));
        }
    }
}
