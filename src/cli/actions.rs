//! The commands that change or hand out data: update, merge, erase, export,
//! rekey, audit, backup and restore. Thin: parse, call the service, print.

use std::io::Write;
use std::path::Path;

use secrecy::SecretString;

use super::{AuditAction, Cost, EncryptTo, Failure, Global, Progress, RequestAction, Result, UserAction, open, output};
use crate::model::RecordId;
use crate::service::Service;
use crate::service::actions::{AuditFilter, FieldEdit, Located, Strategy};
use crate::service::export::{self, RestoreSecret, Target};

/// Resolves a record argument to the id of a record that exists now.
pub(super) fn record_id(svc: &Service, key: &str) -> Result<RecordId> {
    match svc.locate(key)? {
        Located::Record(r) => Ok(r.id),
        Located::Merged { from, merge, record } => Err(Failure(format!(
            "{from} was merged into {} ({merge}); act on that record, or undo the merge first",
            record.id
        ))),
        Located::Erased { id, tombstone } => {
            Err(Failure(format!("record {id} was erased (receipt {})", tombstone.receipt)))
        }
    }
}

fn record_ids(svc: &Service, keys: &[String]) -> Result<Vec<RecordId>> {
    keys.iter().map(|k| record_id(svc, k)).collect()
}

pub(super) fn update(g: &Global, id: &str, edits: &[String], reason: &str) -> Result<()> {
    let edits = edits.iter().map(|e| FieldEdit::parse(e).map_err(Failure)).collect::<Result<Vec<_>>>()?;
    let svc = open(g)?;
    let id = record_id(&svc, id)?;
    let u = svc.update(id, &edits, reason)?;
    let fields: Vec<&str> = u.diffs.iter().map(|d| d.field.as_str()).collect();
    println!(
        "updated {id}: {} (audit entry {}; change_id {}: `steward undo {}` reverts it until the next key rotation)",
        fields.join(", "),
        u.entry.seq,
        u.change_id,
        u.change_id
    );
    Ok(())
}

pub(super) fn distinct(g: &Global, action: super::DistinctAction) -> Result<()> {
    use super::DistinctAction;
    let svc = open(g)?;
    match action {
        DistinctAction::Mark { ids, reason } => {
            let ids = record_ids(&svc, &ids)?;
            let n = svc.mark_apart(&ids, &reason)?;
            println!("{n} pair(s) marked as different people; the next scan keeps them apart");
        }
        DistinctAction::Unmark { a, b, reason } => {
            let (a, b) = (record_id(&svc, &a)?, record_id(&svc, &b)?);
            svc.unmark_apart(a, b, &reason)?;
            println!("decision withdrawn: {a} and {b} may be clustered again");
        }
        DistinctAction::List { json } => {
            let mut out = std::io::stdout().lock();
            for d in svc.apart_decisions()? {
                if json {
                    writeln!(out, "{}", output::json(&d)?)?;
                } else {
                    writeln!(
                        out,
                        "{} ≠ {}  {} {}  {}",
                        d.records[0],
                        d.records[1],
                        d.at.format("%Y-%m-%d %H:%M"),
                        crate::model::text::sanitize(&d.by),
                        crate::model::text::sanitize(&d.reason)
                    )?;
                }
            }
        }
    }
    Ok(())
}

pub(super) fn merge(
    g: &Global,
    ids: &[String],
    into: Option<String>,
    undo: Option<String>,
    reason: &str,
    json: bool,
) -> Result<()> {
    let svc = open(g)?;
    if let Some(m) = undo {
        let entry = svc.undo_merge(&m, reason)?;
        eprintln!("steward: `merge --undo` is now `steward undo {m}`");
        if json {
            println!("{}", serde_json::json!({"undone": m, "restored": entry.records, "audit_entry": entry.seq}));
        } else {
            println!("undid {m}: restored {} (audit entry {})", entry.records.join(", "), entry.seq);
        }
        return Ok(());
    }
    let ids = record_ids(&svc, ids)?;
    let into = into.map(|k| record_id(&svc, &k)).transpose()?;
    let plan = svc.plan_merge(&ids, into)?;
    let out = svc.merge(&plan, reason)?;
    if json {
        println!("{}", output::json(&out)?);
    } else {
        let merged: Vec<String> = out.merged.iter().map(ToString::to_string).collect();
        println!(
            "{}: merged {} into {} (audit entry {})",
            out.merge_id,
            merged.join(", "),
            out.survivor,
            out.audit_entry
        );
        println!("undo with: steward undo {} --reason TEXT", out.merge_id);
    }
    Ok(())
}

