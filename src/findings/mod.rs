//! What is wrong with the data, and why: pure rules over records and the
//! policy. No I/O, no terminal; the service runs them off the UI thread.
//!
//! Kinds: `stale`, `expired`, `duplicate`, `overcollected`, `pii`,
//! `invalid`, `suspect`, `consent`, `incomplete` (see [`Kind`]). Every finding names its
//! record(s), the field where relevant, a severity and human-readable
//! reasons — which never contain the personal data itself beyond what a
//! masked excerpt shows (a card number is shown as its first 6 and last 4
//! digits at most).

pub mod duplicates;
pub mod normalize;
pub mod pii;
pub mod validate;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rayon::prelude::*;
use serde::Serialize;

use crate::model::{Field, Identified, Record, Slim};
use crate::policy::Policy;

/// The kinds of finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Stale,
    Expired,
    Duplicate,
    Overcollected,
    Pii,
    Invalid,
    Suspect,
    Consent,
    /// Personal data without a name, email or phone: it can be neither
    /// matched to a requester nor contacted.
    Incomplete,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Duplicate,
        Kind::Pii,
        Kind::Expired,
        Kind::Overcollected,
        Kind::Invalid,
        Kind::Suspect,
        Kind::Consent,
        Kind::Incomplete,
        Kind::Stale,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Stale => "stale",
            Kind::Expired => "expired",
            Kind::Duplicate => "duplicate",
            Kind::Overcollected => "overcollected",
            Kind::Pii => "pii",
            Kind::Invalid => "invalid",
            Kind::Suspect => "suspect",
            Kind::Consent => "consent",
            Kind::Incomplete => "incomplete",
        }
    }

    /// A short badge for tables (a non-colour cue).
    pub fn badge(self) -> &'static str {
        match self {
            Kind::Stale => "S",
            Kind::Expired => "X",
            Kind::Duplicate => "D",
            Kind::Overcollected => "O",
            Kind::Pii => "P",
            Kind::Invalid => "I",
            Kind::Suspect => "B",
            Kind::Consent => "C",
            Kind::Incomplete => "N",
        }
    }

    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }

    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// How urgent a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Danger,
}

/// One finding.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub kind: Kind,
    /// Indices into the scanned records.
    pub records: Vec<u32>,
    pub field: Option<String>,
    pub category: Option<pii::Category>,
    pub score: Option<f64>,
    pub severity: Severity,
    pub reasons: Vec<String>,
    /// Stable id of a duplicate cluster.
    pub cluster: Option<String>,
    /// Duplicates: for each record after the first, how each field compares
    /// with the first record's.
    pub explanation: Vec<Vec<duplicates::FieldComparison>>,
}

impl Finding {
    fn one(kind: Kind, index: u32, severity: Severity, field: Option<&str>, reason: String) -> Finding {
        Finding {
            kind,
            records: vec![index],
            field: field.map(str::to_owned),
            category: None,
            score: None,
            severity,
            reasons: vec![reason],
            cluster: None,
            explanation: Vec::new(),
        }
    }
}

/// The result of a scan.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Boxed: a patch moves a million of them in a few milliseconds.
    pub findings: Vec<Box<Finding>>,
    /// Per record, a bit per [`Kind`] it has findings of.
    pub kinds: Vec<u16>,
    pub duplicates: duplicates::DuplicateStats,
    pub policy_is_default: bool,
}

impl Report {
    /// Findings per kind.
    pub fn summary(&self) -> BTreeMap<Kind, usize> {
        let mut s: BTreeMap<Kind, usize> = Kind::ALL.iter().map(|k| (*k, 0)).collect();
        for f in &self.findings {
            *s.entry(f.kind).or_default() += 1;
        }
        s
    }

    /// Data-quality score, 0-100: the share of records without findings,
    /// where a record with only `stale`/`consent` findings counts half.
    pub fn quality(&self) -> f64 {
        if self.kinds.is_empty() {
            return 100.0;
        }
        let soft = Kind::Stale.bit() | Kind::Consent.bit();
        let penalty: f64 = self
            .kinds
            .iter()
            .map(|k| match *k {
                0 => 0.0,
                k if k & !soft == 0 => 0.5,
                _ => 1.0,
            })
            .sum();
        (100.0 * (1.0 - penalty / self.kinds.len() as f64) * 10.0).round() / 10.0
    }
}

/// Values that mean a consent was withdrawn.
const WITHDRAWN: [&str; 5] = ["withdrawn", "revoked", "opt-out", "opted out", "unsubscribed"];

/// True when extra field `name` holds free text that the `pii` check (and
/// redaction) looks inside: the policy says so, or its name suggests it.
pub fn is_free_text(policy: &Policy, name: &str) -> bool {
    policy.field(name).map_or_else(|| looks_free_text(name), |f| f.free_text)
}

/// Names of extra columns that are free text even when the policy does not say so.
fn looks_free_text(name: &str) -> bool {
    ["note", "comment", "remark", "memo", "description", "message", "text"].iter().any(|w| name.contains(w))
}

/// Days between two instants.
fn days(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_days()
}

/// The non-empty fields of a record: (name, value).
pub fn present(r: &Record) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        Field::ALL.iter().filter_map(|f| r.get(*f).map(|v| (f.name().to_owned(), v))).collect();
    out.extend(r.extra.iter().filter(|(_, v)| !v.trim().is_empty()).map(|(k, v)| (k.clone(), v.clone())));
    out
}

/// What a record says about consent to one purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consent {
    /// Given (`yes`, `true`, `opt-in` ..., or a consent recorded in steward).
    Given,
    /// Asked and refused (`no`, `false`).
    Refused,
    /// Withdrawn (`withdrawn`, `unsubscribed` ..., or recorded in steward).
    Withdrawn,
    /// Nothing recorded.
    Missing,
    /// A value that says neither (treated as no consent).
    Unclear,
}

const GIVEN: [&str; 10] = ["yes", "y", "true", "1", "given", "granted", "opt-in", "opted in", "consented", "agreed"];
const REFUSED: [&str; 6] = ["no", "n", "false", "0", "refused", "declined"];

