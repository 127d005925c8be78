//! The drill's synthetic customers: a game network's accounts in Japan, the US, Germany, the
//! UK, Korea and elsewhere. Person `i` of seed `s` is a pure function of `(s, i)`, so the
//! drill never keeps the population in memory or on disk: it regenerates a person when it
//! needs one (an attacker's list, an erasure request, the plaintext check). No real person's
//! data; e-mail domains are reserved example domains.

use rand::{RngExt as _, SeedableRng as _};
use serde_json::{Value, json};

/// Where the drill's customers live: (country, locale, share in percent).
pub const REGIONS: &[(&str, &str, u32)] = &[
    ("US", "en", 30),
    ("JP", "ja", 25),
    ("DE", "de", 12),
    ("GB", "en", 12),
    ("KR", "ko", 8),
    ("FR", "fr", 5),
    ("BR", "pt", 4),
    ("AU", "en", 4),
];

/// One generated customer.
pub struct Person {
    pub country: &'static str,
    pub locale: &'static str,
    pub login_id: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub address: String,
    pub birth_date: String,
    pub gender: &'static str,
    /// A passphrase, for the share of people who get one through the password route.
    pub password: Option<String>,
    /// A card number (Luhn-valid, test ranges), for the share who store one.
    pub card: Option<(String, u8, u16)>,
}

fn pick<'a>(rng: &mut rand::rngs::StdRng, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}

const WORDS: &[&str] = &[
    "harbor", "lantern", "quartz", "meadow", "violet", "ember", "glacier", "orchid", "saddle",
    "tundra", "walnut", "cobalt", "falcon", "juniper", "marble", "nectar", "pebble", "riddle",
    "sierra", "thistle", "umber", "willow", "zephyr", "bramble",
];

/// `digits` with the check digit that makes it pass the card vault's own Luhn check.
fn with_luhn(digits: String) -> String {
    (b'0'..=b'9')
        .map(|d| format!("{digits}{}", char::from(d)))
        .find(|c| kura_cards::luhn_valid(c))
        .unwrap_or(digits)
}

