//! Collections, fields and their categories, and the start-up checks that keep unsafe
//! schemas (searchable low-entropy fields) from ever running.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{ModelError, is_valid_name};

/// What kind of personal data a field holds. Categories drive masking, breach scoping
/// (counts per category) and which fields may carry a blind index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// A person's name.
    Name,
    /// A postal address.
    PostalAddress,
    /// An e-mail address.
    Email,
    /// A telephone number.
    Phone,
    /// A date of birth.
    BirthDate,
    /// Gender.
    Gender,
    /// A login id or public handle.
    LoginId,
    /// A password or other secret credential.
    Credential,
    /// A payment card (kept as a token).
    PaymentCard,
    /// A national identification number.
    NationalId,
    /// Free text.
    FreeText,
    /// Anything else.
    Other,
}

impl Category {
    /// The stable snake_case name of the category.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Name => "name",
            Category::PostalAddress => "postal_address",
            Category::Email => "email",
            Category::Phone => "phone",
            Category::BirthDate => "birth_date",
            Category::Gender => "gender",
            Category::LoginId => "login_id",
            Category::Credential => "credential",
            Category::PaymentCard => "payment_card",
            Category::NationalId => "national_id",
            Category::FreeText => "free_text",
            Category::Other => "other",
        }
    }

    /// The mask rule used when a field of this category does not name one.
    pub fn default_mask(self) -> MaskRule {
        match self {
            Category::Name => MaskRule::FirstChar,
            Category::PostalAddress => MaskRule::Region,
            Category::Email => MaskRule::Email,
            Category::Phone => MaskRule::LastTwo,
            Category::BirthDate => MaskRule::Year,
            Category::LoginId => MaskRule::FirstLast,
            Category::PaymentCard | Category::NationalId => MaskRule::LastFour,
            Category::Gender | Category::Credential | Category::FreeText | Category::Other => {
                MaskRule::Full
            }
        }
    }

    /// Whether a blind index over this category would leak: low-entropy domains can be
    /// enumerated against the index by anyone holding a dump and the index key, and
    /// credentials and cards have their own protected paths.
    pub fn forbids_search(self) -> bool {
        matches!(
            self,
            Category::BirthDate | Category::Gender | Category::Credential | Category::PaymentCard
        )
    }
}

/// Longest `max_len` (in characters) at which a `string` field counts as low-entropy and may
/// not be searchable: a string of at most 8 characters can hold only a flag (`y`, `true`), a
/// small number (an age, a count, a PIN) or a short code, whose whole domain — at most
/// about 10^8 values for digits — anyone holding a dump and the index key can enumerate
/// through the blind index in minutes.
pub const SHORT_STRING_MAX_LEN: usize = 8;
// The refusal message of `FieldDef::low_entropy_type` names the number.
const _: () = assert!(SHORT_STRING_MAX_LEN == 8);

/// The value type of a field. All values travel as JSON strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Any Unicode string up to the field's `max_len` characters.
    String,
    /// A calendar date, `YYYY-MM-DD` (ISO 8601 extended).
    Date,
    /// One of the field's declared `values`.
    Enum,
}

/// How a field is shown in `masked` mode. Masks reveal little by design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskRule {
    /// `t***@example.com`: first character of the local part and the domain.
    Email,
    /// Only the last two digits.
    LastTwo,
    /// Only the last four characters (cards, national ids).
    LastFour,
    /// Only the first character.
    FirstChar,
    /// First and last character.
    FirstLast,
    /// Only the region (prefecture, state, Land) of an address.
    Region,
    /// Only the year of a date.
    Year,
    /// Nothing at all.
    Full,
}

/// One field of a collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// Field name (`[a-z][a-z0-9_]*`, at most 64 bytes).
    pub name: String,
    /// What the field holds.
    pub category: Category,
    /// Value type.
    #[serde(rename = "type", default = "default_type")]
    pub ty: FieldType,
    /// Whether an exact-match blind index is kept. Refused for low-entropy fields.
    #[serde(default)]
    pub searchable: bool,
    /// Whether every subject must carry the field.
    #[serde(default)]
    pub required: bool,
    /// Mask rule; the category's default when absent.
    #[serde(default)]
    pub mask: Option<MaskRule>,
    /// Allowed values of an enum field.
    #[serde(default)]
    pub values: Vec<String>,
    /// Maximum length in Unicode scalar values (default 1024).
    #[serde(default = "default_max_len")]
    pub max_len: usize,
}

