//! Personal-data breaches: when one was discovered and what happened,
//! which records it touched (a scope, frozen when the incident is opened),
//! the counts the authority asks for, the risk to the people, whom steward
//! was told has been notified, and a timeline of what was done.
//!
//! A breach holds record ids, field names, counts and the admin's words;
//! never a customer's value. It is sealed in the store all the same (the
//! description is free text), and the notification list — names and
//! contacts — is only ever written age-encrypted.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use super::RecordId;

/// Hours GDPR Art. 33 gives to tell the supervisory authority.
pub const AUTHORITY_HOURS: i64 = 72;

/// Which records a breach touched: every filter given must hold (an empty
/// filter holds for all).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Records from these sources (`provenance.source`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Records written by these import batches (the number each import's
    /// audit entry names: `steward audit list --action import`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batches: Vec<u64>,
    /// Customers who signed up within this window (`created`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_from: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_to: Option<DateTime<Utc>>,
    /// Records holding a value in a field of one of these categories (a
    /// category and everything under it: `user.contact` takes email and phone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Only these records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<RecordId>,
}

impl Scope {
    /// Whether no filter was given (the whole store).
    pub fn is_everything(&self) -> bool {
        *self == Scope::default()
    }

    /// The filters in words (no personal data: sources, dates, categories, a count of ids).
    pub fn describe(&self) -> String {
        let day = |t: &DateTime<Utc>| t.format("%Y-%m-%d %H:%M").to_string();
        let range = |a: &Option<DateTime<Utc>>, b: &Option<DateTime<Utc>>| match (a, b) {
            (Some(a), Some(b)) => Some(format!("{} to {}", day(a), day(b))),
            (Some(a), None) => Some(format!("since {}", day(a))),
            (None, Some(b)) => Some(format!("until {}", day(b))),
            (None, None) => None,
        };
        let mut parts = Vec::new();
        if !self.sources.is_empty() {
            parts.push(format!("source {}", self.sources.join(", ")));
        }
        if !self.batches.is_empty() {
            let b: Vec<String> = self.batches.iter().map(u64::to_string).collect();
            parts.push(format!("import batch {}", b.join(", ")));
        }
        if let Some(r) = range(&self.created_from, &self.created_to) {
            parts.push(format!("signed up {r}"));
        }
        if !self.categories.is_empty() {
            parts.push(format!("holding {}", self.categories.join(", ")));
        }
        if !self.ids.is_empty() {
            parts.push(format!("{} listed record(s)", self.ids.len()));
        }
        if parts.is_empty() { "every record".into() } else { parts.join("; ") }
    }

    /// Whether a category (`user.contact.email`) falls under one of the
    /// scope's (`user.contact`).
    pub fn covers_category(&self, category: &str) -> bool {
        self.categories.iter().any(|c| under(category, c))
    }
}

/// Whether `category` is `parent` or below it.
pub fn under(category: &str, parent: &str) -> bool {
    category == parent || category.strip_prefix(parent).is_some_and(|rest| rest.starts_with('.'))
}

/// One affected record and the fields of it the breach involved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Affected {
    pub id: RecordId,
    /// Field names (not values) held when the breach was scoped; a free-text
    /// field hiding a card number is named `notes (card number)`. Records
    /// holding the same fields share one list (a million affected records
    /// hold a few dozen distinct lists).
    pub fields: std::sync::Arc<[String]>,
}

/// The affected records as stored and printed: each distinct list of
/// fields once (`sets`), the ids in order, and for each id the index of its
/// list (`set_of`) — compact at a million records.
mod compact {
    use std::collections::HashMap;
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Affected, RecordId};

    #[derive(Serialize, Deserialize)]
    struct Compact {
        sets: Vec<Vec<String>>,
        ids: Vec<RecordId>,
        set_of: Vec<u32>,
    }

    pub fn serialize<S: Serializer>(list: &[Affected], s: S) -> Result<S::Ok, S::Error> {
        let mut index: HashMap<&[String], u32> = HashMap::new();
        let mut sets: Vec<Vec<String>> = Vec::new();
        let mut set_of = Vec::with_capacity(list.len());
        for a in list {
            let n = *index.entry(&a.fields[..]).or_insert_with(|| {
                sets.push(a.fields.to_vec());
                u32::try_from(sets.len() - 1).unwrap_or(u32::MAX)
            });
            set_of.push(n);
        }
        Compact { sets, ids: list.iter().map(|a| a.id).collect(), set_of }.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Affected>, D::Error> {
        let c = Compact::deserialize(d)?;
        let sets: Vec<Arc<[String]>> = c.sets.into_iter().map(Arc::from).collect();
        if c.ids.len() != c.set_of.len() {
            return Err(serde::de::Error::custom("affected: ids and set_of differ in length"));
        }
        c.ids
            .into_iter()
            .zip(c.set_of)
            .map(|(id, n)| {
                let fields =
                    sets.get(n as usize).cloned().ok_or_else(|| serde::de::Error::custom("affected: no such set"))?;
                Ok(Affected { id, fields })
            })
            .collect()
    }
}

