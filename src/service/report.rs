//! The compliance report: how the request queue is doing (open, overdue,
//! median days to answer), what the scan finds, who may do what, and when
//! the audit trail was last verified. The same figures head the dashboard.
//! No personal data: counts, references, user names and roles only.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::requests::RequestView;
use super::{Service, ServiceError};
use crate::crypto::Role;
use crate::findings::Report;
use crate::model::request::Status;

/// Action of the audit entry `audit verify` leaves.
pub use super::actions::VERIFY_ACTION;

/// The request queue in figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RequestFigures {
    pub total: usize,
    pub open: usize,
    pub overdue: usize,
    pub due_soon: usize,
    pub completed: usize,
    pub rejected: usize,
    pub extended: usize,
    /// Median of (completion date − received date) over completed requests.
    pub median_days_to_complete: Option<f64>,
    /// The most overdue open request: (reference, days overdue).
    pub most_overdue: Option<(String, i64)>,
    /// Open requests per type.
    pub open_by_type: BTreeMap<String, usize>,
}

impl RequestFigures {
    pub fn of(requests: &[RequestView]) -> RequestFigures {
        let mut f = RequestFigures { total: requests.len(), ..RequestFigures::default() };
        let mut days: Vec<i64> = Vec::new();
        for v in requests {
            match &v.status {
                Status::Completed => {
                    f.completed += 1;
                    let done = v.history.iter().rev().find(|s| s.what.starts_with("completed")).map(|s| s.time);
                    if let Some(t) = done {
                        days.push((t.date_naive() - v.received).num_days().max(0));
                    }
                }
                Status::Rejected { .. } => f.rejected += 1,
                Status::Extended { .. } => f.extended += 1,
                _ => {}
            }
            if v.status.is_open() {
                f.open += 1;
                *f.open_by_type.entry(v.kind.name().to_owned()).or_default() += 1;
            }
            if v.overdue {
                f.overdue += 1;
                if f.most_overdue.as_ref().is_none_or(|(_, d)| -v.days_left > *d) {
                    f.most_overdue = Some((v.reference.clone(), -v.days_left));
                }
            }
            if v.due_soon {
                f.due_soon += 1;
            }
        }
        f.median_days_to_complete = median(&mut days);
        f
    }
}

fn median(v: &mut [i64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] as f64 } else { (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0 })
}

/// A user and their role.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UserRole {
    pub name: String,
    pub role: String,
}

/// The last `audit verify`, as its audit entry tells.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LastVerification {
    pub time: DateTime<Utc>,
    pub user: String,
    pub intact: bool,
    pub detail: String,
}

/// What the dashboard shows besides the records: the queue figures, the
/// users, the last verification of the audit trail.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Overview {
    pub requests: RequestFigures,
    pub users: Vec<UserRole>,
    pub audit_entries: u64,
    pub last_verification: Option<LastVerification>,
    /// Unusual use over the last week (stewards and admins).
    pub alerts: Vec<super::usage::Alert>,
    /// Open breaches, without their lists of records (stewards and admins).
    pub breaches: Vec<BreachLine>,
}

/// An open breach as the dashboard and the report show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BreachLine {
    #[serde(rename = "ref")]
    pub reference: String,
    pub discovered: DateTime<Utc>,
    pub records: usize,
    pub risk: crate::model::breach::Risk,
    pub clock: crate::model::breach::Clock,
    pub people_due: bool,
    /// The breach itself, without its affected records, for a live clock.
    #[serde(skip)]
    pub breach: crate::model::breach::Breach,
}

impl BreachLine {
    pub fn of(b: &crate::model::breach::Breach, now: DateTime<Utc>) -> BreachLine {
        let mut breach = b.clone();
        breach.affected = Vec::new();
        BreachLine {
            reference: b.reference.clone(),
            discovered: b.discovered,
            records: b.figures.records,
            risk: b.risk,
            clock: b.clock(now),
            people_due: b.people_due(),
            breach,
        }
    }
}

/// Findings per kind and the data-quality score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FindingFigures {
    pub records: usize,
    pub quality: f64,
    pub per_kind: BTreeMap<String, usize>,
}

impl FindingFigures {
    pub fn of(report: &Report, records: usize) -> FindingFigures {
        FindingFigures {
            records,
            quality: report.quality(),
            per_kind: report.summary().into_iter().map(|(k, n)| (k.name().to_owned(), n)).collect(),
        }
    }
}