fn default_type() -> FieldType {
    FieldType::String
}

fn default_max_len() -> usize {
    1024
}

impl FieldDef {
    fn new(name: &str, category: Category, ty: FieldType, searchable: bool) -> Self {
        FieldDef {
            name: name.to_owned(),
            category,
            ty,
            searchable,
            required: false,
            mask: None,
            values: Vec::new(),
            max_len: default_max_len(),
        }
    }

    /// Why the field's *type* makes it low-entropy, whatever its category: `None` when the
    /// type alone does not. A blind index over such a field could be reversed by anyone
    /// holding a dump and the index key, by enumerating every possible value.
    ///
    /// - `date`: a few tens of thousands of days in a century;
    /// - `enum`: its declared values;
    /// - `string` with `max_len` at most [`SHORT_STRING_MAX_LEN`]: booleans, small numbers,
    ///   PINs and short codes live there (kura has no numeric or boolean type; such values
    ///   are short strings).
    pub fn low_entropy_type(&self) -> Option<&'static str> {
        match self.ty {
            FieldType::Date => Some("a date has only a few tens of thousands of values"),
            FieldType::Enum => Some("an enum has few values"),
            FieldType::String if self.max_len <= SHORT_STRING_MAX_LEN => Some(
                "a string of at most 8 characters (max_len) holds flags, small numbers or \
                 short codes",
            ),
            FieldType::String => None,
        }
    }

    /// The effective mask rule.
    pub fn mask_rule(&self) -> MaskRule {
        self.mask.unwrap_or_else(|| self.category.default_mask())
    }

    /// Checks a value against the field's type. The error names the field and the rule
    /// broken, never the value.
    ///
    /// # Errors
    /// [`ModelError::InvalidValue`] when the value is empty, too long, contains control
    /// characters, is not a valid date, or is not one of the enum's values.
    pub fn check_value(&self, value: &str) -> Result<(), ModelError> {
        let bad = |reason: &str| ModelError::InvalidValue {
            field: self.name.clone(),
            reason: reason.to_owned(),
        };
        if value.is_empty() {
            return Err(bad("must not be empty"));
        }
        if value.chars().count() > self.max_len {
            return Err(bad(&format!("is longer than {} characters", self.max_len)));
        }
        if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(bad("contains control characters"));
        }
        match self.ty {
            FieldType::String => Ok(()),
            FieldType::Date => {
                let format = time::macros::format_description!("[year]-[month]-[day]");
                match time::Date::parse(value, &format) {
                    Ok(_) if value.len() == 10 => Ok(()),
                    _ => Err(bad("must be a date in the form YYYY-MM-DD")),
                }
            }
            FieldType::Enum => {
                if self.values.iter().any(|v| v == value) {
                    Ok(())
                } else {
                    Err(bad(&format!("must be one of: {}", self.values.join(", "))))
                }
            }
        }
    }
}

/// A named schema of fields. Field order is the order of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Collection {
    /// Collection name (`[a-z][a-z0-9_]*`).
    pub name: String,
    /// Fields in declaration order.
    pub fields: Vec<FieldDef>,
}

impl Collection {
    /// Looks up a field by name.
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Looks up a field, or reports it as unknown in this collection.
    ///
    /// # Errors
    /// [`ModelError::UnknownField`].
    pub fn require_field(&self, name: &str) -> Result<&FieldDef, ModelError> {
        self.field(name).ok_or_else(|| ModelError::UnknownField {
            collection: self.name.clone(),
            field: name.to_owned(),
        })
    }

    /// Validates a full set of field values for a new subject: every key is a known field,
    /// every value has its type, every required field is present.
    ///
    /// # Errors
    /// The first problem found, in field-name order.
    pub fn check_new(&self, fields: &BTreeMap<String, String>) -> Result<(), ModelError> {
        self.check_patch(fields)?;
        for f in self.fields.iter().filter(|f| f.required) {
            if !fields.contains_key(&f.name) {
                return Err(ModelError::MissingRequired(f.name.clone()));
            }
        }
        Ok(())
    }

    /// Validates a partial set of field values (a patch): known fields, typed values.
    ///
    /// # Errors
    /// The first problem found, in field-name order.
    pub fn check_patch(&self, fields: &BTreeMap<String, String>) -> Result<(), ModelError> {
        for (name, value) in fields {
            self.require_field(name)?.check_value(value)?;
        }
        Ok(())
    }
}

/// All collections of a vault. Construct through [`Schema::new`] or [`Schema::builtin`]
/// so that validation always runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    collections: Vec<Collection>,
}