pub(super) fn erase(
    g: &Global,
    ids: &[String],
    strategy: Strategy,
    reason: &str,
    request: Option<&str>,
    yes: bool,
    rekey: bool,
) -> Result<()> {
    let svc = open(g)?;
    let ids = record_ids(&svc, ids)?;
    let plan = svc.plan_erase(&ids, strategy)?;
    if !yes {
        eprintln!(
            "would erase {} record(s) ({}), {} merged-away record(s), {} merge snapshot(s); categories: {}",
            plan.records.len(),
            strategy.name(),
            plan.redirects.len(),
            plan.snapshots.len(),
            plan.categories.join(", ")
        );
        for k in &plan.kept {
            eprintln!("would keep {} on {} record(s): {}", k.field, k.records, k.why);
        }
        return Err(Failure("not erased: add --yes to confirm".into()));
    }
    let progress = Progress::new(0, "pages");
    let receipt = svc.erase(&plan, reason, request, rekey, &|n| progress.set("rotating the data key", n as u64))?;
    progress.bar.finish_and_clear();
    println!("{}", output::json_pretty(&receipt)?);
    if !rekey {
        eprintln!("steward: run `steward rekey` so the copies sled keeps on disk can no longer be decrypted");
    }
    Ok(())
}

pub(super) fn target(to: &EncryptTo, env: &str) -> Result<Target> {
    if to.passphrase {
        let p = match std::env::var(env) {
            Ok(p) => SecretString::from(p),
            Err(_) => {
                let a = super::passphrase_prompt("Passphrase for the encrypted file: ")?;
                let b = super::passphrase_prompt("Repeat it: ")?;
                if secrecy::ExposeSecret::expose_secret(&a) != secrecy::ExposeSecret::expose_secret(&b) {
                    return Err(Failure("the passphrases differ".into()));
                }
                a
            }
        };
        return Ok(Target::Passphrase(p, to.work_factor));
    }
    if to.recipient.is_empty() && to.recipients_file.is_empty() {
        return Err(Failure(
            "say whom to encrypt it to: --recipient PUBKEY, --recipients-file FILE or --passphrase".into(),
        ));
    }
    let mut list = to.recipient.clone();
    for f in &to.recipients_file {
        list.extend(export::read_recipients_file(f)?);
    }
    Ok(Target::Recipients(list))
}

pub(super) fn export(g: &Global, ids: &[String], to: &EncryptTo, output: &Path) -> Result<()> {
    // Bad recipients are refused before the store is even opened.
    let target = target(to, "STEWARD_EXPORT_PASSPHRASE")?;
    let svc = open(g)?;
    let ids = record_ids(&svc, ids)?;
    let report = svc.export(&ids, &target, to.armor, output)?;
    println!(
        "exported {} record(s) to {} ({} bytes, {}; audit entry {})",
        report.subjects,
        report.file.display(),
        report.bytes,
        if report.armored { "armored" } else { "binary" },
        report.audit_entry
    );
    Ok(())
}

pub(super) fn rekey(g: &Global, reason: &str) -> Result<()> {
    let svc = open(g)?;
    let progress = Progress::new(0, "pages");
    let entry = svc.rekey(reason, &|n| progress.set("re-wrapping record keys", n as u64))?;
    progress.bar.finish_and_clear();
    println!("data key rotated: {} (audit entry {})", entry.detail.unwrap_or_default(), entry.seq);
    Ok(())
}