/// The consent `r` holds for `purpose`, whose consent field is `field`: the
/// consent history, when steward recorded one, is the proof; the field (as
/// imported, or edited since) can only take it away — a field saying
/// `withdrawn` or `no` wins over a history saying given, because someone
/// changed it after the history was written (recording a consent sets the
/// field too). Without a history, the field decides.
pub fn consent(r: &Record, purpose: &str, field: &str) -> Consent {
    let value = r.extra.get(field).map(|v| v.trim().to_lowercase()).filter(|v| !v.is_empty());
    let from_field = match value.as_deref() {
        None => Consent::Missing,
        Some(v) if GIVEN.contains(&v) => Consent::Given,
        Some(v) if WITHDRAWN.contains(&v) => Consent::Withdrawn,
        Some(v) if REFUSED.contains(&v) => Consent::Refused,
        Some(_) => Consent::Unclear,
    };
    match r.care.consent(purpose) {
        Some(c) if !c.given => Consent::Withdrawn,
        Some(_) if matches!(from_field, Consent::Withdrawn | Consent::Refused) => from_field,
        Some(_) => Consent::Given,
        None => from_field,
    }
}

/// Where a record stands against the retention of its purposes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retention<'p> {
    /// Days since the customer's last activity (or the record's last update).
    pub inactive: i64,
    /// The purposes its fields serve, with their retention.
    pub purposes: BTreeMap<&'p str, Option<u32>>,
    /// Past the retention of every purpose (a housekeeping candidate).
    pub expired: bool,
    /// Fields held that serve no declared purpose.
    pub undeclared: Vec<String>,
    /// Fields past the retention of all their purposes (in a record that is
    /// not expired as a whole).
    pub past: Vec<String>,
}

/// The retention verdicts of one record (`fields`: [`present`]): the same
/// rules as the `expired` and `overcollected` findings, for the record of
/// processing and the privacy notice.
pub fn retention<'p>(r: &Record, fields: &[(String, String)], policy: &'p Policy, now: DateTime<Utc>) -> Retention<'p> {
    let activity = r.times.last_activity.unwrap_or(r.times.updated);
    let inactive = days(activity, now);
    let mut purposes: BTreeMap<&'p str, Option<u32>> = BTreeMap::new();
    for (name, _) in fields {
        for (p, purpose) in policy.purposes_of(name) {
            purposes.insert(p, purpose.retention_days);
        }
    }
    let past = |ret: &Option<u32>| ret.is_some_and(|d| inactive > i64::from(d));
    let expired = !purposes.is_empty() && purposes.values().all(past);
    let mut out = Retention { inactive, purposes, expired, ..Retention::default() };
    for (name, _) in fields {
        let mut declared = policy.purposes_of(name).peekable();
        if declared.peek().is_none() {
            out.undeclared.push(name.clone());
        } else if !expired && declared.all(|(_, p)| past(&p.retention_days)) {
            out.past.push(name.clone());
        }
    }
    out
}

/// Phone verdicts shared by one scan. libphonenumber's validation is
/// costly (regexes behind one lock), and whether a number is valid is
/// decided by its country, length and leading digits; so each class of
/// (country, first 6 digits with country code, length) is validated once,
/// on the first number of that class, and the verdict reused.
#[derive(Default)]
pub struct PhoneVerdicts(HashMap<(String, String, usize), Option<&'static str>>);

fn phone_class(phone: &str, country: Option<&str>) -> Option<(String, String, usize)> {
    let digits = normalize::phone(phone, country)?;
    // Text around the digits (letters, extensions) is judged number by number.
    if phone.chars().any(|c| c.is_alphabetic()) {
        return None;
    }
    Some((country.unwrap_or("").to_owned(), digits.chars().take(6).collect(), digits.len()))
}

impl PhoneVerdicts {
    /// Validates one representative of every class among `records`' phones.
    pub fn for_records(records: &[Record]) -> PhoneVerdicts {
        let mut reps: HashMap<(String, String, usize), (&str, Option<&str>)> = HashMap::new();
        for r in records {
            if let Some(p) = &r.phone {
                let country = r.address.country.as_deref();
                if let Some(class) = phone_class(p, country) {
                    reps.entry(class).or_insert((p.as_str(), country));
                }
            }
        }
        let reps: Vec<_> = reps.into_iter().collect();
        PhoneVerdicts(reps.into_par_iter().map(|(class, (p, c))| (class, validate::phone(p, c))).collect())
    }

    fn verdict(&self, phone: &str, country: Option<&str>) -> Option<&'static str> {
        match phone_class(phone, country).and_then(|c| self.0.get(&c).copied()) {
            Some(v) => v,
            None => validate::phone(phone, country),
        }
    }
}

/// Checks that look at one record alone.
pub fn record_findings(r: &Record, index: u32, policy: &Policy, now: DateTime<Utc>) -> Vec<Finding> {
    record_findings_with(r, index, policy, now, &PhoneVerdicts::default())
}

