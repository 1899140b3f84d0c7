//! Customer records and the vocabulary around them: ids, fields, dates and
//! timestamps, and the versioned binary encoding that the store seals.
//!
//! This is the bottom layer: it depends on nothing else in the crate and
//! does no I/O. Everything above speaks in these types.

pub mod breach;
pub mod request;
pub mod source;
pub mod text;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Version of the record encoding written by this build. Readers refuse a
/// newer one instead of guessing.
pub const RECORD_SCHEMA: u16 = 2;

/// Upper bound on one field's length in bytes. Customer data came from web
/// forms; anything larger is refused at import instead of being carried
/// around (and drawn) forever.
pub const MAX_FIELD_BYTES: usize = 4096;

/// Upper bound on the number of extra (unknown) columns kept per record.
pub const MAX_EXTRA_FIELDS: usize = 64;

/// Stable, opaque record identifier (a ULID). It says nothing about the
/// person and is safe to log, to put in audit entries and in receipts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordId(pub ulid::Ulid);

impl RecordId {
    /// A fresh id, ordered by creation time to the millisecond (ids made
    /// within one millisecond are in random order; the store allocates
    /// increasing ones, see `Store::allocate_ids`).
    pub fn new() -> Self {
        Self(ulid::Ulid::new())
    }

    /// The 16 raw bytes, used as store keys.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_bytes()
    }

    pub fn from_bytes(b: [u8; 16]) -> Self {
        Self(ulid::Ulid::from_bytes(b))
    }
}

impl Default for RecordId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for RecordId {
    type Err = ulid::DecodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ulid::Ulid::from_string(s.trim()).map(Self)
    }
}

/// A calendar date as it was written, kept even when it is impossible
/// (month 13, 30 February): such a date is a finding, not an import error,
/// and its parts still help to match typo'd duplicates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DateParts {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl DateParts {
    pub fn from_date(d: NaiveDate) -> Self {
        Self {
            year: u16::try_from(d.year()).unwrap_or(0),
            month: u8::try_from(d.month()).unwrap_or(0),
            day: u8::try_from(d.day()).unwrap_or(0),
        }
    }

    /// The real date, or `None` when the parts do not name one.
    pub fn to_date(self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(i32::from(self.year), u32::from(self.month), u32::from(self.day))
    }

    /// Parses `YYYY-MM-DD` or `YYYYMMDD`. Any digits are accepted in each
    /// position (so impossible dates survive); any other shape is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let b = s.as_bytes();
        let (y, m, d) = match b.len() {
            8 if b.iter().all(u8::is_ascii_digit) => (&s[0..4], &s[4..6], &s[6..8]),
            10 if b[4] == b'-' && b[7] == b'-' => (&s[0..4], &s[5..7], &s[8..10]),
            _ => return None,
        };
        let all_digits = |p: &str| p.bytes().all(|c| c.is_ascii_digit());
        if !(all_digits(y) && all_digits(m) && all_digits(d)) {
            return None;
        }
        Some(Self { year: y.parse().ok()?, month: m.parse().ok()?, day: d.parse().ok()? })
    }
}

impl fmt::Display for DateParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Month and day 0: only the year is known (a masked date of birth).
        if self.month == 0 && self.day == 0 {
            return write!(f, "{:04}", self.year);
        }
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A postal address. Every part is optional because real exports are ragged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub street_number: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub locality: Option<String>,
    pub region: Option<String>,
    pub postcode: Option<String>,
    /// ISO 3166-1 alpha-2 where known (`GB`, `AU`, ...), as given otherwise.
    pub country: Option<String>,
}

/// Extra fields (columns steward does not know), sorted by name.
///
/// A sorted vector rather than a `BTreeMap`: a record has a handful of
/// extras, and a B-tree node costs ~500 bytes even for one entry — at a
/// million records that was half a gigabyte. Serialised as a map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extras(Vec<(String, String)>);