impl Person {
    /// Person `i` of the population drawn with `seed`; `password_share` and `card_share`
    /// are percentages.
    pub fn new(seed: u64, i: u64, password_share: u32, card_share: u32) -> Person {
        let mut rng =
            rand::rngs::StdRng::seed_from_u64(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut roll = rng.random_range(0..100u32);
        let (country, locale) = REGIONS
            .iter()
            .find(|(_, _, share)| {
                if roll < *share {
                    true
                } else {
                    roll -= share;
                    false
                }
            })
            .map_or(("US", "en"), |(c, l, _)| (*c, *l));
        let year = rng.random_range(1950..2008);
        let birth_date = format!(
            "{year}-{:02}-{:02}",
            rng.random_range(1..13),
            rng.random_range(1..29)
        );
        let gender =
            ["female", "male", "female", "male", "diverse", "undisclosed"][rng.random_range(0..6)];
        let d4 = |rng: &mut rand::rngs::StdRng| rng.random_range(0..10_000u32);
        let (name, handle, phone, address, domain) = match country {
            "JP" => {
                let family = pick(
                    &mut rng,
                    &[
                        "高橋", "斎藤", "岡田", "藤井", "石川", "前田", "小川", "村上", "近藤",
                        "坂本",
                    ],
                );
                let given = pick(
                    &mut rng,
                    &[
                        "翔", "美羽", "颯太", "結衣", "大輝", "葵", "健太", "彩", "誠", "桜",
                    ],
                );
                (
                    format!("{family} {given}"),
                    "player".to_owned(),
                    format!("+81 80-{:04}-{:04}", d4(&mut rng), d4(&mut rng)),
                    format!(
                        "〒{:03}-{:04} {}{}丁目{}-{}",
                        rng.random_range(100..999),
                        d4(&mut rng),
                        pick(
                            &mut rng,
                            &[
                                "東京都渋谷区",
                                "大阪府大阪市北区",
                                "福岡県福岡市中央区",
                                "北海道札幌市中央区",
                                "愛知県名古屋市中区"
                            ]
                        ),
                        rng.random_range(1..6),
                        rng.random_range(1..30),
                        rng.random_range(1..20)
                    ),
                    "example.jp",
                )
            }
            "KR" => {
                let family = pick(&mut rng, &["김", "이", "박", "최", "정", "강", "조", "윤"]);
                let given = pick(
                    &mut rng,
                    &[
                        "민준", "서연", "도윤", "지우", "하준", "서윤", "시우", "하은",
                    ],
                );
                (
                    format!("{family}{given}"),
                    "gamer".to_owned(),
                    format!("+82 10-{:04}-{:04}", d4(&mut rng), d4(&mut rng)),
                    format!(
                        "서울특별시 {} {}길 {}",
                        pick(&mut rng, &["강남구", "마포구", "종로구", "송파구"]),
                        rng.random_range(1..90),
                        rng.random_range(1..200)
                    ),
                    "example.kr",
                )
            }
            "DE" => {
                let given = pick(
                    &mut rng,
                    &[
                        "Lena", "Jonas", "Mia", "Felix", "Hannah", "Paul", "Lea", "Finn",
                    ],
                );
                let family = pick(
                    &mut rng,
                    &[
                        "Becker", "Hoffmann", "Schäfer", "Koch", "Richter", "Klein", "Wolf",
                        "Neumann",
                    ],
                );
                (
                    format!("{given} {family}"),
                    given.to_lowercase(),
                    format!(
                        "+49 15{} {:07}",
                        rng.random_range(1..8),
                        rng.random_range(0..10_000_000u32)
                    ),
                    format!(
                        "{} {}, {:05} {}",
                        pick(
                            &mut rng,
                            &["Ahornweg", "Kirchgasse", "Mühlenstraße", "Rosenweg"]
                        ),
                        rng.random_range(1..120),
                        rng.random_range(10000..99999u32),
                        pick(
                            &mut rng,
                            &["Berlin", "Hamburg", "München", "Köln", "Leipzig"]
                        )
                    ),
                    "example.de",
                )
            }
            "GB" => {
                let given = pick(
                    &mut rng,
                    &[
                        "Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Freya",
                    ],
                );
                let family = pick(
                    &mut rng,
                    &[
                        "Taylor", "Davies", "Evans", "Thomas", "Roberts", "Walker", "Wright",
                        "Hughes",
                    ],
                );
                (
                    format!("{given} {family}"),
                    given.to_lowercase(),
                    format!(
                        "+44 7{:03} {:06}",
                        rng.random_range(100..999),
                        rng.random_range(0..1_000_000u32)
                    ),
                    format!(
                        "{} {} Road, {}",
                        rng.random_range(1..300),
                        pick(&mut rng, &["Station", "Church", "Victoria", "Park"]),
                        pick(
                            &mut rng,
                            &[
                                "Leeds LS1 4AP",
                                "Bristol BS1 5TR",
                                "Manchester M1 2AB",
                                "York YO1 7HH"
                            ]
                        )
                    ),
                    "example.co.uk",
                )
            }
            "FR" | "BR" | "AU" => {
                let given = pick(
                    &mut rng,
                    &[
                        "Camille", "Lucas", "Ana", "Mateus", "Chloe", "Liam", "Manon", "Noah",
                    ],
                );
                let family = pick(
                    &mut rng,
                    &[
                        "Martin", "Silva", "Bernard", "Santos", "Smith", "Dubois", "Costa", "Brown",
                    ],
                );
                let (cc, city) = match country {
                    "FR" => ("+33 6", "75011 Paris"),
                    "BR" => ("+55 11 9", "São Paulo - SP"),
                    _ => ("+61 4", "Sydney NSW 2000"),
                };
                (
                    format!("{given} {family}"),
                    given.to_lowercase(),
                    format!("{cc}{:04} {:04}", d4(&mut rng), d4(&mut rng)),
                    format!("{} rue {} / {}", rng.random_range(1..200), family, city),
                    "example.net",
                )
            }
            _ => {
                let given = pick(
                    &mut rng,
                    &[
                        "Emma", "James", "Olivia", "Ethan", "Sophia", "Mason", "Ella", "Logan",
                    ],
                );
                let family = pick(
                    &mut rng,
                    &[
                        "Johnson", "Miller", "Garcia", "Anderson", "Martinez", "Clark", "Lewis",
                        "Young",
                    ],
                );
                (
                    format!("{given} {family}"),
                    given.to_lowercase(),
                    format!(
                        "+1 {:03}-{:03}-{:04}",
                        rng.random_range(201..990),
                        rng.random_range(200..999),
                        d4(&mut rng)
                    ),
                    format!(
                        "{} {} St, {}",
                        rng.random_range(1..9999),
                        pick(&mut rng, &["Oak", "Maple", "Cedar", "Elm", "Pine"]),
                        pick(
                            &mut rng,
                            &[
                                "Austin, TX 78701",
                                "Portland, OR 97205",
                                "Denver, CO 80202",
                                "Columbus, OH 43215"
                            ]
                        )
                    ),
                    "example.com",
                )
            }
        };
        // The serial keeps login ids and addresses unique across the population.
        let login_id = format!("{handle}{i}");
        let email = format!("{handle}.{i}@{domain}");
        let password = (rng.random_range(0..100u32) < password_share).then(|| {
            format!(
                "{} {} {} {} {}",
                pick(&mut rng, WORDS),
                pick(&mut rng, WORDS),
                pick(&mut rng, WORDS),
                pick(&mut rng, WORDS),
                rng.random_range(10..99)
            )
        });
        let card = (rng.random_range(0..100u32) < card_share).then(|| {
            let prefix = pick(&mut rng, &["4111", "5555", "4012"]);
            let body: String = (0..11)
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect();
            (
                with_luhn(format!("{prefix}{body}")),
                rng.random_range(1..13u8),
                rng.random_range(2028..2033u16),
            )
        });
        Person {
            country,
            locale,
            login_id,
            name,
            email,
            phone,
            address,
            birth_date,
            gender,
            password,
            card,
        }
    }

    /// The create body of the subject routes and the import.
    pub fn create_body(&self) -> Value {
        json!({"country": self.country, "locale": self.locale, "fields": {
            "login_id": self.login_id, "name": self.name, "email": self.email,
            "phone": self.phone, "postal_address": self.address,
            "birth_date": self.birth_date, "gender": self.gender}})
    }

    /// Every value of this person as stored or set, for the plaintext check.
    pub fn values(&self) -> Vec<String> {
        let mut v = vec![
            self.login_id.clone(),
            self.name.clone(),
            self.email.clone(),
            self.phone.clone(),
            self.address.clone(),
        ];
        v.extend(self.password.clone());
        v.extend(self.card.as_ref().map(|c| c.0.clone()));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_are_deterministic_unique_and_spread() {
        let a = Person::new(7, 42, 10, 10);
        let b = Person::new(7, 42, 10, 10);
        assert_eq!((a.email.clone(), a.name.clone()), (b.email, b.name));
        let mut seen = std::collections::BTreeSet::new();
        let mut countries = std::collections::BTreeMap::<&str, u32>::new();
        for i in 0..2_000 {
            let p = Person::new(7, i, 10, 10);
            assert!(seen.insert(p.email.clone()), "duplicate address");
            *countries.entry(p.country).or_default() += 1;
            if let Some((pan, _, _)) = &p.card {
                assert_eq!(pan.len(), 16);
                assert!(kura_cards::luhn_valid(pan), "{pan}");
            }
        }
        assert_eq!(countries.len(), REGIONS.len(), "{countries:?}");
    }
}