/// [`record_findings`] with the phone verdicts of a whole scan.
pub fn record_findings_with(
    r: &Record,
    index: u32,
    policy: &Policy,
    now: DateTime<Utc>,
    phones: &PhoneVerdicts,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let country = r.address.country.as_deref();
    // stale
    let touched = r.times.last_verified.map_or(r.times.updated, |v| v.max(r.times.updated));
    let idle = days(touched, now);
    let window = i64::from(policy.settings.stale_after_days);
    if idle > window {
        out.push(Finding::one(
            Kind::Stale,
            index,
            Severity::Warning,
            None,
            format!("not verified or updated for {idle} days (policy: {window})"),
        ));
    }
    // incomplete: held, but neither matchable nor reachable
    let named = r.given_name.is_some() || r.family_name.is_some();
    if !named && r.email.is_none() && r.phone.is_none() {
        out.push(Finding::one(
            Kind::Incomplete,
            index,
            Severity::Warning,
            None,
            "no name, email or phone: it cannot be matched to a requester or the customer reached; complete it \
             from its source or erase it"
                .to_owned(),
        ));
    }
    // expired and over-collected
    let fields = present(r);
    let Retention { inactive, purposes, expired, undeclared, past } = retention(r, &fields, policy, now);
    if expired {
        let list: Vec<String> = purposes.iter().map(|(p, d)| format!("{p} ({} days)", d.unwrap_or(0))).collect();
        out.push(Finding::one(
            Kind::Expired,
            index,
            Severity::Danger,
            None,
            format!("past the retention of every purpose: {}; last activity {inactive} days ago", list.join(", ")),
        ));
    }
    // asked to confirm their details, and no answer within the grace period
    // Any sign of life since counts as an answer: a confirmation, an
    // order (activity), an update, a consent recorded.
    let heard = [r.times.last_verified, r.times.last_activity, Some(r.times.updated)]
        .into_iter()
        .flatten()
        .chain(r.care.consents.iter().map(|c| c.recorded_at))
        .max();
    if !expired
        && let Some(asked) = r.care.reverify_asked
        && heard.is_none_or(|h| h < asked)
        && days(asked, now) > i64::from(policy.settings.reverify_grace_days)
    {
        out.push(Finding::one(
            Kind::Expired,
            index,
            Severity::Danger,
            None,
            format!(
                "asked to confirm their details on {}, no answer in {} days (policy: {}): housekeeping erases it",
                asked.date_naive(),
                days(asked, now),
                policy.settings.reverify_grace_days
            ),
        ));
    }
    for (name, _) in &fields {
        if undeclared.contains(name) {
            out.push(Finding::one(
                Kind::Overcollected,
                index,
                Severity::Warning,
                Some(name),
                format!("`{name}` serves no declared purpose"),
            ));
        } else if past.contains(name) {
            let list: Vec<&str> = policy.purposes_of(name).map(|(n, _)| n).collect();
            out.push(Finding::one(
                Kind::Overcollected,
                index,
                Severity::Warning,
                Some(name),
                format!(
                    "`{name}` is past the retention of its purposes ({}); last activity {inactive} days ago",
                    list.join(", ")
                ),
            ));
        }
    }
    // pii in free text
    for (name, value) in &r.extra {
        if !is_free_text(policy, name) {
            continue;
        }
        for m in pii::scan(value, country) {
            let mut f = Finding::one(
                Kind::Pii,
                index,
                if matches!(m.category, pii::Category::CreditCard | pii::Category::UsSsn | pii::Category::Iban) {
                    Severity::Danger
                } else {
                    Severity::Warning
                },
                Some(name),
                format!("{} {} in free text `{name}`", m.category.label(), m.masked),
            );
            f.category = Some(m.category);
            out.push(f);
        }
    }
    // invalid
    if let Some(e) = &r.email {
        if let Some(why) = validate::email(e) {
            out.push(Finding::one(Kind::Invalid, index, Severity::Warning, Some("email"), why.to_owned()));
        } else if validate::is_disposable(e) {
            out.push(Finding::one(
                Kind::Invalid,
                index,
                Severity::Warning,
                Some("email"),
                "email uses a disposable-mailbox domain".to_owned(),
            ));
        }
    }
    if let Some(p) = &r.phone
        && let Some(why) = phones.verdict(p, country)
    {
        out.push(Finding::one(Kind::Invalid, index, Severity::Warning, Some("phone"), why.to_owned()));
    }
    if let Some(pc) = &r.address.postcode
        && let Some(why) = validate::postcode(pc, country)
    {
        out.push(Finding::one(Kind::Invalid, index, Severity::Warning, Some("postcode"), why));
    }
    if let Some(d) = r.date_of_birth
        && let Some(why) = validate::date_of_birth(d, now.date_naive())
    {
        out.push(Finding::one(Kind::Invalid, index, Severity::Warning, Some("date_of_birth"), why.to_owned()));
    }
    // consent (a record whose processing is restricted is kept, not used:
    // no purpose processes it, so none lacks consent)
    let restricted = r.care.restricted.is_some();
    for (pname, purpose) in policy.purposes.iter().filter(|_| !restricted) {
        if !purpose.needs_consent() {
            continue;
        }
        let used = fields.iter().any(|(n, _)| policy.purposes_of(n).any(|(p, _)| p == pname));
        let Some(cf) = &purpose.consent_field else { continue };
        if !used {
            continue;
        }
        match consent(r, pname, cf) {
            Consent::Missing => out.push(Finding::one(
                Kind::Consent,
                index,
                Severity::Warning,
                Some(cf),
                format!("data is held for `{pname}`, which needs consent, and no consent is recorded"),
            )),
            Consent::Withdrawn => out.push(Finding::one(
                Kind::Consent,
                index,
                Severity::Danger,
                Some(cf),
                format!("consent for `{pname}` was withdrawn, but data is still held for it"),
            )),
            Consent::Given | Consent::Refused | Consent::Unclear => {}
        }
    }
    out
}

/// Bot-like sign-ups: bursts of sign-ups minutes apart whose emails share a
/// prefix and run in sequence (`user4512@`, `user4513@` ...).
pub fn suspect_bursts<R: Identified>(records: &[R]) -> Vec<Finding> {
    const GAP_SECONDS: i64 = 300;
    const MIN_BURST: usize = 5;
    let mut order: Vec<u32> = (0..records.len() as u32).collect();
    order.sort_by_key(|&i| records[i as usize].created());
    let mut out = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len()
            && days_seconds(&records[order[end - 1] as usize], &records[order[end] as usize]) <= GAP_SECONDS
        {
            end += 1;
        }
        if end - start >= MIN_BURST {
            // Group the burst's emails by (prefix, domain) and look for runs of numbers.
            let mut groups: HashMap<(String, String), Vec<(u64, u32)>> = HashMap::new();
            for &i in &order[start..end] {
                if let Some((prefix, n, domain)) = records[i as usize].email().and_then(split_numbered) {
                    groups.entry((prefix, domain)).or_default().push((n, i));
                }
            }
            for ((prefix, domain), mut members) in groups {
                members.sort_unstable();
                let sequential = members.windows(2).filter(|w| w[1].0 - w[0].0 <= 3).count() + 1;
                if members.len() >= MIN_BURST && sequential * 10 >= members.len() * 8 {
                    let first = records[members[0].1 as usize].created();
                    let last = records[members[members.len() - 1].1 as usize].created();
                    let minutes = (last - first).num_minutes().abs().max(1);
                    let mut recs: Vec<u32> = members.iter().map(|(_, i)| *i).collect();
                    recs.sort_unstable();
                    out.push(Finding {
                        kind: Kind::Suspect,
                        records: recs,
                        field: Some("email".into()),
                        category: None,
                        score: None,
                        severity: Severity::Warning,
                        reasons: vec![format!(
                            "{} sign-ups within {minutes} minutes with sequential emails {prefix}<N>@{domain}",
                            members.len()
                        )],
                        cluster: None,
                        explanation: Vec::new(),
                    });
                }
            }
        }
        start = end;
    }
    out
}