impl Extras {
    pub fn get(&self, name: &str) -> Option<&String> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(name)).ok().map(|i| &self.0[i].1)
    }

    /// Sets `name` (replacing an earlier value).
    pub fn insert(&mut self, name: String, value: String) {
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(&name)) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (name, value)),
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self.0.binary_search_by(|(k, _)| k.as_str().cmp(name)).ok()?;
        Some(self.0.remove(i).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Extras {
    type Item = (&'a String, &'a String);
    type IntoIter =
        std::iter::Map<std::slice::Iter<'a, (String, String)>, fn(&'a (String, String)) -> (&'a String, &'a String)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl Serialize for Extras {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Extras {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(d)?;
        Ok(Extras(map.into_iter().collect()))
    }
}

/// When the record came to be and when it was last looked after.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timestamps {
    #[serde(with = "chrono::serde::ts_seconds")]
    pub created: DateTime<Utc>,
    #[serde(with = "chrono::serde::ts_seconds")]
    pub updated: DateTime<Utc>,
    #[serde(with = "chrono::serde::ts_seconds_option")]
    pub last_verified: Option<DateTime<Utc>>,
    #[serde(with = "chrono::serde::ts_seconds_option")]
    pub last_activity: Option<DateTime<Utc>>,
}

/// `t` without its fraction of a second: records keep whole seconds.
pub fn to_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// The current time in whole seconds.
pub fn now() -> DateTime<Utc> {
    to_seconds(Utc::now())
}

impl Timestamps {
    pub fn at(now: DateTime<Utc>) -> Self {
        let now = to_seconds(now);
        Self { created: now, updated: now, last_verified: None, last_activity: None }
    }
}

/// Where the data came from: the source system and when it was collected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub source: String,
    #[serde(with = "chrono::serde::ts_seconds")]
    pub collected_at: DateTime<Utc>,
}

/// One customer record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: RecordId,
    /// The id in the system the record came from (`provenance.source`).
    pub source_id: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Address,
    pub date_of_birth: Option<DateParts>,
    /// Columns we do not know. Kept, so the over-collection check can judge them.
    pub extra: Extras,
    pub times: Timestamps,
    pub provenance: Provenance,
    /// What stewards recorded about the customer's choices: consent
    /// history, a restriction of processing, how they last confirmed.
    pub care: Care,
}

/// Most consent events kept per record (the oldest go first beyond it).
pub const MAX_CONSENT_EVENTS: usize = 64;

/// What steward records about a customer's choices (schema 2).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Care {
    /// Processing restricted (GDPR Art. 18): the data is kept, not used.
    pub restricted: Option<Restriction>,
    /// Every consent given or withdrawn, oldest first: the proof, not just
    /// the current value (which the purpose's consent field also holds).
    pub consents: Vec<ConsentEvent>,
    /// How the customer last confirmed their details (reply, call, order).
    pub verified_how: Option<String>,
    /// When they were last asked to confirm their details (a
    /// re-verification list); unanswered past the policy's grace period,
    /// the record is due for housekeeping.
    #[serde(with = "chrono::serde::ts_seconds_option")]
    pub reverify_asked: Option<DateTime<Utc>>,
}

/// A restriction of processing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restriction {
    #[serde(with = "chrono::serde::ts_seconds")]
    pub since: DateTime<Utc>,
    pub by: String,
    pub reason: String,
}

/// One consent given or withdrawn, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentEvent {
    pub purpose: String,
    pub given: bool,
    /// When the customer gave or withdrew it.
    pub date: NaiveDate,
    /// Where: the form, the call, the letter.
    pub source: String,
    pub recorded_by: String,
    #[serde(with = "chrono::serde::ts_seconds")]
    pub recorded_at: DateTime<Utc>,
}

impl Care {
    /// The latest consent for `purpose` by the date the customer gave or
    /// withdrew it (a back-dated paper form recorded today does not undo
    /// a withdrawal of last week); of two on one day, the later recorded.
    pub fn consent(&self, purpose: &str) -> Option<&ConsentEvent> {
        self.consents
            .iter()
            .enumerate()
            .filter(|(_, c)| c.purpose == purpose)
            .max_by_key(|(i, c)| (c.date, *i))
            .map(|(_, c)| c)
    }
}