pub(super) fn audit(g: &Global, action: AuditAction) -> Result<()> {
    let svc = open(g)?;
    match action {
        AuditAction::List { json, action, by, record } => {
            let entries = svc.audit_list(&AuditFilter { action, user: by, record })?;
            let mut out = std::io::stdout().lock();
            for e in entries {
                let line = if json {
                    output::json(&e)?
                } else {
                    let clean = |s: &Option<String>| crate::model::text::sanitize(s.as_deref().unwrap_or(""));
                    format!(
                        "{:>5}  {}  {:<8} {:<10} {:<7} {}  {}{}",
                        e.seq,
                        e.time.format("%Y-%m-%d %H:%M:%S"),
                        crate::model::text::sanitize(&e.user),
                        e.action,
                        e.outcome.name(),
                        match e.records.len() {
                            0 => String::new(),
                            1 => e.records[0].clone(),
                            n => format!("{} (+{})", e.records[0], n - 1),
                        },
                        clean(&e.detail),
                        e.reason.as_ref().map(|_| format!("  — {}", clean(&e.reason))).unwrap_or_default(),
                    )
                };
                if writeln!(out, "{line}").is_err() {
                    break;
                }
            }
            Ok(())
        }
        AuditAction::Verify { json } => {
            let v = svc.audit_verify()?;
            if json {
                println!("{}", output::json(&v)?);
            }
            match &v.broken {
                None => {
                    if !json {
                        println!(
                            "audit trail intact: {} entries, chain head sealed at entry {}",
                            v.entries, v.sealed_head
                        );
                    }
                    Ok(())
                }
                Some(b) => Err(Failure(format!("audit trail broken at entry {}: {}", b.seq, b.problem))),
            }
        }
    }
}

pub(super) fn backup(g: &Global, to: &EncryptTo, output: &Path) -> Result<()> {
    let target = target(to, "STEWARD_BACKUP_PASSPHRASE")?;
    let svc = open(g)?;
    let report = svc.backup(&target, to.armor, output)?;
    println!("backup of {} record(s) written to {} ({} bytes)", report.subjects, report.file.display(), report.bytes);
    Ok(())
}

pub(super) fn restore(g: &Global, file: &Path, passphrase: bool) -> Result<()> {
    let loc = super::location(g);
    let secret = if passphrase {
        match std::env::var("STEWARD_BACKUP_PASSPHRASE") {
            Ok(p) => RestoreSecret::Passphrase(SecretString::from(p)),
            Err(_) => RestoreSecret::Passphrase(super::passphrase_prompt("Backup passphrase: ")?),
        }
    } else {
        let path = g.identity.as_ref().ok_or_else(|| Failure("pass --identity FILE (or --passphrase)".into()))?;
        let bytes =
            std::fs::read(path).map_err(|e| Failure(format!("cannot read identity {}: {e}", path.display())))?;
        RestoreSecret::Identity(zeroize::Zeroizing::new(bytes))
    };
    let n = export::restore(file, &loc, secret)?;
    println!("restored {n} values into {loc}");
    let taken = std::fs::metadata(file)
        .and_then(|m| m.modified())
        .map(|t| chrono::DateTime::<chrono::Utc>::from(t).format(" (written %Y-%m-%d %H:%M UTC)").to_string())
        .unwrap_or_default();
    eprintln!(
        "steward: warning: the store is back as it was when this backup{taken} was taken, with every customer \
         erased since then. Before using it, list the erasures made after that time in the audit trail of the \
         store it came from (`steward audit list`) and erase those records here again."
    );
    Ok(())
}

pub(super) fn migrate(g: &Global, to: &str, json: bool) -> Result<()> {
    let to = crate::service::Location::parse(to);
    let svc = open(g)?;
    let from = svc.store_location().clone();
    let progress = Progress::new(svc.store_values().max(1), "values");
    let copied = svc.migrate(&to, &|n| progress.set("copying", n));
    progress.bar.finish_and_clear();
    let copied = copied?;
    if json {
        println!("{}", output::json(&copied)?);
    } else {
        println!(
            "copied {} value(s) from {} ({}) to {} ({}): {} record(s), audit trail of {} entries {}",
            copied.values,
            from,
            from.engine(),
            to,
            to.engine(),
            copied.records,
            copied.audit_entries,
            if copied.audit_intact { "intact" } else { "BROKEN" }
        );
        println!(
            "the source is unchanged; use the copy with --store {to} (or STEWARD_STORE), and remove the old store \
             once you no longer need it"
        );
    }
    Ok(())
}