fn days_seconds<R: Identified>(a: &R, b: &R) -> i64 {
    (b.created() - a.created()).num_seconds().abs()
}

/// `user4512@x.org` → ("user", 4512, "x.org").
fn split_numbered(email: &str) -> Option<(String, u64, String)> {
    let (local, domain) = email.trim().to_lowercase().rsplit_once('@').map(|(l, d)| (l.to_owned(), d.to_owned()))?;
    let digits_at = local.find(|c: char| c.is_ascii_digit())?;
    let (prefix, num) = local.split_at(digits_at);
    if prefix.is_empty() || !num.chars().all(|c| c.is_ascii_digit()) || num.len() > 12 {
        return None;
    }
    Some((prefix.to_owned(), num.parse().ok()?, domain))
}

/// Position of a kind in the report's order (most urgent first).
/// A kind's place in the order of the findings (most urgent first).
pub fn rank(k: Kind) -> usize {
    Kind::ALL.iter().position(|x| *x == k).unwrap_or(usize::MAX)
}

/// A duplicate finding for a cluster: every record, the weakest link as
/// score, and for each record after the first its comparison with the
/// first, field by field in bits (the prior first).
fn duplicate_finding<R: Identified>(
    records: &[R],
    features: &[duplicates::Features],
    model: &duplicates::Model,
    members: Vec<u32>,
    score: f64,
) -> Finding {
    let mut ids: Vec<_> = members.iter().map(|&i| records[i as usize].id()).collect();
    let cluster = duplicates::cluster_id(&mut ids);
    let anchor = &features[members[0] as usize];
    let mut reasons = vec![format!("{} records of one person (weakest link {score:.3})", members.len())];
    let explanation: Vec<Vec<duplicates::FieldComparison>> =
        members[1..].iter().map(|&m| duplicates::explain(model, anchor, &features[m as usize])).collect();
    for fields in &explanation {
        reasons.push(waterfall_line(fields));
    }
    Finding {
        kind: Kind::Duplicate,
        records: members,
        field: None,
        category: None,
        score: Some((score * 1000.0).round() / 1000.0),
        severity: Severity::Danger,
        reasons,
        cluster: Some(cluster),
        explanation,
    }
}