/// The counts the authority asks for (Art. 33(3)(a)).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    pub records: usize,
    /// Records sharing an email address counted once: an estimate of the
    /// number of people.
    pub people: usize,
    /// Records holding data of each category.
    pub by_category: BTreeMap<String, usize>,
    /// Records per regime (see `policy::jurisdiction`).
    pub by_jurisdiction: BTreeMap<String, usize>,
    /// Records per country of address (`none` without one).
    pub by_country: BTreeMap<String, usize>,
    /// Records of customers under a law with the 72-hour clock (the GDPR,
    /// the UK GDPR).
    pub under_72h_clock: usize,
    /// Categories whose loss puts people at high risk (government ids,
    /// financial data ...), present among the affected records.
    pub high_risk_categories: Vec<String>,
}

/// The risk to the people, as assessed by an admin (Art. 33(1), 34(1)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Not assessed yet: the clock runs.
    #[default]
    Unassessed,
    /// Unlikely to result in a risk: documented, no notification due (Art. 33(1), 33(5)).
    Unlikely,
    /// A risk: the authority must be told.
    Risk,
    /// A high risk: the people must be told too (Art. 34).
    High,
}

impl Risk {
    pub fn name(self) -> &'static str {
        match self {
            Risk::Unassessed => "not assessed",
            Risk::Unlikely => "unlikely to result in a risk",
            Risk::Risk => "a risk to the people",
            Risk::High => "a high risk to the people",
        }
    }

    pub fn parse(s: &str) -> Option<Risk> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "unlikely" | "low" => Some(Risk::Unlikely),
            "risk" | "medium" => Some(Risk::Risk),
            "high" => Some(Risk::High),
            _ => None,
        }
    }
}

/// One step of the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub time: DateTime<Utc>,
    pub by: String,
    pub what: String,
}

/// A breach. `Default` is an empty, unassessed, unnotified, open one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breach {
    /// `BR-YYYY-NNNN`.
    pub reference: String,
    /// When the controller became aware of it: the clock starts here.
    pub discovered: DateTime<Utc>,
    pub opened: DateTime<Utc>,
    pub opened_by: String,
    /// What happened, in the admin's words.
    pub what: String,
    pub scope: Scope,
    #[serde(with = "compact")]
    pub affected: Vec<Affected>,
    pub figures: Figures,
    pub risk: Risk,
    #[serde(default)]
    pub risk_reason: Option<String>,
    pub authority_notified: Option<DateTime<Utc>>,
    pub people_notified: Option<DateTime<Utc>>,
    pub closed: Option<DateTime<Utc>>,
    pub timeline: Vec<Step>,
}

/// Where the authority clock stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Clock {
    /// Running: this long left until the deadline.
    Running { deadline: DateTime<Utc>, seconds_left: i64 },
    /// Past the deadline without a notification: it must give the reasons
    /// for the delay (Art. 33(1)).
    Overdue { deadline: DateTime<Utc>, seconds_over: i64 },
    /// The authority was told, this many seconds after discovery.
    Notified { at: DateTime<Utc>, within_deadline: bool },
    /// Assessed as unlikely to result in a risk, or no affected customer is
    /// under a law with the clock: nothing to send (document it).
    NotDue,
}

impl Breach {
    /// The Art. 33 deadline: 72 hours after discovery.
    pub fn deadline(&self) -> DateTime<Utc> {
        self.discovered + Duration::hours(AUTHORITY_HOURS)
    }