/// The slot for a new or changed user: a public key, or a new passphrase.
pub(crate) fn user_slot(name: &str, recipient: Option<String>, cost: Cost) -> Result<crate::service::NewSecret> {
    match recipient {
        Some(r) => Ok(crate::service::NewSecret::Recipient(r)),
        None => super::new_passphrase("STEWARD_NEW_PASSPHRASE", name, cost),
    }
}

pub(super) fn user(g: &Global, action: UserAction) -> Result<()> {
    let svc = open(g)?;
    let role = |r: &str| r.parse::<crate::service::Role>().map_err(Failure);
    match action {
        UserAction::Add { name, role: r, identity_recipient, kdf_cost } => {
            let role = role(&r)?;
            crate::service::users::check_name(&name).map_err(Failure)?;
            let slot = user_slot(&name, identity_recipient, kdf_cost)?;
            svc.user_add(&name, role, slot)?;
            println!("added {name} as {}", role.name());
        }
        UserAction::Remove { name } => {
            svc.user_remove(&name)?;
            println!("removed {name}: their key slot is destroyed");
        }
        UserAction::List { json } => {
            for u in svc.users()? {
                if json {
                    println!("{}", output::json(&u)?);
                } else {
                    println!("{:<24} {:<8} {}", crate::model::text::fit(&u.name, 24), u.role.name(), u.unlock);
                }
            }
        }
        UserAction::Passwd { name, kdf_cost } => {
            let name = name.unwrap_or_else(|| svc.session().user.clone());
            let slot = user_slot(&name, None, kdf_cost)?;
            svc.user_passwd(&name, slot)?;
            println!("new passphrase set for {name}");
        }
        UserAction::Role { name, role: r } => {
            let role = role(&r)?;
            svc.user_set_role(&name, role)?;
            println!("{name} is now {}", role.name());
        }
    }
    Ok(())
}

pub(super) fn housekeeping(
    g: &Global,
    dry_run: bool,
    json: bool,
    strategy: Strategy,
    reason: &str,
    yes: bool,
) -> Result<()> {
    let svc = open(g)?;
    let (expired, plan) = svc.housekeeping_plan(strategy)?;
    let list = serde_json::to_value(&expired)?;
    if dry_run || expired.is_empty() {
        if json {
            println!(
                "{}",
                serde_json::json!({"dry_run": dry_run, "count": expired.len(), "records": list, "receipt": null})
            );
        } else {
            println!(
                "{} record(s) past retention{}",
                expired.len(),
                if dry_run { " (dry run: nothing erased)" } else { "" }
            );
            for e in &expired {
                println!("{}  {}  {}", e.id, crate::model::text::fit(&e.source_id, 24), e.reasons.join("; "));
            }
        }
        return Ok(());
    }
    if !yes {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return Err(Failure(format!("{} record(s) would be erased: add --yes to confirm", expired.len())));
        }
        eprint!("Erase {} record(s) past retention ({})? Type erase to confirm: ", expired.len(), strategy.name());
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if answer.trim() != "erase" {
            return Err(Failure("not erased".into()));
        }
    }
    let progress = Progress::new(0, "pages");
    let receipt = svc.erase(&plan, reason, None, true, &|n| progress.set("rotating the data key", n as u64))?;
    progress.bar.finish_and_clear();
    if json {
        println!(
            "{}",
            serde_json::json!({"dry_run": false, "count": expired.len(), "records": list, "receipt": receipt})
        );
    } else {
        println!("{}", output::json_pretty(&receipt)?);
    }
    Ok(())
}

fn request_line(v: &crate::service::requests::RequestView) -> String {
    let left = if !v.status.is_open() {
        v.status.name().to_owned()
    } else if v.overdue {
        format!("OVERDUE by {} day(s)", -v.days_left)
    } else {
        format!("{} day(s) left{}", v.days_left, if v.due_soon { " (due soon)" } else { "" })
    };
    format!(
        "{:<16} {:<13} {:<5} received {}  due {}  {}",
        crate::model::text::fit(&v.reference, 16),
        v.kind.name(),
        v.jurisdiction,
        v.received,
        v.due,
        left
    )
}

