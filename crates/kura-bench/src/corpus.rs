//! A labelled evaluation corpus: synthetic people in the ja, en and de locales embedded in
//! CSV, JSON, NDJSON, logs, prose, a SQL dump, a gzip-compressed log and spreadsheets (XLSX,
//! ODS), with decoys that look like personal data but are not (order numbers that pass the
//! Luhn check, phone-shaped product codes, dates that are not birth dates, version numbers).
//!
//! Every true value written is recorded as a [`Label`] (file, line or sheet row, kind), so a
//! scan of the corpus can be scored for precision and recall per kind. A quarter of the names
//! are drawn from names that are *not* in the scanner's dictionary, so dictionary-based
//! recall is not flattered. Everything is deterministic for a given seed; no real person's
//! data is used.
//!
//! The check digits the corpus needs (Luhn, My Number) and spreadsheet column names are
//! computed here, not borrowed from the scanner: the corpus is the scanner's oracle, so it
//! must not share the scanner's code.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use kura_scan::Kind;
use serde::Serialize;

/// Whether the ASCII digits `digits` pass the Luhn check (ISO/IEC 7812-1).
fn luhn_valid(digits: &[u8]) -> bool {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let v = u32::from(d - b'0');
            if i % 2 == 1 {
                let w = v * 2;
                if w > 9 { w - 9 } else { w }
            } else {
                v
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The twelfth digit (ASCII) of a My Number whose first eleven ASCII digits are `d11`: the
/// digits from the right weighted 2..7 then 2..6, and 11 minus the sum mod 11 (0 when the
/// remainder is 0 or 1).
fn my_number_check(d11: &[u8]) -> u8 {
    let sum: u32 = d11
        .iter()
        .rev()
        .zip([2u32, 3, 4, 5, 6, 7, 2, 3, 4, 5, 6])
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    let r = sum % 11;
    let check = if r <= 1 { 0 } else { 11 - r };
    b'0' + check as u8
}

/// The spreadsheet column name of a 0-based index: `A`..`Z`, then `AA`, `AB`, ...
fn column_letters(index: usize) -> String {
    let mut n = index + 1;
    let mut out = Vec::new();
    while n > 0 {
        let r = (n - 1) % 26;
        out.push(b'A' + r as u8);
        n = (n - 1) / 26;
    }
    out.iter().rev().map(|&b| char::from(b)).collect()
}

/// Where a labelled value is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum LabelLoc {
    /// 1-based line of a text file.
    Line(u64),
    /// Sheet name and 1-based row of a spreadsheet.
    Row(String, u64),
}

/// One true value in the corpus.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Label {
    /// File name relative to the corpus folder.
    pub file: String,
    /// Where in the file.
    pub loc: LabelLoc,
    /// What it is.
    pub kind: Kind,
}

/// A small deterministic random generator (SplitMix64); not for anything secret.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// A locale of the synthetic people.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locale {
    /// Japan.
    Ja,
    /// United States.
    En,
    /// Germany.
    De,
}

/// One synthetic person.
#[derive(Clone, Debug)]
pub struct Person {
    /// Locale.
    pub locale: Locale,
    /// Given name.
    pub given: String,
    /// Surname.
    pub surname: String,
    /// Full name in the locale's order.
    pub full: String,
    /// E-mail address.
    pub email: String,
    /// Phone number in one of the locale's formats (or E.164).
    pub phone: String,
    /// Date of birth as written in the locale.
    pub dob: String,
    /// Postal address on one line.
    pub address: String,
    /// Payment card number.
    pub card: String,
    /// National id: SSN (en), My Number (ja), or none (de).
    pub national_id: Option<String>,
    /// IBAN (de only).
    pub iban: Option<String>,
    /// A public IPv4 address.
    pub ip: String,
}

const EN_GIVEN: &[&str] = &[
    "James", "Mary", "Robert", "Jennifer", "Michael", "Linda", "David", "Sarah", "Thomas", "Emily",
    "Daniel", "Olivia", "Andrew", "Grace", "Kevin", "Rachel",
];
const EN_SUR: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Miller", "Davis", "Wilson", "Taylor", "Clark",
    "Walker", "Baker", "Cooper", "Howard", "Bennett",
];
const EN_GIVEN_OUT: &[&str] = &[
    "Caleb", "Imogen", "Declan", "Harriet", "Rowan", "Beatrix", "Silas", "Maeve",
];
const EN_SUR_OUT: &[&str] = &[
    "Fairbanks",
    "Whitfield",
    "Ashworth",
    "Pennington",
    "Hargrove",
    "Lockwood",
];
const DE_GIVEN: &[&str] = &[
    "Hans",
    "Jürgen",
    "Stefan",
    "Andreas",
    "Lukas",
    "Felix",
    "Ursula",
    "Monika",
    "Sabine",
    "Julia",
    "Katharina",
    "Lena",
    "Marie",
    "Johanna",
];
const DE_SUR: &[&str] = &[
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
];
const DE_GIVEN_OUT: &[&str] = &["Detlef", "Wiebke", "Hartmut", "Gesine", "Volker", "Heike"];
const DE_SUR_OUT: &[&str] = &[
    "Brinkmann",
    "Kettler",
    "Oberdorf",
    "Rautenberg",
    "Lindemann",
];
const JA_GIVEN: &[&str] = &[
    "太郎",
    "一郎",
    "健太",
    "翔太",
    "大輔",
    "直樹",
    "花子",
    "恵子",
    "陽子",
    "美咲",
    "結衣",
    "さくら",
];
const JA_SUR: &[&str] = &[
    "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田",
];
const JA_GIVEN_OUT: &[&str] = &["颯太", "湊斗", "心春", "紬", "蒼空"];
const JA_SUR_OUT: &[&str] = &["東海林", "勅使河原", "五十嵐", "猪俣", "御手洗"];