/// One line of a pair's evidence: `given_name same +5.1, date_of_birth
/// different -7.3, ...` (the prior and missing fields left out).
pub fn waterfall_line(fields: &[duplicates::FieldComparison]) -> String {
    fields
        .iter()
        .filter(|e| e.status != "missing" && e.status != "prior")
        .map(|e| format!("{} {} {:+.1}", e.field, e.status, e.bits))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a full scan keeps so that one changed record is rescanned without
/// scanning the world: the findings, every record's normalised features,
/// the blocking index and the estimated duplicate model.
pub struct ScanState {
    /// The findings (empty once taken: see [`ScanState::take_report`]).
    pub report: Report,
    /// The duplicate clusters, kept apart from the report so that a
    /// report handed to the screens can be patched there.
    clusters: Clusters,
    /// The report was handed out: patches are not applied here.
    taken: bool,
    features: Vec<duplicates::Features>,
    /// Built on the first incremental rescan (see [`duplicates::Found`]).
    blocks: Option<duplicates::BlockIndex>,
    model: duplicates::Model,
    settings: duplicates::Settings,
    apart: duplicates::Apart,
    policy: Policy,
    now: DateTime<Utc>,
}

/// Scans everything. `progress(stage)` reports the stage being run.
pub fn scan(records: &[Record], policy: &Policy, now: DateTime<Utc>, progress: &(dyn Fn(&str) + Sync)) -> Report {
    scan_state(records, policy, now, &duplicates::Apart::default(), progress).report
}

/// [`scan`], keeping what [`ScanState::rescan_record`] needs.
/// Pairs in `apart` (indices into `records`, lower first) were marked as
/// different people and are never clustered.
pub fn scan_state(
    records: &[Record],
    policy: &Policy,
    now: DateTime<Utc>,
    apart: &duplicates::Apart,
    progress: &(dyn Fn(&str) + Sync),
) -> ScanState {
    progress("checking phone numbers");
    let phones = PhoneVerdicts::for_records(records);
    progress("checking records");
    let findings = per_record_findings(records, 0, policy, now, &phones);
    let t = std::time::Instant::now();
    let features = duplicates::Features::all(records);
    if std::env::var_os("STEWARD_TRACE").is_some() {
        eprintln!("    {:>7} ms  features", t.elapsed().as_millis());
    }
    scan_rest(records, findings, features, policy, now, apart, progress)
}

/// The checks of one record at a time, for `records` numbered from `offset`.
fn per_record_findings(
    records: &[Record],
    offset: u32,
    policy: &Policy,
    now: DateTime<Utc>,
    phones: &PhoneVerdicts,
) -> Vec<Finding> {
    records
        .par_iter()
        .enumerate()
        .flat_map_iter(|(i, r)| record_findings_with(r, offset + i as u32, policy, now, phones))
        .collect()
}

/// A scan fed a chunk of records at a time, so that the whole store need not
/// be held decrypted: each chunk gets its per-record checks and gives its
/// matching features, and of each record only what the rest of the scan and
/// its output need is kept (a [`Slim`]: id, source id, email, creation
/// time, country). The result is the same as [`scan_state`]'s on all the records.
#[derive(Default)]
pub struct Streamed {
    findings: Vec<Finding>,
    features: Vec<duplicates::Features>,
    slim: Vec<Slim>,
}

impl Streamed {
    /// Takes the next chunk (records numbered on from the previous ones).
    pub fn push(&mut self, chunk: &[Record], policy: &Policy, now: DateTime<Utc>) {
        let offset = self.slim.len() as u32;
        let phones = PhoneVerdicts::for_records(chunk);
        self.findings.extend(per_record_findings(chunk, offset, policy, now, &phones));
        self.features.extend(duplicates::Features::all(chunk));
        self.slim.extend(chunk.iter().map(Slim::from));
    }

    /// The records taken so far, slimmed.
    pub fn records(&self) -> &[Slim] {
        &self.slim
    }

    /// Runs the checks across records; returns the slimmed records the
    /// findings' indices refer to, and the scan.
    pub fn finish(
        self,
        policy: &Policy,
        now: DateTime<Utc>,
        apart: &duplicates::Apart,
        progress: &(dyn Fn(&str) + Sync),
    ) -> (Vec<Slim>, ScanState) {
        let state = scan_rest(&self.slim, self.findings, self.features, policy, now, apart, progress);
        (self.slim, state)
    }
}

/// The checks across records: bot sign-ups and duplicates.
fn scan_rest<R: Identified>(
    records: &[R],
    mut findings: Vec<Finding>,
    mut features: Vec<duplicates::Features>,
    policy: &Policy,
    now: DateTime<Utc>,
    apart: &duplicates::Apart,
    progress: &(dyn Fn(&str) + Sync),
) -> ScanState {
    progress("looking for bot sign-ups");
    findings.extend(suspect_bursts(records));
    progress("looking for duplicates");
    let settings = duplicates::Settings {
        match_probability: policy.settings.duplicates.match_probability,
        cluster_probability: policy.settings.duplicates.cluster_probability,
    };
    let found = duplicates::find(&mut features, settings, apart);
    progress("explaining duplicate clusters");
    let model = found.model;
    let clusters = found.clusters;
    findings.par_extend(
        clusters.into_par_iter().map(|c| duplicate_finding(records, &features, &model, c.members, c.score)),
    );
    progress("summing up");
    let mut kinds = vec![0u16; records.len()];
    for f in &findings {
        for &r in &f.records {
            if let Some(k) = kinds.get_mut(r as usize) {
                *k |= f.kind.bit();
            }
        }
    }
    // Most urgent kinds first (the order of `Kind::ALL`), then by record.
    findings.par_sort_by(|a, b| rank(a.kind).cmp(&rank(b.kind)).then(a.records.cmp(&b.records)));
    let clusters = Clusters::of(&findings);
    let findings = findings.into_iter().map(Box::new).collect();
    ScanState {
        report: Report { findings, kinds, duplicates: found.stats, policy_is_default: false },
        clusters,
        taken: false,
        features,
        blocks: None,
        model,
        settings,
        apart: apart.clone(),
        policy: policy.clone(),
        now,
    }
}

impl ScanState {
    /// What request matching keeps from this scan (see
    /// [`duplicates::index::MatchIndex`]); `generation` is the store's
    /// record generation the scanned records are from.
    pub fn match_index<R: Identified>(&self, generation: u64, records: &[R]) -> duplicates::index::MatchIndex {
        let clusters: Vec<(Vec<u32>, f64)> = self
            .report
            .findings
            .iter()
            .filter(|f| f.kind == Kind::Duplicate)
            .map(|f| (f.records.clone(), f.score.unwrap_or(0.0)))
            .collect();
        duplicates::index::MatchIndex::build(generation, records, &self.features, self.model.clone(), &clusters)
    }

    /// Hands the report out (to the screens, which patch their copy with
    /// what [`ScanState::rescan`] returns); the state keeps what rescans need.
    pub fn take_report(&mut self) -> Report {
        self.taken = true;
        std::mem::take(&mut self.report)
    }

    /// Builds the blocking index now (the first rescan would otherwise).
    pub fn prepare(&mut self) {
        if self.blocks.is_none() {
            self.blocks = Some(duplicates::BlockIndex::build(&self.features));
        }
    }

    /// Updates the findings after record `index` changed: its own checks
    /// run again, and it is compared with the records of its blocks only
    /// (under the model of the full scan). Bot bursts are not re-examined
    /// (they depend on sign-up times, which edits do not change).
    pub fn rescan_record(&mut self, records: &[Record], index: u32) {
        let Some(r) = records.get(index as usize) else { return };
        self.rescan(records, &[(index, r)], None);
    }

    /// Updates the findings after records changed, were removed or added:
    /// `remap` says where every earlier record went (removed and inserted
    /// ones included), `changed` are the records written (new index, the
    /// record itself, unmasked), `records` the records as they are now (for
    /// their ids). Returns the patch; the state's own report, unless taken,
    /// is patched too. The cost is that of the changed records and their
    /// blocks, plus a pass over the findings when records moved.
    pub fn rescan<R: Identified>(&mut self, records: &[R], changed: &[(u32, &Record)], remap: Option<&Remap>) -> Patch {
        if let Some(m) = remap {
            self.follow(m);
        }
        self.prepare();
        let mut fresh: Vec<Finding> =
            changed.par_iter().flat_map_iter(|(i, r)| record_findings(r, *i, &self.policy, self.now)).collect();
        let mut gone: Vec<Vec<u32>> = Vec::new();
        // Clusters that lost a record to a removal are written anew.
        let mut dirty: rustc_hash::FxHashSet<u32> = self.clusters.changed.iter().copied().collect();
        let mut touched: Vec<u32> = changed.iter().map(|(i, _)| *i).collect();
        let inserted: rustc_hash::FxHashSet<u32> =
            remap.map(|m| m.inserted.iter().copied().collect()).unwrap_or_default();
        for (index, r) in changed {
            let index = *index;
            let mut mine = duplicates::Features::of(r);
            self.model.term_frequencies().annotate(&mut mine);
            if (index as usize) < self.features.len()
                && self.features[index as usize] == mine
                && !inserted.contains(&index)
            {
                // Nothing the duplicate model looks at changed.
                continue;
            }
            if let Some(f) = self.features.get_mut(index as usize) {
                *f = mine;
            }
            // Out of its cluster...
            if let Some(c) = self.clusters.of.get(&index).copied() {
                self.clusters.touch(c, &mut gone, &mut dirty);
                self.clusters.remove_member(c, index);
            }
            // ... and into the best match among the records of its blocks.
            let me = &self.features[index as usize];
            let model = &self.model;
            let features = &self.features;
            let apart = &self.apart;
            let prob = |a: u32, b: u32| -> f64 {
                let key = if a < b { (a, b) } else { (b, a) };
                if apart.contains(&key) {
                    return 0.0;
                }
                model.probability(&features[a as usize], &features[b as usize])
            };
            let best = self
                .blocks
                .as_mut()
                .map(|b| b.neighbours(index, me, 64))
                .unwrap_or_default()
                .into_iter()
                .map(|c| (prob(index, c), c))
                .filter(|(p, _)| *p >= self.settings.match_probability)
                .max_by(|a, b| a.0.total_cmp(&b.0));
            if let Some((_, c)) = best {
                let members = match self.clusters.of.get(&c) {
                    Some(k) => self.clusters.members.get(k).cloned().unwrap_or_default(),
                    None => vec![c],
                };
                let fits = members.len() < duplicates::MAX_CLUSTER
                    && members.iter().all(|&x| prob(index, x) >= self.settings.cluster_probability);
                if fits {
                    match self.clusters.of.get(&c).copied() {
                        Some(k) => {
                            self.clusters.touch(k, &mut gone, &mut dirty);
                            self.clusters.add_member(k, index);
                        }
                        None => {
                            let k = self.clusters.create(vec![c, index]);
                            dirty.insert(k);
                        }
                    }
                }
            }
        }
        for k in dirty {
            if let Some(members) = self.clusters.members.get(&k).filter(|m| m.len() >= 2) {
                let score = weakest(members, &self.model, &self.features, &self.apart);
                touched.extend(members);
                fresh.push(duplicate_finding(records, &self.features, &self.model, members.clone(), score));
            }
        }
        for g in &gone {
            touched.extend(g);
        }
        // The report, once patched, has every cluster as it is here.
        self.clusters.changed.clear();
        touched.sort_unstable();
        touched.dedup();
        fresh.par_sort_by(|a, b| rank(a.kind).cmp(&rank(b.kind)).then(a.records.cmp(&b.records)));
        let patch =
            Patch { remap: remap.cloned(), touched, changed: changed.iter().map(|(i, _)| *i).collect(), fresh, gone };
        if !self.taken {
            self.report.apply(&patch);
        }
        patch
    }

    /// Moves what the state holds per record to the records' new indices.
    fn follow(&mut self, m: &Remap) {
        let mut features = vec![duplicates::Features::default(); m.new_len];
        for (old, f) in std::mem::take(&mut self.features).into_iter().enumerate() {
            if let Some(&n) = m.old_to_new.get(old)
                && n != u32::MAX
            {
                features[n as usize] = f;
            }
        }
        self.features = features;
        if let Some(b) = &mut self.blocks {
            b.remap(&m.old_to_new);
        }
        let to = |i: u32| m.old_to_new.get(i as usize).copied().unwrap_or(u32::MAX);
        self.apart = self
            .apart
            .iter()
            .filter_map(|&(a, b)| {
                let (a, b) = (to(a), to(b));
                (a != u32::MAX && b != u32::MAX).then_some(if a < b { (a, b) } else { (b, a) })
            })
            .collect();
        self.clusters.follow(m);
    }
}

/// The weakest link of a cluster.
fn weakest(
    members: &[u32],
    model: &duplicates::Model,
    features: &[duplicates::Features],
    apart: &duplicates::Apart,
) -> f64 {
    let mut s: f64 = 1.0;
    for (i, &a) in members.iter().enumerate() {
        for &b in &members[i + 1..] {
            let key = if a < b { (a, b) } else { (b, a) };
            let p = if apart.contains(&key) {
                0.0
            } else {
                model.probability(&features[a as usize], &features[b as usize])
            };
            s = s.min(p);
        }
    }
    s
}

/// The duplicate clusters by record.
#[derive(Default)]
struct Clusters {
    /// Record → cluster.
    of: rustc_hash::FxHashMap<u32, u32>,
    /// Cluster → its records, ascending.
    members: rustc_hash::FxHashMap<u32, Vec<u32>>,
    next: u32,
    /// Clusters made or changed since the report was last patched (their
    /// members then are in the report as they are here, or not at all).
    changed: rustc_hash::FxHashSet<u32>,
}

impl Clusters {
    fn of(findings: &[Finding]) -> Clusters {
        let mut c = Clusters::default();
        for f in findings.iter().filter(|f| f.kind == Kind::Duplicate) {
            let mut m = f.records.clone();
            m.sort_unstable();
            c.create(m);
        }
        c.changed.clear();
        c
    }

    fn create(&mut self, mut members: Vec<u32>) -> u32 {
        members.sort_unstable();
        let k = self.next;
        self.next += 1;
        for &m in &members {
            self.of.insert(m, k);
        }
        self.members.insert(k, members);
        self.changed.insert(k);
        k
    }

    /// Notes that cluster `k` is about to change: as the report has it now,
    /// it goes (once), and it is rewritten at the end of the rescan.
    fn touch(&mut self, k: u32, gone: &mut Vec<Vec<u32>>, dirty: &mut rustc_hash::FxHashSet<u32>) {
        if dirty.insert(k)
            && !self.changed.contains(&k)
            && let Some(m) = self.members.get(&k)
        {
            gone.push(m.clone());
        }
    }

    fn remove_member(&mut self, k: u32, r: u32) {
        self.of.remove(&r);
        let Some(m) = self.members.get_mut(&k) else { return };
        m.retain(|&x| x != r);
        if m.len() < 2 {
            for x in m.drain(..) {
                self.of.remove(&x);
            }
            self.members.remove(&k);
        }
    }

    fn add_member(&mut self, k: u32, r: u32) {
        self.of.insert(r, k);
        if let Some(m) = self.members.get_mut(&k) {
            m.push(r);
            m.sort_unstable();
        }
    }

    /// Follows records moving. A cluster that lost a record is dropped from
    /// the report whole by [`Report::apply`]; what is left of it is marked
    /// changed, so that the rescan writes it anew.
    fn follow(&mut self, m: &Remap) {
        self.changed.clear();
        let to = |i: u32| m.old_to_new.get(i as usize).copied().unwrap_or(u32::MAX);
        let old = std::mem::take(&mut self.members);
        self.of.clear();
        for (k, members) in old {
            let moved: Vec<u32> = members.iter().map(|&x| to(x)).filter(|&x| x != u32::MAX).collect();
            let lost = moved.len() != members.len();
            if moved.len() >= 2 {
                for &x in &moved {
                    self.of.insert(x, k);
                }
                self.members.insert(k, moved);
                if lost {
                    self.changed.insert(k);
                }
            }
        }
    }
}

/// Where records went after some were removed or added: `old_to_new[i]`
/// is old record `i`'s new index (`u32::MAX`: removed), `inserted` the new
/// indices of records that were not there before.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Remap {
    pub old_to_new: Vec<u32>,
    pub inserted: Vec<u32>,
    pub new_len: usize,
}

