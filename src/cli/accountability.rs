//! Accountability commands: `breach` (incident response), `ropa` (the
//! record of processing), `notice` (the privacy-notice draft), `usage`
//! (who used the data, and alerts) and `extract` (purpose-checked).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clap::Subcommand;

use super::{EncryptTo, Failure, Global, Progress, Result, open, output};
use crate::model::breach::{Breach, Clock, Risk, Scope, parse_when as parse_time};
use crate::model::text::sanitize;
use crate::service::breach::{AuthorityReport, BreachStep, NewBreach, clock_words};

#[derive(Subcommand, Debug)]
pub enum BreachAction {
    /// Open an incident: when it was discovered, what happened, which records it touched
    #[command(after_help = "The scope filters combine (all must hold); none: every record. --batch N takes the \
records an import or sync wrote (its audit entry names the batch: `steward audit list --action import`). \
--category takes a category and everything under it (user.contact takes email and phone; user.financial, \
user.government_id ...). Times: RFC 3339, `YYYY-MM-DD HH:MM` (UTC), `YYYY-MM-DD` (a `...-to` date takes the whole \
day), `now`, or `30h ago` / `2d ago`. A scope that matches no record is refused, with what the store holds. The \
72-hour clock (GDPR Art. 33) runs from --discovered; say what happened without customer data: it goes into the \
report for the authority.")]
    Open {
        /// When the breach was discovered (the clock starts here)
        #[arg(long, value_name = "TIME")]
        discovered: String,
        /// What happened, in your words (no customer data: it goes into the report)
        #[arg(long, value_name = "TEXT")]
        what: String,
        /// Records from this source (repeatable)
        #[arg(long, value_name = "NAME")]
        source: Vec<String>,
        /// Records an import batch wrote (repeatable; `audit list --action import` names them)
        #[arg(long, value_name = "N")]
        batch: Vec<u64>,
        /// Customers who signed up at or after TIME
        #[arg(long, value_name = "TIME")]
        signed_up_from: Option<String>,
        /// Customers who signed up at or before TIME
        #[arg(long, value_name = "TIME")]
        signed_up_to: Option<String>,
        /// Only data of this category (repeatable): records holding none are not affected
        #[arg(long, value_name = "CATEGORY")]
        category: Vec<String>,
        /// Only these records (steward id or SOURCE:ID; repeatable)
        #[arg(long = "id", value_name = "ID")]
        ids: Vec<String>,
        /// Only the records listed in FILE (one id or SOURCE:ID per line)
        #[arg(long, value_name = "FILE")]
        ids_file: Option<PathBuf>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// The breach register: every incident, with its clock
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// One incident: counts per category and jurisdiction, the clock, the risk, the timeline
    Show {
        reference: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Add a step to the timeline (what was done or learned; no customer data: it goes into the report)
    Note { reference: String, text: String },
    /// Record the risk assessment: unlikely (no notification), risk (tell the authority), high (tell the people too)
    Risk {
        reference: String,
        #[arg(value_parser = ["unlikely", "risk", "high"])]
        level: String,
        /// Why (documented, Art. 33(5))
        #[arg(long, value_name = "TEXT")]
        why: String,
    },
    /// Record that the authority (--authority) or the people (--people) were told
    Notified {
        reference: String,
        #[arg(long, required_unless_present = "people", conflicts_with = "people")]
        authority: bool,
        #[arg(long)]
        people: bool,
        /// When [default: now]
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// How: the authority's portal reference, the mailing (kept in the timeline)
        #[arg(long, value_name = "TEXT")]
        how: Option<String>,
    },
    /// Write the notification list, age-encrypted: who, how to reach them, which of their data was involved
    #[command(after_help = "CSV, one row per person (records sharing an email address are one): breach, \
records, names, email, phone, address, country, jurisdiction, data_involved. Erased and unreachable records \
are counted and left out. Decrypt with: age -d -i KEY FILE. With --passphrase, STEWARD_EXPORT_PASSPHRASE is \
read if set.")]
    NotifyList {
        reference: String,
        #[command(flatten)]
        to: EncryptTo,
        /// Output file (must not exist)
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// The report for the supervisory authority (Art. 33(3)): figures and your words, no personal data
    Report {
        reference: String,
        #[arg(long, value_parser = ["markdown", "json"], default_value = "markdown")]
        format: String,
    },
    /// Close the incident (the authority told or the risk assessed unlikely; the people told if high)
    Close {
        reference: String,
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
}

fn time_arg(s: &Option<String>, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    s.as_deref().map(|s| parse_time(s, now).map_err(Failure)).transpose()
}

fn t(d: &DateTime<Utc>) -> String {
    d.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub(super) fn breach(g: &Global, action: BreachAction) -> Result<()> {
    let now = crate::model::now();
    match action {
        BreachAction::Open {
            discovered,
            what,
            source,
            batch,
            signed_up_from,
            signed_up_to,
            category,
            ids,
            ids_file,
            json,
        } => {
            let discovered = parse_time(&discovered, now).map_err(Failure)?;
            let mut keys = ids;
            if let Some(f) = ids_file {
                let text =
                    std::fs::read_to_string(&f).map_err(|e| Failure(format!("could not read {}: {e}", f.display())))?;
                keys.extend(
                    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from),
                );
            }
            let mut scope = Scope {
                sources: source,
                batches: batch,
                created_from: time_arg(&signed_up_from, now)?,
                created_to: signed_up_to
                    .as_deref()
                    .map(|s| crate::model::breach::parse_until(s, now).map_err(Failure))
                    .transpose()?,
                categories: category
                    .into_iter()
                    .map(|c| c.trim().to_ascii_lowercase())
                    .filter(|c| !c.is_empty())
                    .collect(),
                ids: Vec::new(),
            };
            let svc = open(g)?;
            for k in &keys {
                scope.ids.push(super::actions::record_id(&svc, k)?);
            }
            let progress = Progress::new(svc.count() as u64, "records");
            let b =
                svc.breach_open(NewBreach { discovered, what, scope }, &mut |n| progress.set("scoping", n as u64))?;
            progress.bar.finish_and_clear();
            if json {
                println!("{}", output::json_pretty(&b)?);
            } else {
                print_breach(&b, now);
                println!(
                    "\nnext: `steward breach risk {0} unlikely|risk|high --why TEXT`, then `steward breach notify-list {0} -r KEY -o FILE` and `steward breach report {0}`",
                    b.reference
                );
            }
            Ok(())
        }
        BreachAction::List { json } => {
            let list = open(g)?.breaches()?;
            if json {
                for b in &list {
                    let line = serde_json::json!({
                        "ref": b.reference, "discovered": b.discovered, "opened": b.opened,
                        "records": b.figures.records, "risk": b.risk, "clock": b.clock(now),
                        "closed": b.closed,
                    });
                    println!("{}", output::json(&line)?);
                }
            } else if list.is_empty() {
                println!("no breach recorded");
            } else {
                println!("{:<14} {:<17} {:>8}  {:<24} {:<20} state", "ref", "discovered", "records", "clock", "risk");
                for b in &list {
                    println!(
                        "{:<14} {:<17} {:>8}  {:<24} {:<20} {}",
                        b.reference,
                        b.discovered.format("%Y-%m-%d %H:%M"),
                        b.figures.records,
                        b.clock(now).short(),
                        b.risk.name(),
                        if b.is_open() { "open" } else { "closed" }
                    );
                }
            }
            Ok(())
        }
        BreachAction::Show { reference, json } => {
            let b = open(g)?.breach(&reference)?;
            if json {
                println!("{}", output::json_pretty(&b)?);
            } else {
                print_breach(&b, now);
            }
            Ok(())
        }
        BreachAction::Note { reference, text } => step(g, &reference, BreachStep::Note(text)),
        BreachAction::Risk { reference, level, why } => {
            let risk = Risk::parse(&level).ok_or_else(|| Failure("risk: unlikely, risk or high".into()))?;
            step(g, &reference, BreachStep::Risk(risk, why))
        }
        BreachAction::Notified { reference, authority, people: _, at, how } => {
            let at = time_arg(&at, now)?.unwrap_or(now);
            step(g, &reference, BreachStep::Notified { authority, at, how: how.unwrap_or_default() })
        }
        BreachAction::Close { reference, reason } => step(g, &reference, BreachStep::Close(reason)),
        BreachAction::NotifyList { reference, to, output: out, json } => {
            let target = super::actions::target(&to, "STEWARD_EXPORT_PASSPHRASE")?;
            let svc = open(g)?;
            let r = svc.breach_notification_list(&reference, &target, to.armor, &out)?;
            if json {
                println!("{}", output::json(&r)?);
            } else {
                println!(
                    "{} people ({} record(s)) listed in {} ({} bytes, encrypted; audit entry {}); left out: {} erased since, {} unreachable",
                    r.people,
                    r.records,
                    r.file.display(),
                    r.bytes,
                    r.audit_entry,
                    r.erased,
                    r.unreachable
                );
                println!("once they are told: steward breach notified {} --people", reference.to_ascii_uppercase());
            }
            Ok(())
        }
        BreachAction::Report { reference, format } => {
            let r: AuthorityReport = open(g)?.breach_report(&reference)?;
            if format == "json" {
                println!("{}", output::json_pretty(&r)?);
            } else {
                print!("{}", r.markdown());
            }
            Ok(())
        }
    }
}

fn step(g: &Global, reference: &str, s: BreachStep) -> Result<()> {
    let b = open(g)?.breach_step(reference, s)?;
    let last = b.timeline.last().map(|s| s.what.clone()).unwrap_or_default();
    println!("{}: {} · clock: {}", b.reference, sanitize(&last), b.clock(crate::model::now()).short());
    Ok(())
}

fn print_breach(b: &Breach, now: DateTime<Utc>) {
    println!("{} · {}", b.reference, if b.is_open() { "open" } else { "closed" });
    println!("discovered  {}  (opened {} by {})", t(&b.discovered), t(&b.opened), sanitize(&b.opened_by));
    println!("what        {}", sanitize(&b.what));
    println!("scope       {}", sanitize(&b.scope.describe()));
    let clock = b.clock(now);
    println!("authority   {}", clock_words(&clock));
    if matches!(clock, Clock::Running { .. } | Clock::Overdue { .. }) {
        println!("            deadline {} (72 hours after discovery, GDPR Art. 33)", t(&b.deadline()));
    }
    let f = &b.figures;
    println!("affected    {} record(s), about {} people (records sharing an email counted once)", f.records, f.people);
    println!("\nper category of data:");
    for (c, n) in &f.by_category {
        let mark = if f.high_risk_categories.contains(c) { "  HIGH RISK" } else { "" };
        println!("  {:<40} {n:>8}{mark}", sanitize(c));
    }
    println!("\nper jurisdiction:");
    for (j, n) in &f.by_jurisdiction {
        println!("  {j:<40} {n:>8}");
    }
    let countries: Vec<String> = f.by_country.iter().map(|(c, n)| format!("{} {n}", sanitize(c))).collect();
    println!("  by country: {}", countries.join(", "));
    println!(
        "\nrisk        {}{}",
        b.risk.name(),
        b.risk_reason.as_deref().map(|r| format!(" — {}", sanitize(r))).unwrap_or_default()
    );
    if b.risk == Risk::Unassessed && b.suggested_risk() == Risk::High {
        println!(
            "            {} suggest a HIGH risk: the people must then be told without undue delay (Art. 34)",
            f.high_risk_categories.join(", ")
        );
    }
    println!(
        "people      {}",
        match (b.people_notified, b.risk) {
            (Some(at), _) => format!("told {}", t(&at)),
            (None, Risk::High) => "NOT TOLD YET: due without undue delay (Art. 34)".into(),
            (None, _) => "to be told if the risk is high (Art. 34)".into(),
        }
    );
    println!("\ntimeline:");
    for s in &b.timeline {
        println!("  {}  {:<10} {}", t(&s.time), sanitize(&s.by), sanitize(&s.what));
    }
}

pub(super) fn ropa(g: &Global, format: &str) -> Result<()> {
    let svc = open(g)?;
    let progress = Progress::new(svc.count() as u64, "records");
    let r = svc.ropa(&mut |n| progress.set("reading", n as u64))?;
    progress.bar.finish_and_clear();
    match format {
        "json" => println!("{}", output::json_pretty(&r)?),
        _ => print!("{}", r.markdown()),
    }
    Ok(())
}

pub(super) fn notice(g: &Global, format: &str, strict: bool) -> Result<()> {
    let svc = open(g)?;
    let progress = Progress::new(svc.count() as u64, "records");
    let r = svc.ropa(&mut |n| progress.set("reading", n as u64))?;
    progress.bar.finish_and_clear();
    match format {
        "json" => {
            let v = serde_json::json!({"contradictions": r.contradictions, "notice": r.notice()});
            println!("{}", output::json_pretty(&v)?);
        }
        _ => print!("{}", r.notice()),
    }
    if strict && !r.contradictions.is_empty() {
        return Err(Failure(format!(
            "{} contradiction(s) between the policy and the data held: the notice must not be published as it is",
            r.contradictions.len()
        )));
    }
    Ok(())
}

pub(super) fn usage(g: &Global, days: i64, json: bool) -> Result<()> {
    let u = open(g)?.usage(days)?;
    if json {
        println!("{}", output::json_pretty(&u)?);
        return Ok(());
    }
    println!("use of the data over the last {days} day(s), from the audit trail");
    println!(
        "{:<16} {:>8} {:>9} {:>8} {:>9} {:>7} {:>8} {:>8} {:>8}  last seen",
        "user", "reveals", "revealed", "exports", "exported", "erased", "changes", "refused", "failed"
    );
    for x in &u.users {
        println!(
            "{:<16} {:>8} {:>9} {:>8} {:>9} {:>7} {:>8} {:>8} {:>8}  {}",
            crate::model::text::fit(&sanitize(&x.user), 16),
            x.reveals,
            x.revealed,
            x.exports,
            x.exported,
            x.erased,
            x.changes,
            x.refused,
            x.failed_logins,
            x.last_seen.map(|d| t(&d)).unwrap_or_else(|| "-".into())
        );
    }
    if u.alerts.is_empty() {
        println!("\nno alert");
    } else {
        println!("\n{} alert(s):", u.alerts.len());
        for a in &u.alerts {
            println!("  {}  {:<16} {:<16} {} (audit entry {})", t(&a.time), a.kind, sanitize(&a.user), a.what, a.seq);
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(super) fn extract(
    g: &Global,
    purpose: &str,
    ids: &[String],
    to: &EncryptTo,
    out: &Path,
    dry_run: bool,
    json: bool,
) -> Result<()> {
    let target = if dry_run { None } else { Some(super::actions::target(to, "STEWARD_EXPORT_PASSPHRASE")?) };
    let svc = open(g)?;
    let among = if ids.is_empty() {
        None
    } else {
        Some(ids.iter().map(|k| super::actions::record_id(&svc, k)).collect::<Result<Vec<_>>>()?)
    };
    let left = |m: &std::collections::BTreeMap<crate::service::extract::LeftOut, usize>| {
        let v: Vec<String> = m.iter().map(|(k, n)| format!("{n} {}", k.name())).collect();
        if v.is_empty() { "none".to_owned() } else { v.join(", ") }
    };
    let Some(target) = target else {
        let plan = svc.plan_extract(purpose, among.as_deref())?;
        if json {
            let v = serde_json::json!({"dry_run": true, "purpose": plan.purpose, "fields": plan.fields,
                "considered": plan.considered, "included": plan.included.len(), "left_out": plan.left_out});
            println!("{}", output::json(&v)?);
        } else {
            println!(
                "{} of {} record(s) may be used for `{}` (fields: {}); left out: {}",
                plan.included.len(),
                plan.considered,
                plan.purpose,
                plan.fields.join(", "),
                left(&plan.left_out)
            );
        }
        return Ok(());
    };
    let r = svc.extract(purpose, among.as_deref(), &target, to.armor, out)?;
    if json {
        let v = serde_json::json!({"purpose": r.plan.purpose, "fields": r.plan.fields, "considered": r.plan.considered,
            "included": r.plan.included.len(), "left_out": r.plan.left_out, "file": r.file, "bytes": r.bytes,
            "audit_entry": r.audit_entry});
        println!("{}", output::json(&v)?);
    } else {
        println!(
            "{} record(s) for `{}` in {} ({} bytes, encrypted; audit entry {}); fields: {}; left out: {}",
            r.plan.included.len(),
            r.plan.purpose,
            r.file.display(),
            r.bytes,
            r.audit_entry,
            r.plan.fields.join(", "),
            left(&r.plan.left_out)
        );
    }
    Ok(())
}
