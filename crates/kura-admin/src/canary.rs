//! Canary subjects: realistic records that no legitimate caller ever reads. Touching one
//! trips containment. They are created through the ordinary import path and recorded as a
//! command-line import, and listed only in the key store, so that neither a data dump nor a
//! subject's access history tells a canary from a person.

use kura_store::DirectoryStore;
use kura_vault::{Access, SubjectInput, Uuid, Vault};
use rand::RngExt as _;

use crate::AdminError;

/// The principal a command-line import is recorded under (`kura import`, planting canaries).
pub const CLI_IMPORT: &str = "operator-cli";

const JA_FAMILY: &[&str] = &[
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山田",
    "佐々木",
    "松本",
    "井上",
    "木村",
    "林",
    "清水",
    "山崎",
    "森",
];
const JA_GIVEN: &[&str] = &[
    "大翔",
    "蓮",
    "陽翔",
    "湊",
    "樹",
    "悠真",
    "陽葵",
    "凛",
    "結菜",
    "咲良",
    "美咲",
    "愛",
    "翔太",
    "拓海",
    "花子",
    "直樹",
    "由美",
    "健一",
    "真由美",
    "和也",
];
const JA_ROMAJI: &[&str] = &[
    "sato",
    "suzuki",
    "takahashi",
    "tanaka",
    "ito",
    "watanabe",
    "yamamoto",
    "nakamura",
    "kobayashi",
    "kato",
    "yoshida",
    "yamada",
    "sasaki",
    "matsumoto",
    "inoue",
    "kimura",
    "hayashi",
    "shimizu",
    "yamazaki",
    "mori",
];
const EN_FAMILY: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
];
const EN_GIVEN: &[&str] = &[
    "James",
    "Mary",
    "Michael",
    "Patricia",
    "Robert",
    "Jennifer",
    "John",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Chris",
    "Karen",
];
const DE_FAMILY: &[&str] = &[
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Bauer",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
];
const DE_GIVEN: &[&str] = &[
    "Lukas",
    "Leon",
    "Finn",
    "Jonas",
    "Paul",
    "Felix",
    "Maximilian",
    "Emma",
    "Mia",
    "Hannah",
    "Sophia",
    "Lena",
    "Anna",
    "Marie",
    "Lea",
    "Jürgen",
    "Sabine",
    "Stefan",
    "Katrin",
    "Uwe",
];
const JA_CITIES: &[&str] = &[
    "東京都世田谷区",
    "東京都練馬区",
    "大阪府大阪市北区",
    "神奈川県横浜市港北区",
    "愛知県名古屋市中区",
    "福岡県福岡市博多区",
    "北海道札幌市中央区",
    "京都府京都市左京区",
];
const US_CITIES: &[(&str, &str)] = &[
    ("Springfield", "IL"),
    ("Austin", "TX"),
    ("Portland", "OR"),
    ("Columbus", "OH"),
    ("Madison", "WI"),
    ("Raleigh", "NC"),
    ("Denver", "CO"),
    ("Tucson", "AZ"),
];
const US_STREETS: &[&str] = &[
    "Oak St",
    "Maple Ave",
    "Pine St",
    "Cedar Rd",
    "Elm St",
    "Lake Dr",
];
const DE_CITIES: &[(&str, &str)] = &[
    ("10115", "Berlin"),
    ("80331", "München"),
    ("20095", "Hamburg"),
    ("50667", "Köln"),
    ("60311", "Frankfurt am Main"),
    ("70173", "Stuttgart"),
    ("04109", "Leipzig"),
];
const DE_STREETS: &[&str] = &[
    "Hauptstraße",
    "Bahnhofstraße",
    "Gartenweg",
    "Lindenstraße",
    "Schulstraße",
];

fn pick<'a, T>(rng: &mut impl rand::Rng, list: &'a [T]) -> &'a T {
    &list[rng.random_range(0..list.len())]
}