impl Remap {
    /// The remap from `old` to `new` (both sorted ascending), or `None`
    /// when they are the same.
    pub fn between(old: &[crate::model::RecordId], new: &[crate::model::RecordId]) -> Option<Remap> {
        if old == new {
            return None;
        }
        let mut m = Remap { old_to_new: vec![u32::MAX; old.len()], inserted: Vec::new(), new_len: new.len() };
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < new.len() {
            match (old.get(i), new.get(j)) {
                (Some(a), Some(b)) if a == b => {
                    m.old_to_new[i] = j as u32;
                    i += 1;
                    j += 1;
                }
                (Some(a), Some(b)) if a < b => i += 1,
                (Some(_), None) => i += 1,
                _ => {
                    m.inserted.push(j as u32);
                    j += 1;
                }
            }
        }
        Some(m)
    }
}

/// What changed in a report after records changed (see [`ScanState::rescan`]).
#[derive(Clone, Debug, Default)]
pub struct Patch {
    /// Applied first: where records moved.
    pub remap: Option<Remap>,
    /// Records whose findings may differ (new indices).
    pub touched: Vec<u32>,
    /// Records whose own findings were worked out again (new indices).
    pub changed: Vec<u32>,
    /// Their new findings, and the duplicate clusters made or changed; sorted.
    pub fresh: Vec<Finding>,
    /// Duplicate clusters (members ascending, new indices) that are gone.
    pub gone: Vec<Vec<u32>>,
}

