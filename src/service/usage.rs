//! Usage monitoring, from the audit trail: who revealed, exported or erased
//! how much, and when; and alerts on unusual use — a user revealing far
//! more records in a day than they usually do, an export outside working
//! hours, many failed unlocks. The thresholds come from the policy's
//! `[monitoring]`; a user's "usual" is estimated from their own history
//! (the median of their active days), the team's when they have none.
//! Names users, actions and counts: never a customer's data.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc, Weekday};
use serde::Serialize;

use super::*;
use crate::policy::Monitoring;
use crate::store::audit::{Entry, Outcome};

/// Actions that take personal data out of steward.
pub const EXPORTS: [&str; 6] = ["export", "extract", "reverify-list", "breach-list", "backup", "changes"];

/// Actions that erase.
pub const ERASURES: [&str; 2] = ["erase", "housekeeping"];

/// Days of history a user's usual is estimated from.
pub const BASELINE_DAYS: i64 = 60;

/// One user's use over the window.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UserUsage {
    pub user: String,
    /// Reveal entries, and the records they showed.
    pub reveals: usize,
    pub revealed: usize,
    /// Exports of any kind, and the records they held (where the entry says).
    pub exports: usize,
    pub exported: usize,
    pub erased: usize,
    pub changes: usize,
    pub failed_logins: usize,
    /// Actions refused (the role may not, a rule said no).
    pub refused: usize,
    pub last_seen: Option<DateTime<Utc>>,
}

/// Something unusual.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// `reveal_spike`, `export_off_hours`, `failed_logins`, `refusals`.
    pub kind: &'static str,
    pub user: String,
    pub time: DateTime<Utc>,
    /// The audit entry to look at.
    pub seq: u64,
    pub what: String,
}

/// Use over a window of days.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub users: Vec<UserUsage>,
    pub alerts: Vec<Alert>,
}

/// The time a failed unlock happened (its entry is written at the next
/// successful unlock and names the time in its detail).
fn failed_at(e: &Entry) -> DateTime<Utc> {
    e.detail
        .as_deref()
        .and_then(|d| d.strip_prefix("failed unlock at "))
        .and_then(|d| d.get(..19))
        .and_then(|d| chrono::NaiveDateTime::parse_from_str(d, "%Y-%m-%d %H:%M:%S").ok())
        .map_or(e.time, |t| t.and_utc())
}

/// How many records an entry's detail says it held (`N record(s)`,
/// `N customer(s) listed`, `N people`), else the ids it names.
fn records_of(e: &Entry) -> usize {
    let detail = e.detail.as_deref().unwrap_or("");
    for marker in [" record(s)", " customer(s) listed", " people"] {
        if let Some(i) = detail.find(marker) {
            let head = &detail[..i];
            let digits: String =
                head.chars().rev().take_while(char::is_ascii_digit).collect::<Vec<_>>().into_iter().rev().collect();
            if let Ok(n) = digits.parse() {
                return n;
            }
        }
    }
    e.records.len()
}

fn median(mut v: Vec<usize>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] as f64 } else { (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0 })
}