/// One realistic-looking subject for a random one of JP, US, DE.
/// One realistic canary subject of the built-in `accounts` shape (a Japanese, American or
/// German person) whose e-mail address is at `domain`.
pub fn canary(rng: &mut impl rand::Rng, domain: &str) -> SubjectInput {
    let birth = format!(
        "{}-{:02}-{:02}",
        rng.random_range(1955..2006),
        rng.random_range(1..13),
        rng.random_range(1..29)
    );
    let n: u32 = rng.random_range(1..9999);
    let (country, locale, name, handle, phone, address) = match rng.random_range(0..3) {
        0 => {
            let i = rng.random_range(0..JA_FAMILY.len());
            let given = pick(rng, JA_GIVEN);
            (
                "JP",
                "ja",
                format!("{} {}", JA_FAMILY[i], given),
                format!("{}{}", JA_ROMAJI[i], n),
                format!(
                    "+81 90-{:04}-{:04}",
                    rng.random_range(0..10000),
                    rng.random_range(0..10000)
                ),
                format!(
                    "〒{:03}-{:04} {}{}丁目{}-{}",
                    rng.random_range(100..999),
                    rng.random_range(0..10000),
                    pick(rng, JA_CITIES),
                    rng.random_range(1..6),
                    rng.random_range(1..30),
                    rng.random_range(1..20)
                ),
            )
        }
        1 => {
            let (given, family) = (pick(rng, EN_GIVEN), pick(rng, EN_FAMILY));
            let (city, state) = pick(rng, US_CITIES);
            (
                "US",
                "en",
                format!("{given} {family}"),
                format!(
                    "{}.{}{}",
                    given.to_lowercase(),
                    family.to_lowercase(),
                    n % 100
                ),
                format!(
                    "+1 {:03}-{:03}-{:04}",
                    rng.random_range(201..990),
                    rng.random_range(200..999),
                    rng.random_range(0..10000)
                ),
                format!(
                    "{} {}, {city}, {state} {:05}",
                    rng.random_range(1..9999),
                    pick(rng, US_STREETS),
                    rng.random_range(10000..99999)
                ),
            )
        }
        _ => {
            let (given, family) = (pick(rng, DE_GIVEN), pick(rng, DE_FAMILY));
            let (zip, city) = pick(rng, DE_CITIES);
            let ascii = |s: &str| {
                s.to_lowercase()
                    .replace('ü', "ue")
                    .replace('ö', "oe")
                    .replace('ä', "ae")
                    .replace('ß', "ss")
            };
            (
                "DE",
                "de",
                format!("{given} {family}"),
                format!("{}.{}{}", ascii(given), ascii(family), n % 100),
                format!(
                    "+49 1{:02} {:07}",
                    rng.random_range(51..80),
                    rng.random_range(0..10_000_000)
                ),
                format!(
                    "{} {}, {zip} {city}",
                    pick(rng, DE_STREETS),
                    rng.random_range(1..120)
                ),
            )
        }
    };
    let fields = [
        ("login_id", handle.clone()),
        (
            "online_id",
            format!("{}_{}", handle.replace('.', ""), rng.random_range(10..99)),
        ),
        ("name", name),
        ("email", format!("{handle}@{domain}")),
        ("phone", phone),
        ("postal_address", address),
        ("birth_date", birth),
        (
            "gender",
            (*pick(rng, &["female", "male", "female", "male", "undisclosed"])).to_owned(),
        ),
    ];
    SubjectInput {
        country: country.to_owned(),
        locale: locale.to_owned(),
        fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
    }
}

/// Plants `count` canaries (1 to 100,000) in `collection`, e-mail addresses at `domain`,
/// and records them in the key store. Returns their ids.
///
/// # Errors
/// `invalid_value` for a count out of range; vault and store failures.
pub fn plant(
    vault: &Vault,
    directory: &dyn DirectoryStore,
    collection: &str,
    count: usize,
    domain: &str,
) -> Result<Vec<Uuid>, AdminError> {
    if count == 0 || count > 100_000 {
        return Err(AdminError::invalid(
            "invalid_value",
            "the canary count must be between 1 and 100000",
        ));
    }
    let mut rng = rand::rng();
    let inputs: Vec<SubjectInput> = (0..count).map(|_| canary(&mut rng, domain)).collect();
    // Recorded exactly as a command-line import, so that a subject's access history does not
    // tell a canary either.
    let access = Access::operator(CLI_IMPORT, "import");
    let mut ids = Vec::with_capacity(count);
    for r in vault.create_batch(&access, collection, inputs) {
        ids.push(r?);
    }
    let mut iids = Vec::with_capacity(ids.len());
    for id in &ids {
        let s = vault
            .store()
            .subject(collection, id)?
            .ok_or_else(|| AdminError::NotFound("a planted canary vanished".to_owned()))?;
        iids.push(s.iid);
    }
    directory.add_canaries(collection, &iids)?;
    Ok(ids)
}