/// The compliance report.
#[derive(Clone, Debug, Serialize)]
pub struct Compliance {
    pub generated_at: DateTime<Utc>,
    pub today: NaiveDate,
    pub store: String,
    #[serde(flatten)]
    pub overview: Overview,
    pub findings: FindingFigures,
    /// The open requests, most urgent first (references and dates only).
    pub queue: Vec<QueueLine>,
}

/// One open request in the report.
#[derive(Clone, Debug, Serialize)]
pub struct QueueLine {
    #[serde(rename = "ref")]
    pub reference: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub jurisdiction: String,
    pub status: String,
    pub due: NaiveDate,
    pub days_left: i64,
}

impl Service {
    /// Refuses (audited) a role that may not see the report; call before
    /// the (slow) scan the report needs.
    pub fn may_report(&self) -> Result<(), ServiceError> {
        self.require_to_read(Role::Steward, "see the compliance report")
    }

    /// The queue figures, users and last audit verification (viewers do
    /// not see the users).
    pub fn overview(&self) -> Result<Overview, ServiceError> {
        let requests = self.requests()?;
        let entries = self.store.audit_entries()?;
        let last_verification = entries.iter().rev().find(|e| e.action == VERIFY_ACTION).map(|e| LastVerification {
            time: e.time,
            user: e.user.clone(),
            intact: e.outcome == crate::store::audit::Outcome::Ok,
            detail: e.detail.clone().unwrap_or_default(),
        });
        let watches = self.session().role >= Role::Steward;
        let now = crate::model::now();
        let (alerts, breaches) = if watches {
            let (policy, _) = self.policy()?;
            let alerts = super::usage::usage(&entries, &policy.monitoring, now, 7).alerts;
            let breaches = self.breaches()?.iter().filter(|b| b.is_open()).map(|b| BreachLine::of(b, now)).collect();
            (alerts, breaches)
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(Overview {
            alerts,
            breaches,
            requests: RequestFigures::of(&requests),
            users: if self.session().role >= Role::Steward {
                self.users()?.into_iter().map(|u| UserRole { name: u.name, role: u.role.name().to_owned() }).collect()
            } else {
                Vec::new()
            },
            audit_entries: entries.last().map_or(0, |e| e.seq),
            last_verification,
        })
    }

    /// The compliance report, from the records and scan the caller has.
    /// Stewards and admins (it names the users and their roles).
    pub fn compliance(&self, report: &Report, records: usize) -> Result<Compliance, ServiceError> {
        self.may_report()?;
        let queue = self
            .requests()?
            .into_iter()
            .filter(|v| v.status.is_open())
            .map(|v| QueueLine {
                reference: v.reference,
                kind: v.kind.name().to_owned(),
                jurisdiction: v.jurisdiction,
                status: v.status.name().to_owned(),
                due: v.due,
                days_left: v.days_left,
            })
            .collect();
        let now = crate::model::now();
        Ok(Compliance {
            generated_at: now,
            today: now.date_naive(),
            store: self.store_location().to_string(),
            overview: self.overview()?,
            findings: FindingFigures::of(report, records),
            queue,
        })
    }
}

/// The report as Markdown.
pub fn markdown(c: &Compliance) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let r = &c.overview.requests;
    let _ = writeln!(
        s,
        "# Compliance report\n\nGenerated {} for `{}`.\n",
        c.generated_at.format("%Y-%m-%d %H:%M UTC"),
        c.store
    );
    let _ = writeln!(s, "## Data-subject requests\n\n| figure | value |\n|---|---|");
    let median = r.median_days_to_complete.map_or("—".into(), |d| format!("{d:.1} days"));
    for (k, v) in [
        ("open", r.open.to_string()),
        ("overdue", r.overdue.to_string()),
        ("due within 7 days", r.due_soon.to_string()),
        ("extended", r.extended.to_string()),
        ("completed", r.completed.to_string()),
        ("rejected", r.rejected.to_string()),
        ("median time to complete", median),
    ] {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    if !c.queue.is_empty() {
        let _ = writeln!(
            s,
            "\nOpen requests, most urgent first:\n\n| ref | type | law | status | due | days left |\n|---|---|---|---|---|---|"
        );
        for q in &c.queue {
            let left =
                if q.days_left < 0 { format!("**overdue by {}**", -q.days_left) } else { q.days_left.to_string() };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {left} |",
                q.reference, q.kind, q.jurisdiction, q.status, q.due
            );
        }
    }
    let f = &c.findings;
    let _ = writeln!(
        s,
        "\n## Data quality\n\nScore **{:.1} / 100** over {} records.\n\n| finding | count |\n|---|---|",
        f.quality, f.records
    );
    for (k, n) in &f.per_kind {
        let _ = writeln!(s, "| {k} | {n} |");
    }
    if !c.overview.breaches.is_empty() {
        let _ = writeln!(
            s,
            "\n## Open breaches\n\n| ref | discovered | records | authority clock | risk |\n|---|---|---:|---|---|"
        );
        for b in &c.overview.breaches {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {}{} |",
                b.reference,
                b.discovered.format("%Y-%m-%d %H:%M UTC"),
                b.records,
                b.clock.short(),
                b.risk.name(),
                if b.people_due { "; **the people must be told**" } else { "" }
            );
        }
    }
    let _ = writeln!(s, "\n## Usage alerts (last 7 days)\n");
    if c.overview.alerts.is_empty() {
        let _ = writeln!(s, "None.");
    }
    for a in &c.overview.alerts {
        let _ = writeln!(
            s,
            "- {} **{}** {}: {} (audit entry {})",
            a.time.format("%Y-%m-%d %H:%M UTC"),
            a.kind,
            crate::model::text::sanitize(&a.user),
            a.what,
            a.seq
        );
    }
    let _ = writeln!(s, "\n## Users and roles\n\n| user | role |\n|---|---|");
    for u in &c.overview.users {
        let _ = writeln!(s, "| {} | {} |", u.name, u.role);
    }
    let _ = writeln!(s, "\n## Audit trail\n\n{} entries.", c.overview.audit_entries);
    match &c.overview.last_verification {
        Some(v) => {
            let _ = writeln!(
                s,
                "Last verified {} by {}: {} ({}).",
                v.time.format("%Y-%m-%d %H:%M UTC"),
                v.user,
                if v.intact { "intact" } else { "**BROKEN**" },
                v.detail
            );
        }
        None => {
            let _ = writeln!(s, "Never verified: run `steward audit verify`.");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::request::{Request, RequestKind, Requester, Step, Verification};

    fn view(received: NaiveDate, status: Status, completed: Option<NaiveDate>, today: NaiveDate) -> RequestView {
        let t = |d: NaiveDate| d.and_hms_opt(12, 0, 0).map(|t| t.and_utc()).unwrap_or_default();
        let mut history = vec![Step { time: t(received), user: "u".into(), what: "received".into() }];
        if let Some(c) = completed {
            history.push(Step { time: t(c), user: "u".into(), what: "completed".into() });
        }
        let r = Request {
            reference: format!("R-{received}"),
            kind: RequestKind::Erasure,
            jurisdiction: "gdpr".into(),
            received,
            channel: "email".into(),
            requester: Requester::default(),
            verification: Verification::default(),
            records: vec![],
            status,
            notes: vec![],
            history,
            answers: vec![],
            requester_erased: None,
        };
        super::super::requests::view(r, today).expect("view")
    }

    #[test]
    fn figures_count_and_take_the_median() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).expect("date");
        let today = d(11, 24);
        let list = vec![
            view(d(9, 1), Status::Completed, Some(d(9, 11)), today),
            view(d(9, 1), Status::Completed, Some(d(9, 21)), today),
            view(d(9, 1), Status::Completed, Some(d(10, 1)), today),
            view(d(9, 1), Status::Completed, Some(d(10, 2)), today),
            view(d(10, 1), Status::New, None, today),
            view(d(11, 20), Status::InProgress, None, today),
            view(d(10, 30), Status::Rejected { reason: "x".into() }, None, today),
        ];
        let f = RequestFigures::of(&list);
        assert_eq!((f.total, f.open, f.completed, f.rejected), (7, 2, 4, 1));
        assert_eq!(f.overdue, 1, "received 1 October, due 2 November");
        assert_eq!(f.median_days_to_complete, Some(25.0), "10, 20, 30, 31 days");
        assert_eq!(f.most_overdue, Some(("R-2026-10-01".into(), 22)));
        assert_eq!(f.open_by_type.get("erasure"), Some(&2));
        assert_eq!(RequestFigures::of(&[]).median_days_to_complete, None);
    }
}