impl Schema {
    /// Builds and validates a schema.
    ///
    /// # Errors
    /// [`ModelError::Config`] naming the collection and field at fault.
    pub fn new(collections: Vec<Collection>) -> Result<Self, ModelError> {
        let schema = Schema { collections };
        schema.validate()?;
        Ok(schema)
    }

    /// The built-in default: one collection `accounts` modelled on an online game network's
    /// account.
    pub fn builtin() -> Self {
        let mut login_id = FieldDef::new("login_id", Category::LoginId, FieldType::String, true);
        login_id.required = true;
        login_id.max_len = 128;
        let mut online_id = FieldDef::new("online_id", Category::LoginId, FieldType::String, true);
        online_id.max_len = 64;
        let mut email = FieldDef::new("email", Category::Email, FieldType::String, true);
        email.required = true;
        email.max_len = 254;
        let mut phone = FieldDef::new("phone", Category::Phone, FieldType::String, true);
        phone.max_len = 32;
        let mut gender = FieldDef::new("gender", Category::Gender, FieldType::Enum, false);
        gender.values = ["female", "male", "diverse", "undisclosed"]
            .map(String::from)
            .to_vec();
        let mut password =
            FieldDef::new("password", Category::Credential, FieldType::String, false);
        password.max_len = 512;
        let accounts = Collection {
            name: "accounts".to_owned(),
            fields: vec![
                login_id,
                online_id,
                FieldDef::new("name", Category::Name, FieldType::String, false),
                email,
                phone,
                FieldDef::new(
                    "postal_address",
                    Category::PostalAddress,
                    FieldType::String,
                    false,
                ),
                FieldDef::new("birth_date", Category::BirthDate, FieldType::Date, false),
                gender,
                // The password hash (issue 6): written only through the password routes,
                // never returned by any read.
                password,
                // The subject's card tokens (issue 7): filled from the card vault on read,
                // never written through the subject routes, never a card number.
                FieldDef::new(
                    "payment_cards",
                    Category::PaymentCard,
                    FieldType::String,
                    false,
                ),
            ],
        };
        // The built-in schema is a constant that the unit tests validate.
        Schema {
            collections: vec![accounts],
        }
    }

    /// Collections in declaration order.
    pub fn collections(&self) -> &[Collection] {
        &self.collections
    }

    /// Looks up a collection.
    pub fn collection(&self, name: &str) -> Option<&Collection> {
        self.collections.iter().find(|c| c.name == name)
    }

