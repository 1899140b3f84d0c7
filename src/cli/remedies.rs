//! The remedies from the command line: bulk merge, drop-field, redact,
//! verified, reverify-list, consent, restrict and undo. Thin like the
//! other commands: parse, plan, print the plan (`--dry-run`), confirm
//! where destructive (`--yes`), call the service, print what it did.

use std::path::Path;

use super::{EncryptTo, Failure, Global, Progress, Result, open, output};
use crate::findings::Kind;
use crate::model::RecordId;
use crate::service::Service;
use crate::service::remedies::Remedied;

fn ids_of(svc: &Service, keys: &[String]) -> Result<Vec<RecordId>> {
    keys.iter().map(|k| super::actions::record_id(svc, k)).collect()
}

/// Prints what a remedy did: JSON, or one line and how to undo it.
fn done(r: &Remedied, json: bool) -> Result<()> {
    if json {
        println!("{}", output::json(r)?);
        return Ok(());
    }
    println!("{} (audit entry {})", r.summary, r.audit_entry);
    if let Some(c) = &r.change_id {
        println!("change_id {c}: undo with `steward undo {c} --reason TEXT`");
    }
    Ok(())
}

/// The records of the store's findings of `kind`, with each finding's score.
fn findings_of(svc: &Service, kind: Kind) -> Result<Vec<(Vec<RecordId>, f64)>> {
    use crate::model::Identified;
    let progress = Progress::new(svc.count() as u64, "records");
    let (records, report) = svc.scan_store(&|stage| {
        if let Some(n) = stage.strip_prefix("checked ").and_then(|s| s.split(' ').next()).and_then(|n| n.parse().ok()) {
            progress.set("checking", n);
        } else {
            progress.set("looking across records", svc.count() as u64);
        }
    })?;
    progress.bar.finish_and_clear();
    Ok(report
        .findings
        .iter()
        .filter(|f| f.kind == kind)
        .map(|f| {
            let ids = f.records.iter().filter_map(|&i| records.get(i as usize)).map(|r| r.id()).collect();
            (ids, f.score.unwrap_or(1.0))
        })
        .collect())
}

fn refuse_unconfirmed(what: String) -> Result<()> {
    Err(Failure(format!("{what}: nothing changed; add --yes to confirm (or --dry-run to list it)")))
}