/// Use over the `days` before `now`, with alerts, from the whole trail.
pub fn usage(entries: &[Entry], monitoring: &Monitoring, now: DateTime<Utc>, days: i64) -> Usage {
    let since = now - Duration::days(days.clamp(1, 3650));
    let ((start, end), offset) = monitoring.hours().unwrap_or(((7 * 60, 20 * 60), 0));
    let mut users: BTreeMap<String, UserUsage> = BTreeMap::new();
    let mut alerts = Vec::new();
    // Reveals per user per day, over the baseline period and the window.
    let mut daily: BTreeMap<(String, NaiveDate), (usize, u64)> = BTreeMap::new();
    let mut failed: BTreeMap<String, Vec<(DateTime<Utc>, u64)>> = BTreeMap::new();
    let mut refused: BTreeMap<String, Vec<(DateTime<Utc>, u64)>> = BTreeMap::new();
    for e in entries {
        let when = if e.action == "login" { failed_at(e) } else { e.time };
        if e.action == "reveal" && e.outcome == Outcome::Ok && when >= since - Duration::days(BASELINE_DAYS) {
            let d = daily.entry((e.user.clone(), when.date_naive())).or_default();
            d.0 += e.records.len();
            d.1 = e.seq;
        }
        if when < since || when > now + Duration::minutes(5) {
            continue;
        }
        let u =
            users.entry(e.user.clone()).or_insert_with(|| UserUsage { user: e.user.clone(), ..UserUsage::default() });
        if e.action == "login" && e.outcome == Outcome::Denied {
            u.failed_logins += 1;
            failed.entry(e.user.clone()).or_default().push((when, e.seq));
            continue;
        }
        if e.outcome == Outcome::Denied {
            u.refused += 1;
            refused.entry(e.user.clone()).or_default().push((when, e.seq));
        }
        if e.outcome != Outcome::Ok {
            continue;
        }
        u.last_seen = Some(u.last_seen.map_or(when, |t| t.max(when)));
        let action = e.action.as_str();
        if action == "reveal" {
            u.reveals += 1;
            u.revealed += e.records.len();
        } else if EXPORTS.contains(&action) {
            u.exports += 1;
            let n = records_of(e);
            u.exported += n;
            let local = when + Duration::minutes(i64::from(offset));
            let minute = local.hour() * 60 + local.minute();
            let weekend = matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
            if weekend || minute < start || minute >= end {
                alerts.push(Alert {
                    kind: "export_off_hours",
                    user: e.user.clone(),
                    time: when,
                    seq: e.seq,
                    what: format!(
                        "{action} of {n} record(s) at {} {} (working hours {} {}, weekdays)",
                        local.format("%a %H:%M"),
                        monitoring.utc_offset,
                        monitoring.working_hours,
                        monitoring.utc_offset
                    ),
                });
            }
        } else if ERASURES.contains(&action) {
            u.erased += e.records.len();
        } else if !matches!(action, "login" | "audit-verify" | "breach-report" | "request-match") {
            u.changes += 1;
        }
    }
    // Reveal spikes: a day in the window far above the user's usual.
    let mut by_user: BTreeMap<&str, Vec<(NaiveDate, usize, u64)>> = BTreeMap::new();
    for ((user, day), (n, seq)) in &daily {
        by_user.entry(user.as_str()).or_default().push((*day, *n, *seq));
    }
    let team: Vec<usize> = daily.values().map(|(n, _)| *n).collect();
    for (user, days_of) in &by_user {
        for (i, (day, n, seq)) in days_of.iter().enumerate() {
            if *day < since.date_naive() {
                continue;
            }
            let before: Vec<usize> = days_of[..i].iter().map(|(_, n, _)| *n).collect();
            let usual = median(before).or_else(|| median(team.clone())).unwrap_or(0.0);
            let limit = (usual * monitoring.reveal_factor).max(monitoring.reveal_floor as f64);
            if *n as f64 > limit {
                alerts.push(Alert {
                    kind: "reveal_spike",
                    user: (*user).to_owned(),
                    time: day.and_hms_opt(23, 59, 59).map_or(now, |t| t.and_utc()).min(now),
                    seq: *seq,
                    what: format!("revealed {n} record(s) on {day}; usually {usual:.0} a day (alert above {limit:.0})"),
                });
            }
        }
    }
    // Failed unlocks, refusals: that many or more within any 24 hours.
    let bursts = [
        (failed, "failed_logins", "failed unlocks", monitoring.failed_logins),
        (refused, "refusals", "refused actions", monitoring.refusals),
    ];
    for (by_user, kind, what, limit) in bursts {
        for (user, mut times) in by_user {
            times.sort();
            let mut alerted_until = None;
            for (i, (t, seq)) in times.iter().enumerate() {
                let within = times[..=i].iter().filter(|(s, _)| *t - *s < Duration::hours(24)).count();
                if within >= limit.max(1) && alerted_until.is_none_or(|u| *t > u) {
                    alerts.push(Alert {
                        kind,
                        user: user.clone(),
                        time: *t,
                        seq: *seq,
                        what: format!("{within} {what} within 24 hours (alert at {limit})"),
                    });
                    alerted_until = Some(*t + Duration::hours(24));
                }
            }
        }
    }
    alerts.sort_by_key(|a| std::cmp::Reverse(a.time));
    Usage { since: Some(since), until: Some(now), users: users.into_values().collect(), alerts }
}