    /// Checks names, uniqueness, enum values and the searchable rule.
    ///
    /// # Errors
    /// [`ModelError::Config`] with a message naming the collection and field.
    pub fn validate(&self) -> Result<(), ModelError> {
        let err = |m: String| Err(ModelError::Config(m));
        if self.collections.is_empty() {
            return err("the schema defines no collection".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in &self.collections {
            if !is_valid_name(&c.name) {
                return err(format!(
                    "collection name `{}` must match [a-z][a-z0-9_]* (at most 64 bytes)",
                    c.name
                ));
            }
            if !seen.insert(c.name.as_str()) {
                return err(format!("collection `{}` is defined twice", c.name));
            }
            if c.fields.is_empty() {
                return err(format!("collection `{}` has no fields", c.name));
            }
            let mut names = std::collections::BTreeSet::new();
            for f in &c.fields {
                let at = format!("field `{}.{}`", c.name, f.name);
                if !is_valid_name(&f.name) {
                    return err(format!(
                        "{at}: name must match [a-z][a-z0-9_]* (at most 64 bytes)"
                    ));
                }
                if !names.insert(f.name.as_str()) {
                    return err(format!("{at} is defined twice"));
                }
                if f.searchable && f.category.forbids_search() {
                    return err(format!(
                        "{at} may not be searchable: a blind index over category `{}` could be \
                         reversed by enumerating its few possible values, or the category has \
                         its own protected path",
                        f.category.as_str()
                    ));
                }
                if f.searchable
                    && let Some(why) = f.low_entropy_type()
                {
                    return err(format!(
                        "{at} may not be searchable: {why}, so its blind index could be \
                         reversed by enumeration (whatever its category)"
                    ));
                }
                if f.ty == FieldType::Enum && f.values.is_empty() {
                    return err(format!("{at} is an enum but lists no `values`"));
                }
                if f.ty != FieldType::Enum && !f.values.is_empty() {
                    return err(format!("{at} lists `values` but is not an enum"));
                }
                if f.max_len == 0 || f.max_len > 65_536 {
                    return err(format!("{at}: max_len must be between 1 and 65536"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_schema_is_valid_and_shaped_like_the_issue() {
        let s = Schema::builtin();
        s.validate().unwrap();
        let a = s.collection("accounts").unwrap();
        let searchable: Vec<_> = a
            .fields
            .iter()
            .filter(|f| f.searchable)
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(searchable, ["login_id", "online_id", "email", "phone"]);
        assert_eq!(a.fields.len(), 10);
        let cards = a.field("payment_cards").unwrap();
        assert!(cards.category == Category::PaymentCard && !cards.searchable && !cards.required);
        let pw = a.field("password").unwrap();
        assert!(pw.category == Category::Credential && !pw.searchable && !pw.required);
    }

    fn one_field(f: FieldDef) -> Result<Schema, ModelError> {
        Schema::new(vec![Collection {
            name: "c".into(),
            fields: vec![f],
        }])
    }

    #[test]
    fn low_entropy_fields_cannot_be_searchable() {
        let bd = FieldDef::new("bd", Category::BirthDate, FieldType::Date, true);
        let e = one_field(bd).unwrap_err().to_string();
        assert!(e.contains("c.bd") && e.contains("birth_date"), "{e}");
        let g = FieldDef::new("g", Category::Gender, FieldType::String, true);
        assert!(one_field(g).is_err());
        let mut en = FieldDef::new("tier", Category::Other, FieldType::Enum, true);
        en.values = vec!["gold".into()];
        let e = one_field(en).unwrap_err().to_string();
        assert!(e.contains("enum"), "{e}");
        assert!(one_field(FieldDef::new("n", Category::Name, FieldType::String, true)).is_ok());
    }

    /// Issue 13: the low-entropy rule looks at the type, whatever the category. Each of
    /// these schemas was accepted before (category `other`, `name` or `login_id`).
    #[test]
    fn low_entropy_types_cannot_be_searchable_whatever_the_category() {
        for category in [
            Category::Other,
            Category::Name,
            Category::LoginId,
            Category::FreeText,
        ] {
            let date = FieldDef::new("when", category, FieldType::Date, true);
            let e = one_field(date).unwrap_err().to_string();
            assert!(e.contains("c.when") && e.contains("date"), "{e}");
            let mut short = FieldDef::new("flag", category, FieldType::String, true);
            short.max_len = 1;
            let e = one_field(short).unwrap_err().to_string();
            assert!(e.contains("c.flag") && e.contains("max_len"), "{e}");
            let mut pin = FieldDef::new("pin", category, FieldType::String, true);
            pin.max_len = SHORT_STRING_MAX_LEN;
            assert!(one_field(pin).is_err());
            let mut code = FieldDef::new("code", category, FieldType::String, true);
            code.max_len = SHORT_STRING_MAX_LEN + 1;
            assert!(one_field(code).is_ok());
            // The same fields without an index are fine.
            let mut quiet = FieldDef::new("when", category, FieldType::Date, false);
            assert!(one_field(quiet.clone()).is_ok());
            quiet.ty = FieldType::String;
            quiet.max_len = 1;
            assert!(one_field(quiet).is_ok());
        }
    }

    #[test]
    fn values_are_type_checked_without_echoing_them() {
        let s = Schema::builtin();
        let a = s.collection("accounts").unwrap();
        let bd = a.field("birth_date").unwrap();
        assert!(bd.check_value("1990-02-28").is_ok());
        let e = bd.check_value("1990-02-30").unwrap_err();
        assert_eq!(e.code(), "invalid_value");
        assert!(!e.to_string().contains("1990"));
        assert!(bd.check_value("90-1-1").is_err());
        let g = a.field("gender").unwrap();
        assert!(g.check_value("female").is_ok());
        assert!(g.check_value("secret-value").is_err());
        assert!(
            !g.check_value("secret-value")
                .unwrap_err()
                .to_string()
                .contains("secret")
        );
        let mut m = BTreeMap::new();
        m.insert("login_id".to_owned(), "x".to_owned());
        assert_eq!(
            a.check_new(&m).unwrap_err().code(),
            "missing_required_field"
        );
        m.insert("email".to_owned(), "x@example.com".to_owned());
        assert!(a.check_new(&m).is_ok());
        m.insert("nope".to_owned(), "v".to_owned());
        assert_eq!(a.check_new(&m).unwrap_err().code(), "unknown_field");
    }
}