/// A record as schema 1 wrote it (before [`Care`]).
#[derive(Deserialize)]
struct RecordV1 {
    id: RecordId,
    source_id: String,
    given_name: Option<String>,
    family_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    address: Address,
    date_of_birth: Option<DateParts>,
    extra: Extras,
    times: Timestamps,
    provenance: Provenance,
}

impl From<RecordV1> for Record {
    fn from(r: RecordV1) -> Record {
        Record {
            id: r.id,
            source_id: r.source_id,
            given_name: r.given_name,
            family_name: r.family_name,
            email: r.email,
            phone: r.phone,
            address: r.address,
            date_of_birth: r.date_of_birth,
            extra: r.extra,
            times: r.times,
            provenance: r.provenance,
            care: Care::default(),
        }
    }
}

/// What the checks across records, the match index and a scan's output use
/// of a record: its id, source id, email, creation time and country. [`Record`] has
/// them; so does the much smaller [`Slim`] a streamed scan keeps of each.
pub trait Identified: Sync {
    fn id(&self) -> RecordId;
    fn source_id(&self) -> &str;
    fn email(&self) -> Option<&str>;
    fn created(&self) -> DateTime<Utc>;
    fn country(&self) -> Option<&str>;
}

impl Identified for Record {
    fn id(&self) -> RecordId {
        self.id
    }
    fn source_id(&self) -> &str {
        &self.source_id
    }
    fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
    fn created(&self) -> DateTime<Utc> {
        self.times.created
    }
    fn country(&self) -> Option<&str> {
        self.address.country.as_deref()
    }
}

/// A record reduced to what [`Identified`] needs (under 100 bytes instead
/// of about a kilobyte).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slim {
    id: RecordId,
    source_id: Box<str>,
    email: Option<Box<str>>,
    created: DateTime<Utc>,
    country: Option<Box<str>>,
}

impl From<&Record> for Slim {
    fn from(r: &Record) -> Slim {
        Slim {
            id: r.id,
            source_id: r.source_id.as_str().into(),
            email: r.email.as_deref().map(Into::into),
            created: r.times.created,
            country: r.address.country.as_deref().map(Into::into),
        }
    }
}

impl Identified for Slim {
    fn id(&self) -> RecordId {
        self.id
    }
    fn source_id(&self) -> &str {
        &self.source_id
    }
    fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
    fn created(&self) -> DateTime<Utc> {
        self.created
    }
    fn country(&self) -> Option<&str> {
        self.country.as_deref()
    }
}

impl Record {
    /// An empty record from `source` with the given source id.
    pub fn new(source: &str, source_id: &str, now: DateTime<Utc>) -> Self {
        Self {
            id: RecordId::new(),
            source_id: source_id.to_owned(),
            given_name: None,
            family_name: None,
            email: None,
            phone: None,
            address: Address::default(),
            date_of_birth: None,
            extra: Extras::default(),
            times: Timestamps::at(now),
            provenance: Provenance { source: source.to_owned(), collected_at: to_seconds(now) },
            care: Care::default(),
        }
    }

    /// "Given Family", or whichever part exists; empty when neither does.
    pub fn display_name(&self) -> String {
        match (self.given_name.as_deref(), self.family_name.as_deref()) {
            (Some(g), Some(f)) => format!("{g} {f}"),
            (Some(g), None) => g.to_owned(),
            (None, Some(f)) => f.to_owned(),
            (None, None) => String::new(),
        }
    }

    /// The value of a core field, for display and generic access.
    pub fn get(&self, field: Field) -> Option<String> {
        let a = &self.address;
        match field {
            Field::GivenName => self.given_name.clone(),
            Field::FamilyName => self.family_name.clone(),
            Field::Email => self.email.clone(),
            Field::Phone => self.phone.clone(),
            Field::StreetNumber => a.street_number.clone(),
            Field::Address1 => a.line1.clone(),
            Field::Address2 => a.line2.clone(),
            Field::Locality => a.locality.clone(),
            Field::Region => a.region.clone(),
            Field::Postcode => a.postcode.clone(),
            Field::Country => a.country.clone(),
            Field::DateOfBirth => self.date_of_birth.map(|d| d.to_string()),
        }
    }