    /// Whether any affected customer is under the GDPR or the UK GDPR.
    pub fn clock_applies(&self) -> bool {
        self.figures.under_72h_clock > 0
    }

    pub fn clock(&self, now: DateTime<Utc>) -> Clock {
        let deadline = self.deadline();
        if let Some(at) = self.authority_notified {
            return Clock::Notified { at, within_deadline: at <= deadline };
        }
        if self.risk == Risk::Unlikely || !self.clock_applies() {
            return Clock::NotDue;
        }
        let left = (deadline - now).num_seconds();
        if left >= 0 {
            Clock::Running { deadline, seconds_left: left }
        } else {
            Clock::Overdue { deadline, seconds_over: -left }
        }
    }

    /// The risk as assessed, or, before the assessment, the one the data
    /// suggests: high when high-risk categories (government ids, financial
    /// data, credentials, health) are among it.
    pub fn suggested_risk(&self) -> Risk {
        match self.risk {
            Risk::Unassessed if !self.figures.high_risk_categories.is_empty() => Risk::High,
            Risk::Unassessed => Risk::Risk,
            r => r,
        }
    }

    /// Whether the people must be told (Art. 34): the risk is high and
    /// they have not been yet.
    pub fn people_due(&self) -> bool {
        self.risk == Risk::High && self.people_notified.is_none()
    }

    pub fn is_open(&self) -> bool {
        self.closed.is_none()
    }
}

/// A time as an admin types it at 2 a.m.: RFC 3339, `YYYY-MM-DD HH:MM[:SS]`
/// (UTC), `YYYY-MM-DD` (midnight UTC), `now`, `N[mhd] ago` / `-N[mhd]`.
pub fn parse_when(s: &str, now: DateTime<Utc>) -> std::result::Result<DateTime<Utc>, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    let rel = t.strip_suffix("ago").map(str::trim).or_else(|| t.strip_prefix('-'));
    if let Some(r) = rel {
        let (n, unit) = r.split_at(r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len()));
        let n: i64 =
            n.parse().map_err(|_| format!("`{}`: say how long ago, e.g. `30h ago`", super::text::sanitize(t)))?;
        let d = match unit.trim() {
            "m" | "min" | "minutes" => Duration::try_minutes(n),
            "h" | "hours" => Duration::try_hours(n),
            "d" | "days" => Duration::try_days(n),
            _ => return Err(format!("`{}`: use m, h or d, e.g. `30h ago`", super::text::sanitize(t))),
        };
        return d
            .and_then(|d| now.checked_sub_signed(d))
            .filter(|t| chrono::Datelike::year(t) >= 1970)
            .ok_or_else(|| format!("`{}` is too long ago", super::text::fit(&super::text::sanitize(t), 40)));
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(t, f) {
            return Ok(d.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).map_or(now, |d| d.and_utc()));
    }
    Err(format!(
        "`{}` is not a time: use `2026-11-28 14:30` (UTC), RFC 3339, `now` or `30h ago`",
        super::text::fit(&super::text::sanitize(t), 40)
    ))
}

/// [`parse_when`] for the end of a window: a bare date means the end of
/// that day (`--signed-up-to 2025-03-01` takes the whole first of March).
pub fn parse_until(s: &str, now: DateTime<Utc>) -> std::result::Result<DateTime<Utc>, String> {
    let t = parse_when(s, now)?;
    if NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").is_ok() {
        return Ok(t + Duration::days(1) - Duration::seconds(1));
    }
    Ok(t)
}

/// `HHh MMm` for a number of seconds (negative as positive).
pub fn hours_minutes(seconds: i64) -> String {
    let s = seconds.unsigned_abs();
    format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
}