const US_CITIES: &[(&str, &str, &str)] = &[
    ("Springfield", "IL", "627"),
    ("Austin", "TX", "787"),
    ("Portland", "OR", "972"),
    ("Denver", "CO", "802"),
    ("Boston", "MA", "021"),
    ("Seattle", "WA", "981"),
];
const US_AREA: &[&str] = &["212", "415", "312", "617", "206", "303", "512", "503"];
const US_STREETS: &[&str] = &[
    "Maple",
    "Oak",
    "Pine",
    "Cedar",
    "Elm",
    "Washington",
    "Lake",
    "Hill",
];
const US_SUFFIX: &[&str] = &[
    "Street", "St", "Avenue", "Ave", "Road", "Rd", "Drive", "Lane",
];
const DE_CITIES: &[(&str, &str, &str)] = &[
    ("Berlin", "10", "30"),
    ("Hamburg", "20", "40"),
    ("München", "80", "89"),
    ("Köln", "50", "221"),
    ("Stuttgart", "70", "711"),
    ("Leipzig", "04", "341"),
];
const DE_STREETS: &[&str] = &[
    "Haupt", "Bahnhof", "Garten", "Schiller", "Goethe", "Linden", "Berg", "Kirch",
];
const DE_SUFFIX: &[&str] = &["straße", "weg", "allee", "platz"];
const JA_PLACES: &[(&str, &str, &str)] = &[
    ("東京都", "渋谷区", "150"),
    ("東京都", "新宿区", "160"),
    ("大阪府", "大阪市北区", "530"),
    ("神奈川県", "横浜市中区", "231"),
    ("愛知県", "名古屋市中区", "460"),
    ("福岡県", "福岡市博多区", "812"),
];
const JA_TOWNS: &[&str] = &["神南", "西新宿", "梅田", "山下町", "栄", "博多駅前"];
const MAIL_EN: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "icloud.com",
    "proton.me",
];
const MAIL_DE: &[&str] = &["web.de", "gmx.de", "t-online.de", "posteo.de", "gmail.com"];
const MAIL_JA: &[&str] = &[
    "yahoo.co.jp",
    "docomo.ne.jp",
    "gmail.com",
    "ezweb.ne.jp",
    "nifty.com",
];
const ROMAJI: &[&str] = &[
    "taro", "yuki", "hana", "ken", "sato", "mika", "ryo", "aoi", "sora", "kaito",
];

fn luhn_complete(prefix: &str, len: usize, rng: &mut Rng) -> String {
    let mut s = prefix.to_owned();
    s.push_str(&rng.digits(len - 1 - prefix.len()));
    for d in b'0'..=b'9' {
        let mut t = s.clone();
        t.push(char::from(d));
        if luhn_valid(t.as_bytes()) {
            return t;
        }
    }
    s.push('0');
    s
}