impl Service {
    /// Use over the last `days` days, with alerts (stewards and admins).
    pub fn usage(&self, days: i64) -> Result<Usage, ServiceError> {
        self.require_to_read(Role::Steward, "see who used the data")?;
        let (policy, _) = self.policy()?;
        let entries = self.store.audit_entries()?;
        Ok(usage(&entries, &policy.monitoring, crate::model::now(), days))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::{Draft, Head};
    use chrono::TimeZone;

    fn trail(events: &[(&str, &str, i64, usize, Outcome, &str)], now: DateTime<Utc>) -> Vec<Entry> {
        let key = crate::crypto::Key::from_slice(&[7u8; 32]).expect("key");
        let mut head = Head::EMPTY;
        let mut out = Vec::new();
        for (user, action, minutes_ago, n, outcome, detail) in events {
            let records = (0..*n).map(|i| format!("{i:026}")).collect();
            let d = Draft {
                os_user: "ops".into(),
                user: (*user).into(),
                action: (*action).into(),
                records,
                outcome: Some(*outcome),
                detail: Some((*detail).into()),
                ..Draft::default()
            };
            let e = d.into_entry(head, now - Duration::minutes(*minutes_ago));
            head = e.head(&key);
            out.push(e);
        }
        out
    }

    #[test]
    fn unusual_use_is_flagged_and_usual_use_is_not() {
        // A Wednesday, 15:00 UTC.
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 15, 0, 0).single().expect("time");
        let day = 24 * 60;
        let mut events = Vec::new();
        // ann reveals about 10 records a day for three weeks, then 200 today.
        for d in 1..21 {
            events.push(("ann", "reveal", d * day, 10, Outcome::Ok, "fields: all"));
        }
        events.push(("ann", "reveal", 30, 200, Outcome::Ok, "fields: all"));
        // bob reveals 40 today, his usual.
        for d in 1..10 {
            events.push(("bob", "reveal", d * day, 40, Outcome::Ok, "fields: all"));
        }
        events.push(("bob", "reveal", 60, 40, Outcome::Ok, "fields: all"));
        // An extract at 02:00 today, one at 14:00.
        events.push(("ann", "extract", 13 * 60, 0, Outcome::Ok, "purpose marketing: 812 record(s), fields email"));
        events.push(("ann", "extract", 60, 0, Outcome::Ok, "purpose marketing: 812 record(s), fields email"));
        // Six failed unlocks of carl's within an hour; two of dan's.
        for i in 0..6 {
            events.push(("carl", "login", 100 - i, 0, Outcome::Denied, "failed unlock"));
        }
        for i in 0..2 {
            events.push(("dan", "login", 100 - i, 0, Outcome::Denied, "failed unlock"));
        }
        let entries = trail(&events, now);
        let u = usage(&entries, &Monitoring::default(), now, 7);
        let kinds: Vec<(&str, &str)> = u.alerts.iter().map(|a| (a.kind, a.user.as_str())).collect();
        assert!(kinds.contains(&("reveal_spike", "ann")), "{kinds:?}");
        assert!(!kinds.contains(&("reveal_spike", "bob")), "{kinds:?}");
        assert_eq!(kinds.iter().filter(|k| k.0 == "export_off_hours").count(), 1, "{kinds:?}");
        assert!(kinds.contains(&("failed_logins", "carl")), "{kinds:?}");
        assert!(!kinds.iter().any(|k| k.1 == "dan"), "{kinds:?}");
        let ann = u.users.iter().find(|x| x.user == "ann").expect("ann");
        assert_eq!((ann.exports, ann.exported), (2, 1624));
        assert_eq!(ann.revealed, 200 + 10 * 7, "the window: the last 7 days, its first moment included");
    }

    #[test]
    fn a_failed_unlock_counts_when_it_happened() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 15, 0, 0).single().expect("time");
        let e =
            &trail(&[("x", "login", 0, 0, Outcome::Denied, "failed unlock at 2026-11-20 03:04:05 UTC (wrong)")], now)
                [0];
        assert_eq!(failed_at(e), Utc.with_ymd_and_hms(2026, 11, 20, 3, 4, 5).single().expect("time"));
    }
}