pub(super) fn bulk_merge(g: &Global, min: f64, reason: &str, dry_run: bool, json: bool, yes: bool) -> Result<()> {
    let svc = open(g)?;
    let clusters = findings_of(&svc, Kind::Duplicate)?;
    let plan = svc.plan_bulk_merge(&clusters, min)?;
    let items = plan.items();
    if dry_run || !yes {
        if json {
            for i in &items {
                println!("{}", output::json(i)?);
            }
        } else {
            for i in &items {
                let merged: Vec<String> = i.merged.iter().map(ToString::to_string).collect();
                println!("p {:.3}  {} <- {}", i.probability, i.survivor, merged.join(" "));
            }
            eprintln!(
                "{} cluster(s) at or above p {min}: {} records would become {}",
                items.len(),
                plan.records(),
                items.len()
            );
        }
        if dry_run {
            return Ok(());
        }
        return refuse_unconfirmed(format!("{} cluster(s) would be merged", items.len()));
    }
    let r = svc.bulk_merge(&plan, reason)?;
    done(&r, json)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn drop_field(
    g: &Global,
    field: &str,
    source: Option<&str>,
    past_retention: bool,
    reason: &str,
    dry_run: bool,
    json: bool,
    yes: bool,
    rekey: bool,
) -> Result<()> {
    let svc = open(g)?;
    let plan =
        if past_retention { svc.plan_drop_field_past_retention(field)? } else { svc.plan_drop_field(field, source)? };
    if dry_run || !yes {
        if json {
            println!("{}", output::json(&plan)?);
        } else {
            println!(
                "`{}` ({}) is held by {} record(s){}{}",
                plan.field,
                plan.category,
                plan.records.len(),
                source.map(|s| format!(" of source {s}")).unwrap_or_default(),
                if past_retention { " past the retention of its purposes" } else { "" }
            );
        }
        if dry_run {
            return Ok(());
        }
        return refuse_unconfirmed(format!("`{}` would be dropped from {} record(s)", plan.field, plan.records.len()));
    }
    let r = svc.drop_field(&plan, reason)?;
    done(&r, json)?;
    if rekey {
        let progress = Progress::new(0, "pages");
        let e = svc
            .rekey(&format!("after dropping `{}`", plan.field), &|n| progress.set("rotating the data key", n as u64))?;
        progress.bar.finish_and_clear();
        eprintln!(
            "data key rotated (audit entry {}): the dropped values are unrecoverable; undo is no longer possible",
            e.seq
        );
    } else if !json {
        eprintln!(
            "steward: the old values stay recoverable for undo until the data key is rotated; `steward rekey` (or the \
             next erasure) makes them unrecoverable"
        );
    }
    Ok(())
}

pub(super) fn redact(
    g: &Global,
    id: Option<&str>,
    field: Option<&str>,
    reason: &str,
    dry_run: bool,
    json: bool,
    yes: bool,
) -> Result<()> {
    let svc = open(g)?;
    let ids = match id {
        Some(id) => ids_of(&svc, &[id.to_owned()])?,
        None => {
            let mut all: Vec<RecordId> = findings_of(&svc, Kind::Pii)?.into_iter().flat_map(|(ids, _)| ids).collect();
            all.sort();
            all.dedup();
            all
        }
    };
    let plan = svc.plan_redact(&ids, field)?;
    if dry_run || !yes {
        if json {
            for p in &plan {
                println!("{}", output::json(p)?);
            }
        } else if plan.is_empty() {
            println!("nothing to redact: no personal data found in its free text");
        } else {
            for p in &plan {
                println!("{}  {}: {} -> {}", p.record, p.field, p.found, p.becomes);
            }
        }
        if dry_run || plan.is_empty() {
            return Ok(());
        }
        return refuse_unconfirmed(format!("{} value(s) would be redacted", plan.len()));
    }
    let r = svc.redact(&ids, field, reason)?;
    done(&r, json)
}

pub(super) fn verified(g: &Global, ids: &[String], how: &str, reason: &str, dry_run: bool, json: bool) -> Result<()> {
    let svc = open(g)?;
    let ids = ids_of(&svc, ids)?;
    if dry_run {
        println!("{} record(s) would be marked verified ({how})", ids.len());
        return Ok(());
    }
    let r = svc.mark_verified(&ids, how, reason)?;
    done(&r, json)
}

pub(super) fn reverify_list(
    g: &Global,
    ids: &[String],
    to: &EncryptTo,
    out: &Path,
    dry_run: bool,
    json: bool,
) -> Result<()> {
    let target = if dry_run { None } else { Some(super::actions::target(to, "STEWARD_EXPORT_PASSPHRASE")?) };
    let svc = open(g)?;
    let ids: Vec<RecordId> = if ids.is_empty() {
        findings_of(&svc, Kind::Stale)?.into_iter().flat_map(|(ids, _)| ids).collect()
    } else {
        ids_of(&svc, ids)?
    };
    if ids.is_empty() {
        println!("no stale record: nobody to ask");
        return Ok(());
    }
    let Some(target) = target else {
        println!("{} stale customer(s) would be listed (restricted and unreachable ones are left out)", ids.len());
        return Ok(());
    };
    let r = svc.reverify_list(&ids, &target, to.armor, out)?;
    if json {
        println!("{}", output::json(&r)?);
    } else {
        println!(
            "{} customer(s) listed in {} ({} bytes, encrypted; audit entry {}); left out: {} restricted, {} unreachable",
            r.listed,
            r.file.display(),
            r.bytes,
            r.audit_entry,
            r.restricted,
            r.unreachable
        );
        println!("when they confirm: steward verified ID... --how reply");
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(super) fn consent(
    g: &Global,
    id: &str,
    purpose: &str,
    given: bool,
    date: &str,
    source: &str,
    reason: &str,
    dry_run: bool,
    json: bool,
) -> Result<()> {
    let date = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
        .map_err(|_| Failure("--date must be YYYY-MM-DD".into()))?;
    let svc = open(g)?;
    let id = super::actions::record_id(&svc, id)?;
    if dry_run {
        println!(
            "would record consent for `{purpose}` {} on {date} for {id}",
            if given { "given" } else { "withdrawn" }
        );
        return Ok(());
    }
    let r = svc.record_consent(id, purpose, given, date, source, reason)?;
    done(&r, json)
}

pub(super) fn restrict(g: &Global, ids: &[String], lift: bool, reason: &str, dry_run: bool, json: bool) -> Result<()> {
    let svc = open(g)?;
    let ids = ids_of(&svc, ids)?;
    if dry_run {
        println!("{} record(s) would be {}", ids.len(), if lift { "no longer restricted" } else { "restricted" });
        return Ok(());
    }
    let r = svc.restrict(&ids, !lift, reason)?;
    done(&r, json)
}

pub(super) fn undo(
    g: &Global,
    change_id: Option<&str>,
    reason: &str,
    list: bool,
    dry_run: bool,
    json: bool,
) -> Result<()> {
    let svc = open(g)?;
    if dry_run && let Some(id) = change_id {
        let all = svc.undoable()?;
        let Some((id, kind, n)) = all.iter().find(|(c, _, _)| c == id.trim()) else {
            return Err(Failure(
                "no such change, or it can no longer be undone (`steward undo --list` shows what can)".into(),
            ));
        };
        let what = if kind == "bulk-merge" { "merges undone" } else { "record(s) restored" };
        if json {
            println!("{}", serde_json::json!({"dry_run": true, "change_id": id, "kind": kind, "records": n}));
        } else {
            println!("would undo {id} ({kind}): {n} {what}; nothing changed (refused then if a record changed since)");
        }
        return Ok(());
    }
    if list || change_id.is_none() {
        let all = svc.undoable()?;
        if json {
            for (id, kind, n) in &all {
                println!("{}", serde_json::json!({"change_id": id, "kind": kind, "records": n}));
            }
        } else if all.is_empty() {
            println!("nothing can be undone");
        } else {
            for (id, kind, n) in &all {
                let what = if kind == "bulk-merge" { "merges" } else { "record(s)" };
                println!("{id}  {kind:<10}  {n} {what}");
            }
        }
        return Ok(());
    }
    let r = svc.undo(change_id.unwrap_or_default(), reason)?;
    done(&r, json)
}