    /// Sets a core field from text (empty clears it). Dates must parse.
    pub fn set(&mut self, field: Field, value: Option<String>) -> Result<(), FieldError> {
        let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        if let Some(v) = &value
            && v.len() > MAX_FIELD_BYTES
        {
            return Err(FieldError::TooLong(field));
        }
        let a = &mut self.address;
        match field {
            Field::GivenName => self.given_name = value,
            Field::FamilyName => self.family_name = value,
            Field::Email => self.email = value,
            Field::Phone => self.phone = value,
            Field::StreetNumber => a.street_number = value,
            Field::Address1 => a.line1 = value,
            Field::Address2 => a.line2 = value,
            Field::Locality => a.locality = value,
            Field::Region => a.region = value,
            Field::Postcode => a.postcode = value,
            Field::Country => a.country = value.map(|c| c.to_uppercase()),
            Field::DateOfBirth => {
                self.date_of_birth = match value {
                    None => None,
                    Some(v) => Some(DateParts::parse(&v).ok_or(FieldError::NotADate(field))?),
                }
            }
        }
        Ok(())
    }
}

/// Why a field value was refused. Never carries the value itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("{0} is longer than {MAX_FIELD_BYTES} bytes")]
    TooLong(Field),
    #[error("{0} is not a date (expected YYYY-MM-DD or YYYYMMDD)")]
    NotADate(Field),
}

/// The core fields, with their canonical names (used by the CLI, import
/// mapping, the policy file and the screens).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    GivenName,
    FamilyName,
    Email,
    Phone,
    StreetNumber,
    Address1,
    Address2,
    Locality,
    Region,
    Postcode,
    Country,
    DateOfBirth,
}

impl Field {
    pub const ALL: [Field; 12] = [
        Field::GivenName,
        Field::FamilyName,
        Field::Email,
        Field::Phone,
        Field::StreetNumber,
        Field::Address1,
        Field::Address2,
        Field::Locality,
        Field::Region,
        Field::Postcode,
        Field::Country,
        Field::DateOfBirth,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::GivenName => "given_name",
            Field::FamilyName => "family_name",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::StreetNumber => "street_number",
            Field::Address1 => "address_1",
            Field::Address2 => "address_2",
            Field::Locality => "locality",
            Field::Region => "region",
            Field::Postcode => "postcode",
            Field::Country => "country",
            Field::DateOfBirth => "date_of_birth",
        }
    }

    /// A short human label for screens.
    pub fn label(self) -> &'static str {
        match self {
            Field::GivenName => "Given name",
            Field::FamilyName => "Family name",
            Field::Email => "Email",
            Field::Phone => "Phone",
            Field::StreetNumber => "Street no.",
            Field::Address1 => "Address",
            Field::Address2 => "Address 2",
            Field::Locality => "Locality",
            Field::Region => "Region",
            Field::Postcode => "Postcode",
            Field::Country => "Country",
            Field::DateOfBirth => "Date of birth",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Field {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Field::ALL.into_iter().find(|f| f.name() == s).ok_or_else(|| format!("unknown field `{s}`"))
    }
}

/// Errors decoding a stored record.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("record schema {0} is newer than this steward understands ({RECORD_SCHEMA}); upgrade steward")]
    TooNew(u16),
    #[error("record encoding is corrupt")]
    Corrupt,
}

/// Encodes a record as `[schema u16 LE][postcard]`.
pub fn encode(record: &Record) -> Vec<u8> {
    let out = RECORD_SCHEMA.to_le_bytes().to_vec();
    // postcard cannot fail on these types except on allocation failure.
    match postcard::to_extend(record, out) {
        Ok(v) => v,
        Err(_) => RECORD_SCHEMA.to_le_bytes().to_vec(),
    }
}