impl Patch {
    /// The members of the duplicate clusters the patch makes, ascending.
    fn fresh_clusters(&self) -> impl Iterator<Item = Vec<u32>> + '_ {
        self.fresh.iter().filter(|f| f.kind == Kind::Duplicate).map(|f| {
            let mut m = f.records.clone();
            m.sort_unstable();
            m
        })
    }
}

impl Report {
    /// Applies a [`Patch`]: what moved, what went, what came.
    pub fn apply(&mut self, p: &Patch) {
        if p.remap.is_none() {
            self.apply_in_place(p);
            return;
        }
        let trace = std::env::var_os("STEWARD_TRACE").is_some();
        let t = std::time::Instant::now();
        let lap = |what: &str| {
            if trace {
                eprintln!("  {:>8} ms  report: {what}", t.elapsed().as_millis());
            }
        };
        let mut affected: rustc_hash::FxHashSet<u32> = p.touched.iter().copied().collect();
        if let Some(m) = &p.remap {
            let to = |i: u32| m.old_to_new.get(i as usize).copied().unwrap_or(u32::MAX);
            let mut kept = Vec::with_capacity(self.findings.len());
            for mut f in std::mem::take(&mut self.findings) {
                let moved: Vec<u32> = f.records.iter().map(|&r| to(r)).filter(|&r| r != u32::MAX).collect();
                if moved.len() == f.records.len() {
                    f.records = moved;
                    kept.push(f);
                    continue;
                }
                // A finding lost a record: a record's own finding goes with
                // it, a cluster is written anew by the rescan, a burst of
                // bot sign-ups keeps the rest.
                affected.extend(&moved);
                if f.kind == Kind::Suspect && moved.len() >= 2 {
                    f.records = moved;
                    kept.push(f);
                }
            }
            self.findings = kept;
            let mut kinds = vec![0u16; m.new_len];
            for (old, k) in self.kinds.iter().enumerate() {
                let n = to(old as u32);
                if n != u32::MAX {
                    kinds[n as usize] = *k;
                }
            }
            self.kinds = kinds;
            affected.extend(&m.inserted);
        }
        let changed: rustc_hash::FxHashSet<u32> = p.changed.iter().copied().collect();
        let gone: rustc_hash::FxHashSet<&[u32]> = p.gone.iter().map(Vec::as_slice).collect();
        let fresh_clusters: rustc_hash::FxHashSet<Vec<u32>> = p.fresh_clusters().collect();
        let clusters_change = !gone.is_empty() || !fresh_clusters.is_empty();
        self.findings.retain(|f| match f.kind {
            Kind::Suspect => true,
            Kind::Duplicate if !clusters_change => true,
            Kind::Duplicate => {
                let mut m = f.records.clone();
                m.sort_unstable();
                !gone.contains(m.as_slice()) && !fresh_clusters.contains(&m)
            }
            _ => !(f.records.len() == 1 && changed.contains(&f.records[0])),
        });
        lap("retained");
        for f in &p.fresh {
            affected.extend(&f.records);
        }
        // Both sorted: merge.
        let old = std::mem::take(&mut self.findings);
        let mut out = Vec::with_capacity(old.len() + p.fresh.len());
        let before = |a: &Finding, b: &Finding| (rank(a.kind), &a.records) < (rank(b.kind), &b.records);
        let mut fresh = p.fresh.iter().cloned().map(Box::new).peekable();
        for f in old {
            while fresh.peek().is_some_and(|n| before(n, &f)) {
                out.extend(fresh.next());
            }
            out.push(f);
        }
        out.extend(fresh);
        self.findings = out;
        lap("merged");
        for &a in &affected {
            if let Some(k) = self.kinds.get_mut(a as usize) {
                *k = 0;
            }
        }
        for f in &self.findings {
            for &r in &f.records {
                if affected.contains(&r)
                    && let Some(k) = self.kinds.get_mut(r as usize)
                {
                    *k |= f.kind.bit();
                }
            }
        }
    }