pub(super) fn request(g: &Global, action: RequestAction) -> Result<()> {
    use crate::model::request::Requester;
    use crate::service::requests::NewRequest;
    let svc = open(g)?;
    match action {
        RequestAction::Add {
            kind,
            jurisdiction,
            received,
            email,
            phone,
            name,
            customer_number,
            dob,
            postcode,
            address,
            reference,
            channel,
            json,
        } => {
            let requester = Requester { name, email, phone, customer_number, date_of_birth: dob, postcode, address };
            if requester.is_empty() {
                return Err(Failure(
                    "say who is asking: --name, --email, --phone, --customer-number, --dob, --postcode or --address"
                        .into(),
                ));
            }
            let v = svc.request_add(NewRequest {
                reference,
                kind: kind.into(),
                jurisdiction,
                received,
                channel,
                requester,
            })?;
            if json {
                println!("{}", output::json_pretty(&v)?);
            } else {
                println!("{}", request_line(&v));
            }
        }
        RequestAction::List { json, overdue } => {
            for v in svc.requests()?.into_iter().filter(|v| !overdue || v.overdue) {
                if json {
                    println!("{}", output::json(&v)?);
                } else {
                    println!("{}", request_line(&v));
                }
            }
        }
        RequestAction::Show { reference, json } => {
            let v = svc.request(&reference)?;
            if json {
                println!("{}", output::json_pretty(&v)?);
            } else {
                println!("{}", request_line(&v));
                let clean = |s: &Option<String>| crate::model::text::sanitize(s.as_deref().unwrap_or("—"));
                match &v.requester_erased {
                    Some(receipt) => println!("requester  (details erased, {receipt})"),
                    None => println!(
                        "requester  {} · {} · {}",
                        clean(&v.requester.name),
                        clean(&v.requester.email),
                        clean(&v.requester.phone)
                    ),
                }
                println!(
                    "status     {}{} · identity {}{} · via {}",
                    v.status.name(),
                    match &v.status {
                        crate::model::request::Status::Rejected { reason } =>
                            format!(" ({})", crate::model::text::sanitize(reason)),
                        crate::model::request::Status::Extended { reason, notified } =>
                            format!(" ({}; told {notified})", crate::model::text::sanitize(reason)),
                        _ => String::new(),
                    },
                    v.verification.status,
                    v.verification
                        .method
                        .as_deref()
                        .map(|m| format!(" ({})", crate::model::text::sanitize(m)))
                        .unwrap_or_default(),
                    crate::model::text::sanitize(&v.channel)
                );
                match (v.acknowledged, v.acknowledge_by) {
                    (Some(d), _) => println!("acknowledged {d}"),
                    (None, Some(a)) if v.status.is_open() => println!("acknowledge by {a}"),
                    _ => {}
                }
                let extendable =
                    v.status.is_open() && !matches!(v.status, crate::model::request::Status::Extended { .. });
                if let Some(e) = v.extension_notice_by.filter(|_| extendable) {
                    println!("extension must be notified by {e}");
                }
                let ids: Vec<String> = v.records.iter().map(ToString::to_string).collect();
                println!(
                    "records    {}",
                    if ids.is_empty() { "none linked (request match)".into() } else { ids.join(" ") }
                );
                for a in &v.answers {
                    println!("answered   {}", crate::model::text::sanitize(a));
                }
                for n in &v.notes {
                    println!("note       {}", crate::model::text::sanitize(n));
                }
                for h in &v.history {
                    println!(
                        "  {}  {}  {}",
                        h.time.format("%Y-%m-%d %H:%M"),
                        crate::model::text::sanitize(&h.user),
                        h.what
                    );
                }
            }
        }
        RequestAction::Complete { reference, answer } => {
            let v = svc.request_complete(&reference, answer.as_deref())?;
            println!("{}", request_line(&v));
        }
        RequestAction::Import { file, format } => {
            use crate::import::requests::{self as intake, Format};
            let mut f = std::fs::File::open(&file)
                .map_err(|e| Failure(format!("cannot open {}: {}", file.display(), e.kind())))?;
            let size = f.metadata().map(|m| m.len()).unwrap_or(0);
            if size > intake::MAX_BYTES {
                return Err(Failure(format!(
                    "{} is {} MiB; an intake file may be at most {} MiB (split it)",
                    file.display(),
                    size >> 20,
                    intake::MAX_BYTES >> 20
                )));
            }
            let mut head = [0u8; 64];
            let n = std::io::Read::read(&mut f, &mut head).unwrap_or(0);
            std::io::Seek::rewind(&mut f).map_err(|e| Failure(format!("cannot read {}: {e}", file.display())))?;
            let format = match format.as_deref() {
                Some("csv") => Format::Csv,
                Some(_) => Format::JsonLines,
                None => Format::detect(&file.to_string_lossy(), &head[..n]),
            };
            let (rows, bad) = intake::parse(std::io::Read::take(f, intake::MAX_BYTES), format);
            let rejected = |bad: &[crate::import::RowError]| {
                for e in bad.iter().take(20) {
                    eprintln!("{}: {e}", file.display());
                }
                Failure(format!("{} invalid row(s); nothing was taken in", bad.len()))
            };
            if !bad.is_empty() {
                return Err(rejected(&bad));
            }
            let views = match svc.request_import(rows) {
                Err(crate::service::ServiceError::ImportRejected(bad)) => return Err(rejected(&bad)),
                other => other?,
            };
            for v in &views {
                println!("{}", request_line(v));
            }
            eprintln!("took in {} request(s)", views.len());
        }
        RequestAction::Match { reference, json, link } => {
            let matches = svc.request_match(&reference)?;
            let found = &matches.candidates;
            let mut out = std::io::stdout().lock();
            for c in found {
                if json {
                    writeln!(out, "{}", output::json(c)?)?;
                } else {
                    let clean = |s: &Option<String>| crate::model::text::sanitize(s.as_deref().unwrap_or("—"));
                    let place = [c.locality.clone(), c.country.clone(), c.birth_year.map(|y| format!("born {y}"))]
                        .into_iter()
                        .flatten()
                        .map(|s| crate::model::text::sanitize(&s))
                        .collect::<Vec<_>>()
                        .join(" ");
                    writeln!(
                        out,
                        "{} {:.3} {}{}  {} · {} · {} · {}\n    agrees on: {}\n    {}",
                        c.id,
                        c.score,
                        if c.linked {
                            "linked"
                        } else if c.proposed {
                            "proposed"
                        } else {
                            "possible"
                        },
                        c.via.map(|v| format!(" (via {v})")).unwrap_or_default(),
                        crate::model::text::sanitize(&c.name),
                        clean(&c.email),
                        clean(&c.phone),
                        if place.is_empty() { "—".into() } else { place },
                        if c.evidence.is_empty() { "—".to_owned() } else { c.evidence.join(", ") },
                        c.reasons.join(", ")
                    )?;
                }
            }
            drop(out);
            if let Some(advice) = &matches.advice {
                eprintln!("{reference}: nothing proposed: {advice}");
            }
            if link {
                let ids: Vec<RecordId> = found.iter().filter(|c| c.proposed && !c.linked).map(|c| c.id).collect();
                if ids.is_empty() {
                    eprintln!("nothing new to link");
                } else {
                    let v = svc.request_link(&reference, &ids, true)?;
                    eprintln!("linked {} record(s); {} linked in all", ids.len(), v.records.len());
                }
            }
        }
        RequestAction::Link { reference, ids } => {
            let ids = record_ids(&svc, &ids)?;
            let v = svc.request_link(&reference, &ids, true)?;
            println!("{}: {} record(s) linked", v.reference, v.records.len());
        }
        RequestAction::Unlink { reference, ids } => {
            let ids = ids
                .iter()
                .map(|k| k.parse::<RecordId>().map_err(|_| Failure("not a record id".into())))
                .collect::<Result<Vec<_>>>()?;
            let v = svc.request_link(&reference, &ids, false)?;
            println!("{}: {} record(s) linked", v.reference, v.records.len());
        }
        RequestAction::Acknowledge { reference } => {
            let v = svc.request_acknowledge(&reference)?;
            println!("{}: acknowledged {}", v.reference, v.acknowledged.map(|d| d.to_string()).unwrap_or_default());
        }
        RequestAction::Note { reference, text } => {
            let v = svc.request_note(&reference, &text)?;
            println!("{}: {} note(s)", v.reference, v.notes.len());
        }
        RequestAction::Verify { reference, method, failed } => {
            let v = svc.request_verify(&reference, !failed, &method)?;
            println!("{}: identity {}", v.reference, v.verification.status);
        }
        RequestAction::Status { reference, status, reason, notified } => {
            use crate::model::request::Status;
            let need = |what: &str| {
                reason.clone().filter(|r| !r.trim().is_empty()).ok_or_else(|| Failure(format!("{what} needs --reason")))
            };
            let status = match status.as_str() {
                "verifying" => Status::Verifying,
                "in-progress" => Status::InProgress,
                "rejected" => Status::Rejected { reason: need("rejected")? },
                _ => Status::Extended {
                    reason: need("extended")?,
                    notified: notified.unwrap_or_else(|| crate::model::now().date_naive()),
                },
            };
            let v = svc.request_set_status(&reference, status)?;
            println!("{}", request_line(&v));
        }
        RequestAction::Erase { reference, reason, strategy, yes, no_rekey } => {
            let strategy: Strategy = strategy.into();
            let plan = svc.request_plan_erase(&reference, strategy)?;
            if !yes {
                eprintln!(
                    "would erase {} record(s) ({}), {} merged-away record(s), {} merge snapshot(s), the details of \
                     {} requester(s); categories: {}",
                    plan.records.len(),
                    strategy.name(),
                    plan.redirects.len(),
                    plan.snapshots.len(),
                    plan.request_entries,
                    plan.categories.join(", ")
                );
                for id in &plan.records {
                    eprintln!("  {id}");
                }
                for k in &plan.kept {
                    eprintln!("would keep {} on {} record(s): {}", k.field, k.records, k.why);
                }
                return Err(Failure("not erased: add --yes to confirm".into()));
            }
            let reason = reason.unwrap_or_else(|| format!("erasure request {reference}"));
            let progress = Progress::new(0, "pages");
            let receipt = svc.request_erase(&reference, &plan, &reason, !no_rekey, &|n| {
                progress.set("rotating the data key", n as u64)
            })?;
            progress.bar.finish_and_clear();
            println!("{}", output::json_pretty(&receipt)?);
            eprintln!("{reference} completed with receipt {}", receipt.receipt);
        }
        RequestAction::Export { reference, to, output } => {
            let target = target(&to, "STEWARD_EXPORT_PASSPHRASE")?;
            let (report, v) = svc.request_export(&reference, &target, to.armor, &output)?;
            println!(
                "exported {} record(s) to {} ({} bytes; audit entry {}); {} completed",
                report.subjects,
                report.file.display(),
                report.bytes,
                report.audit_entry,
                v.reference
            );
        }
    }
    Ok(())
}