/// Decodes what [`encode`] wrote, refusing newer schemas.
pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
    let (head, body) = bytes.split_at_checked(2).ok_or(DecodeError::Corrupt)?;
    let schema = u16::from_le_bytes([head[0], head[1]]);
    if schema > RECORD_SCHEMA {
        return Err(DecodeError::TooNew(schema));
    }
    if schema == 1 {
        return postcard::from_bytes::<RecordV1>(body).map(Record::from).map_err(|_| DecodeError::Corrupt);
    }
    postcard::from_bytes(body).map_err(|_| DecodeError::Corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let mut r = Record::new("crm", "C-1", now);
        r.given_name = Some("Ada".into());
        r.family_name = Some("Lovelace".into());
        r.email = Some("ada@example.com".into());
        r.date_of_birth = DateParts::parse("18151210");
        r.extra.insert("fax".into(), "+44 20 7946 0000".into());
        r
    }

    #[test]
    fn encode_round_trips() {
        let r = sample();
        assert_eq!(decode(&encode(&r)).ok(), Some(r));
    }

    #[test]
    fn extras_encode_like_a_map() {
        let mut e = Extras::default();
        e.insert("zeta".into(), "1".into());
        e.insert("alpha".into(), "2".into());
        e.insert("zeta".into(), "3".into());
        assert_eq!(e.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), vec!["alpha", "zeta"]);
        assert_eq!(e.get("zeta").map(String::as_str), Some("3"));
        let mut m = BTreeMap::new();
        m.insert("alpha".to_owned(), "2".to_owned());
        m.insert("zeta".to_owned(), "3".to_owned());
        assert_eq!(postcard::to_allocvec(&e).ok(), postcard::to_allocvec(&m).ok(), "same bytes as the map it replaced");
        assert_eq!(serde_json::to_string(&e).ok(), serde_json::to_string(&m).ok());
        assert_eq!(e.remove("alpha").as_deref(), Some("2"));
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn schema_1_records_still_read() {
        // What schema 1 wrote: the same fields, without `care`.
        #[derive(Serialize)]
        struct V1<'a> {
            id: RecordId,
            source_id: &'a str,
            given_name: &'a Option<String>,
            family_name: &'a Option<String>,
            email: &'a Option<String>,
            phone: &'a Option<String>,
            address: &'a Address,
            date_of_birth: Option<DateParts>,
            extra: &'a Extras,
            times: &'a Timestamps,
            provenance: &'a Provenance,
        }
        let r = sample();
        let v1 = V1 {
            id: r.id,
            source_id: &r.source_id,
            given_name: &r.given_name,
            family_name: &r.family_name,
            email: &r.email,
            phone: &r.phone,
            address: &r.address,
            date_of_birth: r.date_of_birth,
            extra: &r.extra,
            times: &r.times,
            provenance: &r.provenance,
        };
        let bytes = postcard::to_extend(&v1, 1u16.to_le_bytes().to_vec()).expect("encodes");
        assert_eq!(decode(&bytes).ok(), Some(r));
        let mut with_care = sample();
        with_care.care.verified_how = Some("call".into());
        with_care.care.restricted =
            Some(Restriction { since: with_care.times.created, by: "ops".into(), reason: "disputed".into() });
        assert_eq!(decode(&encode(&with_care)).ok(), Some(with_care));
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut bytes = encode(&sample());
        bytes[0] = 0xff;
        assert!(matches!(decode(&bytes), Err(DecodeError::TooNew(_))));
    }

    #[test]
    fn dates_keep_impossible_parts() {
        let d = DateParts::parse("19371233").expect("shape is fine");
        assert_eq!((d.year, d.month, d.day), (1937, 12, 33));
        assert!(d.to_date().is_none());
        assert_eq!(DateParts::parse("1990-02-03").and_then(DateParts::to_date), NaiveDate::from_ymd_opt(1990, 2, 3));
        for bad in ["", "1990/02/03", "3 May 1990", "199002033", "1990-2-3", "19x00203"] {
            assert!(DateParts::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn field_names_round_trip() {
        for f in Field::ALL {
            assert_eq!(f.name().parse::<Field>(), Ok(f));
        }
    }
}