impl Clock {
    /// One line for a list or a header: `41h 12m left`, `OVERDUE by 3h 05m` ...
    pub fn short(&self) -> String {
        match self {
            Clock::Running { seconds_left, .. } => format!("{} left", hours_minutes(*seconds_left)),
            Clock::Overdue { seconds_over, .. } => format!("OVERDUE by {}", hours_minutes(*seconds_over)),
            Clock::Notified { at, within_deadline: true } => format!("told {}", at.format("%m-%d %H:%M")),
            Clock::Notified { at, within_deadline: false } => format!("told late {}", at.format("%m-%d %H:%M")),
            Clock::NotDue => "no notice due".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn breach(now: DateTime<Utc>) -> Breach {
        let mut figures = Figures::default();
        figures.by_jurisdiction.insert("UK GDPR".into(), 3);
        figures.under_72h_clock = 3;
        Breach {
            reference: "BR-2026-0001".into(),
            discovered: now - Duration::hours(30),
            opened: now,
            opened_by: "admin".into(),
            what: "a backup bucket was public".into(),
            scope: Scope { sources: vec!["webshop".into()], ..Scope::default() },
            figures,
            ..Breach::default()
        }
    }

    #[test]
    fn the_clock_runs_72_hours_from_discovery() {
        let now = Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).single().expect("time");
        let mut b = breach(now);
        assert_eq!(
            b.clock(now),
            Clock::Running { deadline: b.discovered + Duration::hours(72), seconds_left: 42 * 3600 }
        );
        assert_eq!(b.clock(now).short(), "42h 00m left");
        let late = now + Duration::hours(43);
        assert!(matches!(b.clock(late), Clock::Overdue { seconds_over: 3600, .. }));
        assert_eq!(b.clock(late).short(), "OVERDUE by 1h 00m");
        b.authority_notified = Some(now + Duration::hours(1));
        assert!(matches!(b.clock(late), Clock::Notified { within_deadline: true, .. }));
        b.authority_notified = None;
        b.risk = Risk::Unlikely;
        assert_eq!(b.clock(now), Clock::NotDue);
        // Only customers outside the GDPR: no Art. 33 clock.
        b.risk = Risk::Unassessed;
        b.figures.under_72h_clock = 0;
        assert_eq!(b.clock(now), Clock::NotDue);
    }

    #[test]
    fn affected_records_are_stored_with_their_field_lists_once() {
        let now = Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).single().expect("time");
        let mut b = breach(now);
        let a: std::sync::Arc<[String]> = vec!["email".to_owned(), "given_name".to_owned()].into();
        let c: std::sync::Arc<[String]> = vec!["national_id".to_owned()].into();
        b.affected = (0..4u128)
            .map(|i| Affected {
                id: RecordId::from_bytes(i.to_be_bytes()),
                fields: if i == 2 { c.clone() } else { a.clone() },
            })
            .collect();
        let json = serde_json::to_string(&b).expect("json");
        assert_eq!(json.matches("given_name").count(), 1, "{json}");
        let back: Breach = serde_json::from_str(&json).expect("back");
        assert_eq!(back, b);
    }

    #[test]
    fn scopes_describe_themselves_and_categories_nest() {
        let s = Scope { sources: vec!["webshop".into()], categories: vec!["user.contact".into()], ..Scope::default() };
        assert_eq!(s.describe(), "source webshop; holding user.contact");
        assert!(s.covers_category("user.contact.email"));
        assert!(!s.covers_category("user.contactless"));
        assert!(Scope::default().is_everything());
    }

    #[test]
    fn times_read_as_typed() {
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).single().expect("now");
        assert_eq!(parse_when("now", now), Ok(now));
        assert_eq!(parse_when("30h ago", now), Ok(now - Duration::hours(30)));
        assert_eq!(parse_when("-2d", now), Ok(now - Duration::days(2)));
        assert_eq!(
            parse_when("2026-11-27 08:15", now),
            Ok(Utc.with_ymd_and_hms(2026, 11, 27, 8, 15, 0).single().expect("t"))
        );
        assert_eq!(
            parse_when("2026-11-27T08:15:00+01:00", now),
            Ok(Utc.with_ymd_and_hms(2026, 11, 27, 7, 15, 0).single().expect("t"))
        );
        assert_eq!(parse_when("2026-11-27", now), Ok(Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).single().expect("t")));
        assert!(parse_when("yesterday-ish", now).is_err());
        assert!(parse_when("99999999999999999h ago", now).is_err(), "too far back: an error, not a panic");
        assert!(parse_when("100000000d ago", now).is_err());
        assert_eq!(
            parse_until("2026-11-27", now),
            Ok(Utc.with_ymd_and_hms(2026, 11, 27, 23, 59, 59).single().expect("t"))
        );
        assert_eq!(parse_until("now", now), Ok(now));
        assert!(parse_when("3 fortnights ago", now).is_err());
    }
}