/// `steward receipt show ID` / `receipt list`.
pub fn receipt(g: &Global, action: super::ReceiptAction) -> Result<()> {
    let svc = open(g)?;
    match action {
        super::ReceiptAction::Show { id } => {
            let receipt = svc.receipt(&id)?.ok_or_else(|| {
                Failure(format!(
                    "no receipt {} (`steward receipt list` shows them)",
                    crate::model::text::fit(&crate::model::text::sanitize(&id), 40)
                ))
            })?;
            println!("{}", output::json_pretty(&receipt)?);
        }
        super::ReceiptAction::List { json } => {
            let mut receipts = svc.receipts()?;
            receipts.sort_by_key(|r| std::cmp::Reverse(r.time));
            if receipts.is_empty() && !json {
                println!("no erasure receipts yet");
            }
            for r in receipts {
                if json {
                    println!("{}", output::json(&r)?);
                } else {
                    println!(
                        "{}  {}  {} record(s) erased  {}{}",
                        r.receipt,
                        r.time.format("%Y-%m-%d %H:%M UTC"),
                        r.records_erased,
                        r.request.as_deref().map(crate::model::text::sanitize).unwrap_or_else(|| "(no request)".into()),
                        if r.key_rotated { "" } else { "  (key rotation waiting)" }
                    );
                }
            }
        }
    }
    Ok(())
}