fn group4(s: &str) -> String {
    s.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn iban_de(rng: &mut Rng) -> String {
    let bban = rng.digits(18);
    // Check digits: 98 - (bban + "DE00" as digits) mod 97.
    let numeric = format!("{bban}131400");
    let rem = numeric
        .bytes()
        .fold(0u32, |r, c| (r * 10 + u32::from(c - b'0')) % 97);
    format!("DE{:02}{bban}", 98 - rem)
}

impl Person {
    /// Draws a person of the given locale.
    pub fn new(locale: Locale, rng: &mut Rng, serial: usize) -> Person {
        let holdout = rng.chance(25);
        let year = 1940 + rng.below(65);
        let month = 1 + rng.below(12);
        let day = 1 + rng.below(28);
        let card = match rng.below(4) {
            0 => luhn_complete("4", 16, rng),
            1 => luhn_complete(&format!("5{}", 1 + rng.below(5)), 16, rng),
            2 => luhn_complete(&format!("35{}", 28 + rng.below(62)), 16, rng),
            _ => luhn_complete("37", 15, rng),
        };
        let card = if rng.chance(50) { group4(&card) } else { card };
        let ip = format!(
            "{}.{}.{}.{}",
            [23, 45, 81, 93, 104, 151, 185, 212][rng.below(8)],
            rng.below(256),
            rng.below(256),
            1 + rng.below(254)
        );
        match locale {
            Locale::En => {
                let given = rng
                    .pick(if holdout { EN_GIVEN_OUT } else { EN_GIVEN })
                    .to_owned();
                let surname = rng
                    .pick(if holdout { EN_SUR_OUT } else { EN_SUR })
                    .to_owned();
                let area = rng.pick(US_AREA);
                let exch = format!("{}{}", 2 + rng.below(8), rng.digits(2));
                let line = rng.digits(4);
                let phone = match rng.below(4) {
                    0 => format!("({area}) {exch}-{line}"),
                    1 => format!("{area}-{exch}-{line}"),
                    2 => format!("+1 {area} {exch} {line}"),
                    _ => format!("+1{area}{exch}{line}"),
                };
                let (city, st, zip) = US_CITIES[rng.below(US_CITIES.len())];
                let address = format!(
                    "{} {} {}, {city}, {st} {zip}{}",
                    1 + rng.below(9000),
                    rng.pick(US_STREETS),
                    rng.pick(US_SUFFIX),
                    rng.digits(2)
                );
                let months = [
                    "January",
                    "February",
                    "March",
                    "April",
                    "May",
                    "June",
                    "July",
                    "August",
                    "September",
                    "October",
                    "November",
                    "December",
                ];
                let dob = match rng.below(3) {
                    0 => format!("{year}-{month:02}-{day:02}"),
                    1 => format!("{month:02}/{day:02}/{year}"),
                    _ => format!("{} {day}, {year}", months[month - 1]),
                };
                let ssn = format!(
                    "{:03}-{:02}-{:04}",
                    1 + rng.below(665),
                    1 + rng.below(99),
                    1 + rng.below(9999)
                );
                Person {
                    locale,
                    full: format!("{given} {surname}"),
                    email: format!(
                        "{}.{}{}@{}",
                        given.to_lowercase(),
                        surname.to_lowercase(),
                        serial,
                        rng.pick(MAIL_EN)
                    ),
                    given,
                    surname,
                    phone,
                    dob,
                    address,
                    card,
                    national_id: Some(ssn),
                    iban: None,
                    ip,
                }
            }
            Locale::De => {
                let given = rng
                    .pick(if holdout { DE_GIVEN_OUT } else { DE_GIVEN })
                    .to_owned();
                let surname = rng
                    .pick(if holdout { DE_SUR_OUT } else { DE_SUR })
                    .to_owned();
                let (city, plz, area) = DE_CITIES[rng.below(DE_CITIES.len())];
                let phone = match rng.below(4) {
                    0 => format!("+49 {area} {}", rng.digits(7)),
                    1 => format!("0{area} {}", rng.digits(7)),
                    2 => format!("0171 {}", rng.digits(7)),
                    _ => format!("+49 151 {}", rng.digits(8)),
                };
                let address = format!(
                    "{}{} {}, {plz}{} {city}",
                    rng.pick(DE_STREETS),
                    rng.pick(DE_SUFFIX),
                    1 + rng.below(120),
                    rng.digits(3)
                );
                let ascii = |s: &str| {
                    s.to_lowercase()
                        .replace('ü', "ue")
                        .replace('ä', "ae")
                        .replace('ö', "oe")
                        .replace('ß', "ss")
                };
                Person {
                    locale,
                    full: format!("{given} {surname}"),
                    email: format!(
                        "{}.{}{}@{}",
                        ascii(&given),
                        ascii(&surname),
                        serial,
                        rng.pick(MAIL_DE)
                    ),
                    given,
                    surname,
                    phone,
                    dob: format!("{day:02}.{month:02}.{year}"),
                    address,
                    card,
                    national_id: None,
                    iban: Some(iban_de(rng)),
                    ip,
                }
            }
            Locale::Ja => {
                let given = rng
                    .pick(if holdout { JA_GIVEN_OUT } else { JA_GIVEN })
                    .to_owned();
                let surname = rng
                    .pick(if holdout { JA_SUR_OUT } else { JA_SUR })
                    .to_owned();
                let phone = match rng.below(4) {
                    0 => format!("090-{}-{}", rng.digits(4), rng.digits(4)),
                    1 => format!("03-{}{}-{}", 1 + rng.below(8), rng.digits(3), rng.digits(4)),
                    2 => format!("+81 80-{}-{}", rng.digits(4), rng.digits(4)),
                    _ => format!("06-{}{}-{}", 1 + rng.below(8), rng.digits(3), rng.digits(4)),
                };
                let (pref, city, zip) = JA_PLACES[rng.below(JA_PLACES.len())];
                let town = rng.pick(JA_TOWNS);
                let address = if rng.chance(50) {
                    format!(
                        "〒{zip}-{} {pref}{city}{town}{}-{}-{}",
                        rng.digits(4),
                        1 + rng.below(5),
                        1 + rng.below(20),
                        1 + rng.below(30)
                    )
                } else {
                    format!(
                        "{pref}{city}{town}{}-{}-{}",
                        1 + rng.below(5),
                        1 + rng.below(20),
                        1 + rng.below(30)
                    )
                };
                let mut d11 = rng.digits(11);
                if d11.starts_with('0') {
                    d11.replace_range(0..1, "1");
                }
                let check = my_number_check(d11.as_bytes());
                let my_number = format!("{d11}{}", char::from(check));
                let dob = if rng.chance(50) {
                    format!("{year}年{month}月{day}日")
                } else {
                    format!("{year}/{month:02}/{day:02}")
                };
                Person {
                    locale,
                    full: if rng.chance(50) {
                        format!("{surname} {given}")
                    } else {
                        format!("{surname}{given}")
                    },
                    email: format!(
                        "{}{}{}@{}",
                        rng.pick(ROMAJI),
                        rng.pick(ROMAJI),
                        serial,
                        rng.pick(MAIL_JA)
                    ),
                    given,
                    surname,
                    phone,
                    dob,
                    address,
                    card,
                    national_id: Some(my_number),
                    iban: None,
                    ip,
                }
            }
        }
    }
}

/// A decoy order number: 16 digits starting with 4 that pass the Luhn check.
fn order_decoy(rng: &mut Rng) -> String {
    luhn_complete("4", 16, rng)
}

/// A decoy product code shaped like a Japanese or German phone number.
fn product_decoy(rng: &mut Rng) -> String {
    if rng.chance(50) {
        format!("03-{}-{}", rng.digits(4), rng.digits(4))
    } else {
        format!("030 {}", rng.digits(7))
    }
}

/// A decoy date that is not a birth date.
fn date_decoy(rng: &mut Rng) -> String {
    format!(
        "20{:02}-{:02}-{:02}",
        15 + rng.below(10),
        1 + rng.below(12),
        1 + rng.below(28)
    )
}

/// Collects lines and labels for one text file.
struct TextFile {
    name: String,
    body: String,
    line: u64,
    labels: Vec<Label>,
}

impl TextFile {
    fn new(name: &str) -> TextFile {
        TextFile {
            name: name.to_owned(),
            body: String::new(),
            line: 0,
            labels: Vec::new(),
        }
    }
    /// Adds one line and labels it with the kinds it holds.
    fn line(&mut self, text: &str, kinds: &[Kind]) {
        self.line += 1;
        self.body.push_str(text);
        self.body.push('\n');
        for k in kinds {
            self.labels.push(Label {
                file: self.name.clone(),
                loc: LabelLoc::Line(self.line),
                kind: *k,
            });
        }
    }
    fn write(self, dir: &Path, labels: &mut Vec<Label>) -> io::Result<u64> {
        fs::write(dir.join(&self.name), &self.body)?;
        labels.extend(self.labels);
        Ok(self.body.len() as u64)
    }
}

fn locale_of(i: usize) -> Locale {
    [Locale::En, Locale::De, Locale::Ja][i % 3]
}

/// What the generator wrote.
#[derive(Clone, Debug, Serialize)]
pub struct Corpus {
    /// Every true value, by file and line (or sheet row).
    pub labels: Vec<Label>,
    /// Files written.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
    /// People drawn.
    pub people: u64,
}

/// Writes the evaluation corpus for `people` synthetic people into `dir` (which must
/// exist). The label list is returned, not written into `dir`, so a scan of `dir` never
/// sees it.
///
/// # Errors
/// Any I/O error writing the files.
pub fn generate(dir: &Path, people: usize, seed: u64) -> io::Result<Corpus> {
    let mut rng = Rng::new(seed);
    let ps: Vec<Person> = (0..people)
        .map(|i| Person::new(locale_of(i), &mut rng, i))
        .collect();
    let mut labels = Vec::new();
    let mut bytes = 0u64;
    let mut files = 0u64;
    let third = people.div_ceil(3);
    let chunks: Vec<&[Person]> = ps.chunks(third.max(1)).collect();
    let get = |i: usize| -> &[Person] { chunks.get(i).copied().unwrap_or(&[]) };

    // 1. CSV customer lists, one per locale, with decoy columns.
    for (li, (name, header)) in [
        ("customers_en.csv", "id,full_name,email,phone,date_of_birth,address,card_number,ssn,order_no,created_at,last_ip"),
        ("kunden_de.csv", "id;Vorname;Nachname;E-Mail;Telefon;Geburtsdatum;Adresse;IBAN;Bestellnummer;Erstellt"),
        ("顧客_ja.csv", "番号,氏名,メールアドレス,電話番号,生年月日,住所,マイナンバー,商品コード,登録日"),
    ]
    .iter()
    .enumerate()
    {
        let mut f = TextFile::new(name);
        f.line(header, &[]);
        for (i, p) in ps.iter().enumerate().filter(|(i, _)| i % 3 == li) {
            match p.locale {
                Locale::En => {
                    let nid = p.national_id.clone().unwrap_or_default();
                    let row = format!("{i},{},{},{},\"{}\",\"{}\",{},{nid},{},{},{}", p.full, p.email, p.phone, p.dob, p.address, p.card, order_decoy(&mut rng), date_decoy(&mut rng), p.ip);
                    f.line(&row, &[Kind::PersonName, Kind::Email, Kind::Phone, Kind::BirthDate, Kind::PostalAddress, Kind::PaymentCard, Kind::UsSsn, Kind::IpAddress]);
                }
                Locale::De => {
                    let iban = p.iban.clone().unwrap_or_default();
                    let row = format!("{i};{};{};{};{};{};{};{iban};{};{}", p.given, p.surname, p.email, p.phone, p.dob, p.address, order_decoy(&mut rng), date_decoy(&mut rng));
                    f.line(&row, &[Kind::PersonName, Kind::Email, Kind::Phone, Kind::BirthDate, Kind::PostalAddress, Kind::Iban]);
                }
                Locale::Ja => {
                    let nid = p.national_id.clone().unwrap_or_default();
                    let row = format!("{i},{},{},{},{},{},{nid},{},{}", p.full, p.email, p.phone, p.dob, p.address, product_decoy(&mut rng), date_decoy(&mut rng));
                    f.line(&row, &[Kind::PersonName, Kind::Email, Kind::Phone, Kind::BirthDate, Kind::PostalAddress, Kind::JpMyNumber]);
                }
            }
        }
        bytes += f.write(dir, &mut labels)?;
        files += 1;
    }
    // The German list uses ';' as Excel does in German locales: the reader must sniff it.

    // 2. JSON array of user objects (pretty, one key a line), with password hashes.
    {
        let mut f = TextFile::new("users.json");
        f.line("[", &[]);
        for (i, p) in get(0).iter().chain(get(1)).enumerate() {
            f.line("  {", &[]);
            f.line(&format!("    \"id\": {i},"), &[]);
            f.line(
                &format!("    \"name\": \"{}\",", p.full),
                &[Kind::PersonName],
            );
            f.line(&format!("    \"email\": \"{}\",", p.email), &[Kind::Email]);
            f.line(&format!("    \"phone\": \"{}\",", p.phone), &[Kind::Phone]);
            f.line(
                &format!("    \"birthday\": \"{}\",", p.dob),
                &[Kind::BirthDate],
            );
            let salt: String = (0..22)
                .map(|_| {
                    char::from(
                        b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                            [rng.below(64)],
                    )
                })
                .collect();
            let hash: String = (0..31)
                .map(|_| {
                    char::from(
                        b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                            [rng.below(64)],
                    )
                })
                .collect();
            f.line(
                &format!("    \"password_hash\": \"$2b$12${salt}{hash}\","),
                &[Kind::PasswordHash],
            );
            f.line(
                &format!("    \"last_order\": \"{}\",", order_decoy(&mut rng)),
                &[],
            );
            f.line(
                &format!(
                    "    \"product\": {{\"name\": \"Widget {}\", \"sku\": \"{}\"}},",
                    rng.below(900),
                    product_decoy(&mut rng)
                ),
                &[],
            );
            f.line(
                &format!("    \"updated\": \"{}\"", date_decoy(&mut rng)),
                &[],
            );
            f.line(
                if i + 1 == get(0).len() + get(1).len() {
                    "  }"
                } else {
                    "  },"
                },
                &[],
            );
        }
        f.line("]", &[]);
        bytes += f.write(dir, &mut labels)?;
        files += 1;
    }

    // 3. NDJSON events.
    {
        let mut f = TextFile::new("events.ndjson");
        for p in get(2).iter().chain(get(0)) {
            let line = format!(
                "{{\"ts\":\"{}T10:{:02}:00Z\",\"event\":\"signup\",\"user\":{{\"email\":\"{}\",\"tel\":\"{}\"}},\"client_ip\":\"{}\",\"order\":\"{}\"}}",
                date_decoy(&mut rng),
                rng.below(60),
                p.email,
                p.phone,
                p.ip,
                order_decoy(&mut rng)
            );
            f.line(&line, &[Kind::Email, Kind::Phone, Kind::IpAddress]);
        }
        bytes += f.write(dir, &mut labels)?;
        files += 1;
    }

    // 4. An application log: mostly noise, some personal data, decoys.
    let log = |rng: &mut Rng, name: &str, ps: &[Person]| -> TextFile {
        let mut f = TextFile::new(name);
        for p in ps {
            let ts = format!(
                "{} {:02}:{:02}:{:02}",
                date_decoy(rng),
                rng.below(24),
                rng.below(60),
                rng.below(60)
            );
            f.line(
                &format!(
                    "{ts} INFO  http: GET /static/app.{}.js 200 {}ms",
                    rng.digits(8),
                    rng.below(900)
                ),
                &[],
            );
            f.line(
                &format!("{ts} INFO  auth: login ok for {} from {}", p.email, p.ip),
                &[Kind::Email, Kind::IpAddress],
            );
            f.line(
                &format!(
                    "{ts} DEBUG build version 2.{}.{}.{} worker={}",
                    rng.below(20),
                    rng.below(20),
                    rng.below(99),
                    rng.below(16)
                ),
                &[],
            );
            // Untuned decoys: random 16-digit request ids (some pass Luhn by chance) and
            // random 10-digit session numbers shaped like US phone numbers.
            f.line(
                &format!(
                    "{ts} DEBUG rpc: req={} session={}{} done",
                    rng.digits(16),
                    2 + rng.below(8),
                    rng.digits(9)
                ),
                &[],
            );
            f.line(
                &format!(
                    "{ts} INFO  shop: order_id={} total=${}.{} sku={}",
                    order_decoy(rng),
                    rng.below(500),
                    rng.digits(2),
                    product_decoy(rng)
                ),
                &[],
            );
            if rng.chance(30) {
                f.line(
                    &format!("{ts} WARN  sms: delivery to {} failed, retry", p.phone),
                    &[Kind::Phone],
                );
            }
            if rng.chance(10) {
                f.line(
                    &format!(
                        "{ts} ERROR payment: declined card {} for user {}",
                        p.card,
                        rng.below(100_000)
                    ),
                    &[Kind::PaymentCard],
                );
            }
        }
        f
    };
    {
        let f = log(&mut rng, "app.log", get(1));
        bytes += f.write(dir, &mut labels)?;
        files += 1;
    }
    // 4b. The same kind of log, gzip-compressed (labels refer to decompressed lines).
    {
        let f = log(&mut rng, "archive.log.gz", get(2));
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(f.body.as_bytes())?;
        let gz = enc.finish()?;
        fs::write(dir.join(&f.name), &gz)?;
        labels.extend(f.labels);
        bytes += gz.len() as u64;
        files += 1;
    }

    // 5. Prose: letters and notes in three languages, with context words and decoys.
    {
        let mut f = TextFile::new("notes.txt");
        for p in &ps {
            match p.locale {
                Locale::En => {
                    f.line(&format!("Dear {},", p.full), &[Kind::PersonName]);
                    f.line(
                        &format!(
                            "we tried to call you at {} about your order {} shipped on {}.",
                            p.phone,
                            order_decoy(&mut rng),
                            date_decoy(&mut rng)
                        ),
                        &[Kind::Phone],
                    );
                    f.line(
                        &format!(
                            "Our records show your date of birth as {} and your address as {}.",
                            p.dob, p.address
                        ),
                        &[Kind::BirthDate, Kind::PostalAddress],
                    );
                    if let Some(ssn) = &p.national_id {
                        f.line(
                            &format!(
                                "Please confirm the last digits of your SSN {ssn} by mail to {}.",
                                p.email
                            ),
                            &[Kind::UsSsn, Kind::Email],
                        );
                    }
                    f.line(
                        &format!(
                            "Release {}.{}.{}.{} fixes item SKU {}.",
                            rng.below(9),
                            rng.below(9),
                            rng.below(9),
                            rng.below(9),
                            product_decoy(&mut rng)
                        ),
                        &[],
                    );
                }
                Locale::De => {
                    f.line(&format!("Sehr geehrte/r {},", p.full), &[Kind::PersonName]);
                    f.line(&format!("Sie erreichen uns unter Telefon {}; Ihre Bestellung {} wurde am {} versandt.", p.phone, order_decoy(&mut rng), date_decoy(&mut rng)), &[Kind::Phone]);
                    f.line(
                        &format!("Geburtsdatum: {}, Anschrift: {}", p.dob, p.address),
                        &[Kind::BirthDate, Kind::PostalAddress],
                    );
                    if let Some(iban) = &p.iban {
                        f.line(&format!("Bitte überweisen Sie von Ihrem Konto IBAN {iban} oder schreiben Sie an {}.", p.email), &[Kind::Iban, Kind::Email]);
                    }
                    f.line(
                        &format!("Artikel {} ist wieder lieferbar.", product_decoy(&mut rng)),
                        &[],
                    );
                }
                Locale::Ja => {
                    f.line(&format!("{}様", p.full), &[Kind::PersonName]);
                    f.line(&format!("ご登録の電話番号 {} 宛にご連絡しました。注文番号 {} は {} に発送済みです。", p.phone, order_decoy(&mut rng), date_decoy(&mut rng)), &[Kind::Phone]);
                    f.line(
                        &format!("生年月日：{}　住所：{}", p.dob, p.address),
                        &[Kind::BirthDate, Kind::PostalAddress],
                    );
                    if let Some(n) = &p.national_id {
                        f.line(
                            &format!(
                                "マイナンバー {n} を確認しました。メール {} にお送りします。",
                                p.email
                            ),
                            &[Kind::JpMyNumber, Kind::Email],
                        );
                    }
                    f.line(
                        &format!("品番 {} の在庫がございます。", product_decoy(&mut rng)),
                        &[],
                    );
                }
            }
            if rng.chance(20) {
                f.line(&format!("Card on file: {}", p.card), &[Kind::PaymentCard]);
            }
        }
        bytes += f.write(dir, &mut labels)?;
        files += 1;
    }

    // 6. A SQL dump.
    {
        let mut f = TextFile::new("dump.sql");
        f.line("-- dump of shop database", &[]);
        f.line(
            "CREATE TABLE customers (id int, name text, email text, phone text, created date);",
            &[],
        );
        for (i, p) in get(0).iter().enumerate() {
            f.line(
                &format!(
                    "INSERT INTO customers VALUES ({i}, '{}', '{}', '{}', '{}');",
                    p.full,
                    p.email,
                    p.phone,
                    date_decoy(&mut rng)
                ),
                &[Kind::PersonName, Kind::Email, Kind::Phone],
            );
        }
        bytes += f.write(dir, &mut labels)?;
        files += 1;
    }

    // 7. A config file with leaked secrets (kura's own API key among them).
    {
        let mut f = TextFile::new("settings.env");
        for i in 0..people.div_ceil(50) {
            let key: String = (0..32)
                .map(|_| {
                    char::from(
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                            [rng.below(62)],
                    )
                })
                .collect();
            f.line(&format!("KURA_API_KEY_{i}=kura_{key}"), &[Kind::Secret]);
            f.line(
                &format!("APP_VERSION=3.{}.{}", rng.below(10), rng.below(10)),
                &[],
            );
            f.line(&format!("BUILD_ID={}", rng.digits(12)), &[]);
        }
        bytes += f.write(dir, &mut labels)?;
        files += 1;
    }

    // 8. Spreadsheets: the same people as XLSX and ODS.
    let rows: Vec<[String; 6]> = get(0)
        .iter()
        .chain(get(1))
        .chain(get(2))
        .take(300)
        .map(|p| {
            [
                p.full.clone(),
                p.email.clone(),
                p.phone.clone(),
                p.dob.clone(),
                p.address.clone(),
                order_decoy(&mut rng),
            ]
        })
        .collect();
    let header = ["Name", "Email", "Phone", "Birthday", "Address", "Order No"];
    let row_kinds = [
        Kind::PersonName,
        Kind::Email,
        Kind::Phone,
        Kind::BirthDate,
        Kind::PostalAddress,
    ];
    for (fname, data) in [
        ("customers.xlsx", xlsx(&header, &rows)?),
        ("customers.ods", ods(&header, &rows)?),
    ] {
        fs::write(dir.join(fname), &data)?;
        bytes += data.len() as u64;
        files += 1;
        for r in 0..rows.len() {
            for k in row_kinds {
                labels.push(Label {
                    file: fname.to_owned(),
                    loc: LabelLoc::Row("Customers".to_owned(), r as u64 + 2),
                    kind: k,
                });
            }
        }
    }

    Ok(Corpus {
        labels,
        files,
        bytes,
        people: people as u64,
    })
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn zip_files(files: &[(&str, String)], stored_first: bool) -> io::Result<Vec<u8>> {
    let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
    for (i, (name, body)) in files.iter().enumerate() {
        let method = if stored_first && i == 0 {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        let opts = zip::write::SimpleFileOptions::default().compression_method(method);
        w.start_file(*name, opts).map_err(io::Error::other)?;
        w.write_all(body.as_bytes())?;
    }
    Ok(w.finish().map_err(io::Error::other)?.into_inner())
}

/// A minimal XLSX workbook with one sheet "Customers" of inline strings.
pub fn xlsx(header: &[&str], rows: &[[String; 6]]) -> io::Result<Vec<u8>> {
    let cell = |r: usize, c: usize, v: &str| {
        format!(
            "<c r=\"{}{}\" t=\"inlineStr\"><is><t>{}</t></is></c>",
            column_letters(c),
            r,
            xml_escape(v)
        )
    };
    let mut sheet = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>",
    );
    let mut push_row = |r: usize, vals: Vec<&str>| {
        sheet.push_str(&format!("<row r=\"{r}\">"));
        for (c, v) in vals.iter().enumerate() {
            sheet.push_str(&cell(r, c, v));
        }
        sheet.push_str("</row>");
    };
    push_row(1, header.to_vec());
    for (i, row) in rows.iter().enumerate() {
        push_row(i + 2, row.iter().map(String::as_str).collect());
    }
    sheet.push_str("</sheetData></worksheet>");
    let files = [
        ("[Content_Types].xml", "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/><Default Extension=\"xml\" ContentType=\"application/xml\"/><Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/><Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/></Types>".to_owned()),
        ("_rels/.rels", "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>".to_owned()),
        ("xl/workbook.xml", "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><sheets><sheet name=\"Customers\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>".to_owned()),
        ("xl/_rels/workbook.xml.rels", "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" Target=\"worksheets/sheet1.xml\"/></Relationships>".to_owned()),
        ("xl/worksheets/sheet1.xml", sheet),
    ];
    zip_files(&files, false)
}

/// A minimal ODS spreadsheet with one table "Customers" of strings.
pub fn ods(header: &[&str], rows: &[[String; 6]]) -> io::Result<Vec<u8>> {
    let mut table = String::from("<table:table table:name=\"Customers\">");
    let mut push_row = |vals: Vec<&str>| {
        table.push_str("<table:table-row>");
        for v in vals {
            table.push_str(&format!("<table:table-cell office:value-type=\"string\"><text:p>{}</text:p></table:table-cell>", xml_escape(v)));
        }
        table.push_str("</table:table-row>");
    };
    push_row(header.to_vec());
    for row in rows {
        push_row(row.iter().map(String::as_str).collect());
    }
    table.push_str("</table:table>");
    let content = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<office:document-content xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\" xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" office:version=\"1.2\"><office:body><office:spreadsheet>{table}</office:spreadsheet></office:body></office:document-content>"
    );
    let files = [
        ("mimetype", "application/vnd.oasis.opendocument.spreadsheet".to_owned()),
        ("META-INF/manifest.xml", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<manifest:manifest xmlns:manifest=\"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0\" manifest:version=\"1.2\"><manifest:file-entry manifest:full-path=\"/\" manifest:media-type=\"application/vnd.oasis.opendocument.spreadsheet\"/><manifest:file-entry manifest:full-path=\"content.xml\" manifest:media-type=\"text/xml\"/></manifest:manifest>".to_owned()),
        ("content.xml", content),
    ];
    zip_files(&files, true)
}

/// Writes the throughput corpus: about `bytes` each of plain text (`dir/text`: logs and
/// prose, one line in eight with personal data), of a dense CSV customer list (`dir/csv`:
/// every row a person with about ten values), and of a sparse CSV export (`dir/csv-sparse`:
/// stock and order rows, one row in fifty with an e-mail and a phone number). Four files
/// each, so that files are scanned in parallel.
///
/// # Errors
/// Any I/O error writing the files.
pub fn generate_bulk(dir: &Path, bytes: u64, seed: u64) -> io::Result<()> {
    let mut rng = Rng::new(seed);
    for sub in ["text", "csv", "csv-sparse"] {
        fs::create_dir_all(dir.join(sub))?;
    }
    let per_file = bytes / 4;
    let cap = usize::try_from(per_file).unwrap_or(0) + 4096;
    for n in 0..4 {
        let mut text = String::with_capacity(cap);
        let mut csv = String::with_capacity(cap);
        let mut sparse = String::with_capacity(cap);
        csv.push_str("id,full_name,email,phone,date_of_birth,address,card_number,order_no,created_at,comment\n");
        sparse.push_str("row,updated_at,warehouse,sku,description,quantity,unit_price,currency,status,contact\n");
        let mut i = 0usize;
        while (text.len() as u64) < per_file
            || (csv.len() as u64) < per_file
            || (sparse.len() as u64) < per_file
        {
            let p = Person::new(locale_of(i), &mut rng, i);
            if (text.len() as u64) < per_file {
                for _ in 0..6 {
                    text.push_str(&format!("{} {:02}:{:02}:{:02} INFO  http: GET /api/v1/items?page={} 200 {}ms ua=\"Mozilla/5.0 (X11; Linux x86_64)\"\n", date_decoy(&mut rng), rng.below(24), rng.below(60), rng.below(60), rng.below(100), rng.below(900)));
                }
                text.push_str(&format!("The quarterly report was sent to the board; see ticket {} for the follow-up items and owners.\n", rng.below(100_000)));
                text.push_str(&format!(
                    "2024-05-01 12:00:00 INFO auth: login ok for {} from {}\n",
                    p.email, p.ip
                ));
            }
            if (csv.len() as u64) < per_file {
                csv.push_str(&format!(
                    "{i},{},{},{},\"{}\",\"{}\",{},{},{},\"no comment, thanks\"\n",
                    p.full,
                    p.email,
                    p.phone,
                    p.dob,
                    p.address,
                    p.card,
                    order_decoy(&mut rng),
                    date_decoy(&mut rng)
                ));
            }
            if (sparse.len() as u64) < per_file {
                for k in 0..50 {
                    let contact = if k == 0 {
                        format!("{} {}", p.email, p.phone)
                    } else {
                        String::new()
                    };
                    sparse.push_str(&format!("{},{} {:02}:{:02},WH-{},SKU-{},\"Widget, size {}\",{},{}.{},EUR,{},{contact}\n", i * 50 + k, date_decoy(&mut rng), rng.below(24), rng.below(60), rng.below(20), rng.digits(6), rng.below(50), rng.below(1000), rng.below(200), rng.digits(2), ["open", "shipped", "closed"][rng.below(3)]));
                }
            }
            i += 1;
        }
        fs::write(dir.join("text").join(format!("part{n}.log")), text)?;
        fs::write(dir.join("csv").join(format!("part{n}.csv")), csv)?;
        fs::write(dir.join("csv-sparse").join(format!("part{n}.csv")), sparse)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{column_letters, luhn_valid, my_number_check};

    #[test]
    fn check_digits_match_published_examples() {
        assert!(luhn_valid(b"4111111111111111"));
        assert!(luhn_valid(b"378282246310005"));
        assert!(!luhn_valid(b"4111111111111112"));
        assert!(!luhn_valid(b""));
        // The example number of the My Number specification.
        assert_eq!(my_number_check(b"12345678901"), b'8');
    }

    #[test]
    fn column_letters_are_bijective_base_26() {
        let got: Vec<String> = [0, 25, 26, 27, 701, 702]
            .into_iter()
            .map(column_letters)
            .collect();
        assert_eq!(got, ["A", "Z", "AA", "AB", "ZZ", "AAA"]);
    }
}