    /// [`Report::apply`] when no record moved (edits, verifications,
    /// redactions, dropped fields): the findings that go and come are found
    /// by binary search (the findings are sorted by kind, then records), so
    /// the cost is the changed records' plus one move of the findings when
    /// their number changes — not a pass over every finding with lookups.
    fn apply_in_place(&mut self, p: &Patch) {
        fn key(f: &Finding) -> (usize, &[u32]) {
            (rank(f.kind), f.records.as_slice())
        }
        let range_of = |findings: &[Box<Finding>], k: (usize, &[u32])| {
            let lo = findings.partition_point(|f| key(f) < k);
            let hi = lo + findings[lo..].partition_point(|f| key(f) <= k);
            lo..hi
        };
        let own: Vec<Kind> = Kind::ALL.into_iter().filter(|k| !matches!(k, Kind::Duplicate | Kind::Suspect)).collect();
        let mut remove: Vec<std::ops::Range<usize>> = Vec::new();
        for &r in &p.changed {
            for k in &own {
                let range = range_of(&self.findings, (rank(*k), &[r]));
                if !range.is_empty() {
                    remove.push(range);
                }
            }
        }
        let fresh_clusters: Vec<Vec<u32>> = p.fresh_clusters().collect();
        for g in p.gone.iter().chain(&fresh_clusters) {
            let range = range_of(&self.findings, (rank(Kind::Duplicate), g));
            if !range.is_empty() {
                remove.push(range);
            }
        }
        remove.sort_by_key(|r| r.start);
        remove.dedup_by(|b, a| {
            // Overlapping or touching ranges merge.
            if b.start <= a.end {
                a.end = a.end.max(b.end);
                true
            } else {
                false
            }
        });
        let removed: usize = remove.iter().map(ExactSizeIterator::len).sum();
        // Where each new finding goes, in the findings as they are now.
        let inserts: Vec<usize> = p.fresh.iter().map(|f| self.findings.partition_point(|g| key(g) < key(f))).collect();
        if removed == p.fresh.len() && remove.iter().all(|r| r.len() == 1) && {
            // The common edit: each finding is replaced by one with its key.
            remove.iter().map(|r| r.start).eq(inserts.iter().copied())
        } {
            for (r, f) in remove.iter().zip(&p.fresh) {
                *self.findings[r.start] = f.clone();
            }
        } else if !remove.is_empty() || !p.fresh.is_empty() {
            // One pass: the kept findings move once, the new ones go in place.
            let old = std::mem::take(&mut self.findings);
            let mut out = Vec::with_capacity(old.len() - removed + p.fresh.len());
            let mut next_remove = remove.iter().peekable();
            let mut next_insert = p.fresh.iter().zip(inserts.iter().copied()).peekable();
            for (i, f) in old.into_iter().enumerate() {
                while next_insert.peek().is_some_and(|(_, at)| *at <= i) {
                    if let Some((n, _)) = next_insert.next() {
                        out.push(Box::new(n.clone()));
                    }
                }
                while next_remove.peek().is_some_and(|r| r.end <= i) {
                    next_remove.next();
                }
                if next_remove.peek().is_some_and(|r| r.contains(&i)) {
                    continue;
                }
                out.push(f);
            }
            out.extend(next_insert.map(|(n, _)| Box::new(n.clone())));
            self.findings = out;
        }
        // The kinds of the records concerned, by binary search too.
        let in_fresh: rustc_hash::FxHashSet<u32> = fresh_clusters.iter().flatten().copied().collect();
        let in_gone: rustc_hash::FxHashSet<u32> = p.gone.iter().flatten().copied().collect();
        for &r in &p.touched {
            let Some(old) = self.kinds.get(r as usize).copied() else { continue };
            let mut bits = old & Kind::Suspect.bit();
            for k in &own {
                if !range_of(&self.findings, (rank(*k), &[r])).is_empty() {
                    bits |= k.bit();
                }
            }
            let dup = in_fresh.contains(&r) || (old & Kind::Duplicate.bit() != 0 && !in_gone.contains(&r));
            if dup {
                bits |= Kind::Duplicate.bit();
            }
            self.kinds[r as usize] = bits;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ConsentEvent;

    fn event(given: bool, date: (i32, u32, u32)) -> ConsentEvent {
        ConsentEvent {
            purpose: "marketing".into(),
            given,
            date: chrono::NaiveDate::from_ymd_opt(date.0, date.1, date.2).expect("date"),
            source: "form".into(),
            recorded_by: "ann".into(),
            recorded_at: crate::model::now(),
        }
    }

    #[test]
    fn consent_is_the_latest_by_date_and_the_field_can_only_take_it_away() {
        let mut r = Record::new("crm", "1", crate::model::now());
        assert_eq!(consent(&r, "marketing", "marketing_consent"), Consent::Missing);
        r.extra.insert("marketing_consent".into(), "Yes".into());
        assert_eq!(consent(&r, "marketing", "marketing_consent"), Consent::Given);
        r.extra.insert("marketing_consent".into(), "unsubscribed".into());
        assert_eq!(consent(&r, "marketing", "marketing_consent"), Consent::Withdrawn);
        // A withdrawal, then a back-dated form recorded afterwards: still withdrawn.
        r.extra.insert("marketing_consent".into(), "given".into());
        r.care.consents = vec![event(false, (2026, 11, 20)), event(true, (2024, 1, 1))];
        assert_eq!(consent(&r, "marketing", "marketing_consent"), Consent::Withdrawn);
        // Given in steward, the field edited to "no" since: no.
        r.care.consents = vec![event(true, (2026, 11, 20))];
        r.extra.insert("marketing_consent".into(), "no".into());
        assert_eq!(consent(&r, "marketing", "marketing_consent"), Consent::Refused);
        r.extra.insert("marketing_consent".into(), "given".into());
        assert_eq!(consent(&r, "marketing", "marketing_consent"), Consent::Given);
    }
}
