//! Sources from the command line: `source add|list|remove`, `sync`, `push`,
//! `changes` (the feed a source must apply, and `--ack`) and `suppression
//! list|remove`. Thin: parse, call the service, print what it did.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{Failure, Global, Progress, Result, open, output};
use crate::model::source::{OnErase, OnMerge, Postgres};
use crate::model::text::{fit, sanitize};
use crate::service::OnInvalid;
use crate::service::feed::{FeedFormat, FeedTo};

#[derive(Subcommand, Debug)]
pub enum SourceAction {
    /// Connect a PostgreSQL table as a source (admin)
    #[command(after_help = "The password comes from PGPASSWORD or ~/.pgpass (PGPASSFILE), never from the URL: \
steward refuses a URL that holds one and stores the definition sealed. The table's columns whose \
names are fields or timestamps (email, first_name, surname, phone, postcode, created_at ...) are read; other \
columns only when mapped by name (--map fax=fax). The connection is not encrypted (no TLS yet): use a Unix \
socket or localhost (an SSH tunnel to a remote database); a remote host needs sslmode=disable in the URL. Example:
  steward source add shop --postgres postgresql://steward@localhost:5433/shop --table customers \\
      --id customer_id --updated-column updated_at --map email=email_address --map given_name=first_name")]
    Add {
        /// A short name for the source (records keep it as their provenance)
        name: String,
        /// Connection URL without a password: postgresql://USER@HOST:PORT/DB (or ?host=/socket/dir)
        #[arg(long, value_name = "URL")]
        postgres: String,
        /// The table (or SCHEMA.TABLE)
        #[arg(long, value_name = "TABLE")]
        table: String,
        /// The primary-key column: the source id
        #[arg(long = "id", value_name = "COL", default_value = "id")]
        id_column: String,
        /// FIELD=COLUMN, repeatable: read COLUMN as FIELD, besides the columns named like fields (fields:
        /// given_name, family_name, email, phone, address_1, locality, postcode, country, date_of_birth, ...;
        /// any other name is kept as an extra field)
        #[arg(long, value_name = "FIELD=COLUMN")]
        map: Vec<String>,
        /// A column that changes with every row update: later syncs read only rows changed since
        #[arg(long, value_name = "COL")]
        updated_column: Option<String>,
        /// What a push does with an erased customer's row
        #[arg(long, value_enum, default_value_t = OnErase::Delete)]
        on_erase: OnErase,
        /// A push repoints merged-away rows (sets COL to the survivor's id) instead of deleting them
        #[arg(long, value_name = "COL")]
        repoint_column: Option<String>,
        #[arg(long, value_name = "TEXT", default_value = "")]
        reason: String,
    },
    /// Every source: kind, last sync, rows read, pending changes, rows suppressed
    List {
        #[arg(long)]
        json: bool,
    },
    /// Forget a database source's definition (admin; its records and pending changes stay)
    Remove {
        name: String,
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum SuppressionAction {
    /// Every entry: id, when, receipt, sources (the hashes are never shown; admin)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove an entry: the customer came back and consented again (admin)
    Remove {
        /// The entry id (`sup-…`, from `suppression list`)
        id: String,
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
}

/// Where `changes` writes.
#[derive(Args, Debug)]
pub struct ChangesOut {
    /// Encrypt to a public key (repeatable); the file is --output
    #[arg(short, long, value_name = "PUBKEY")]
    recipient: Vec<String>,
    /// ASCII-armored output
    #[arg(short, long, requires = "recipient")]
    armor: bool,
    /// With --recipient: the encrypted file (must not exist); without: `-` prints to standard output
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

fn parse_map(map: &[String]) -> Result<Vec<(String, String)>> {
    map.iter()
        .map(|m| {
            let (f, c) =
                m.split_once('=').ok_or_else(|| Failure(format!("--map {}: expected FIELD=COLUMN", sanitize(m))))?;
            let (f, c) = (f.trim(), c.trim());
            if f.is_empty() || c.is_empty() {
                return Err(Failure(format!("--map {}: expected FIELD=COLUMN", sanitize(m))));
            }
            Ok((f.to_owned(), c.to_owned()))
        })
        .collect()
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(|| "never".to_owned(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

pub(super) fn source(g: &Global, action: SourceAction) -> Result<()> {
    let svc = open(g)?;
    match action {
        SourceAction::Add {
            name,
            postgres,
            table,
            id_column,
            map,
            updated_column,
            on_erase,
            repoint_column,
            reason,
        } => {
            let s = svc.source_add(
                &name,
                Postgres {
                    url: postgres,
                    table,
                    id_column,
                    map: parse_map(&map)?,
                    updated_column,
                    on_erase,
                    on_merge: repoint_column.map_or(OnMerge::Delete, OnMerge::Repoint),
                    identity: None,
                },
                &reason,
            )?;
            let pg = s.postgres.as_ref().ok_or_else(|| Failure("the source was not defined".into()))?;
            let map: Vec<String> = pg.map.iter().map(|(f, c)| format!("{f}={c}")).collect();
            println!("source {} defined: table {}, id column {}", fit(&s.name, 40), pg.table, pg.id_column);
            println!("  fields: {}", map.join(", "));
            println!(
                "  syncs: {}",
                match &pg.updated_column {
                    Some(c) => format!("incremental on {c}"),
                    None => "whole table each time (no --updated-column)".into(),
                }
            );
            println!("next: `steward sync {}`", fit(&s.name, 40));
        }
        SourceAction::List { json } => {
            let sources = svc.source_overview()?;
            if sources.is_empty() && !json {
                println!("no source yet: import a file or `steward source add`");
            }
            for s in sources {
                if json {
                    println!("{}", output::json(&s)?);
                } else {
                    println!(
                        "{:<16} {:<8} last sync {:<20} {:>8} rows  {:>6} pending  {:>6} suppressed  last applied {}",
                        fit(&sanitize(&s.name), 16),
                        s.kind,
                        when(s.last_sync),
                        s.rows,
                        s.pending,
                        s.suppressed,
                        when(s.last_push)
                    );
                }
            }
        }
        SourceAction::Remove { name, reason } => {
            svc.source_remove(&name, &reason)?;
            println!("source {} forgotten; its records and pending changes stay", fit(&sanitize(&name), 40));
        }
    }
    Ok(())
}

pub(super) fn sync(g: &Global, name: &str, skip_invalid: bool, full: bool, dry_run: bool, json: bool) -> Result<()> {
    let svc = open(g)?;
    let progress = Progress::new(0, "rows");
    let on_invalid = if skip_invalid { OnInvalid::Skip } else { OnInvalid::Refuse };
    let r = svc.sync(name, on_invalid, full, dry_run, &|n| progress.set("writing", n as u64));
    progress.bar.finish_and_clear();
    let r = match r {
        Err(crate::service::ServiceError::ImportRejected(errors)) => {
            for e in errors.iter().take(20) {
                eprintln!("{}", sanitize(&e.reason));
            }
            return Err(Failure(format!(
                "sync refused: {} invalid row(s); nothing was written (--skip-invalid takes the valid ones)",
                errors.len()
            )));
        }
        r => r?,
    };
    if json {
        println!("{}", output::json(&r)?);
        return Ok(());
    }
    let i = &r.import;
    println!(
        "{}{} row(s) read from {} ({}): {} new, {} updated, {} unchanged, {} rejected",
        if dry_run { "dry run: " } else { "" },
        r.read,
        fit(&sanitize(&r.source), 40),
        if r.incremental { "changed since the last sync" } else { "whole table" },
        i.inserted,
        i.updated,
        i.unchanged,
        i.rejected
    );
    left_out(i);
    Ok(())
}

/// The rows an import or a sync left out, and why.
pub(super) fn left_out(i: &crate::service::ImportReport) {
    if i.conflicts > 0 {
        println!(
            "{} value(s) changed in the source since a rectification not yet passed on: steward's value is kept; \
             `steward changes` lists them (push them, or --ack --only to take the source's)",
            i.conflicts
        );
    }
    if i.suppressed > 0 {
        println!("{} row(s) suppressed: erased earlier (not stored)", i.suppressed);
        if !i.suppressed_ids.is_empty() {
            let ids: Vec<String> = i.suppressed_ids.iter().map(|s| fit(&sanitize(s), 40)).collect();
            let more = i.suppressed - i.suppressed_ids.len();
            println!(
                "  source ids: {}{}",
                ids.join(", "),
                if more > 0 { format!(" and {more} more") } else { String::new() }
            );
        }
    }
    if i.merged_away > 0 {
        println!(
            "{} row(s) of merged-away records left out: the source has not applied the merge yet (`steward changes`)",
            i.merged_away
        );
    }
}

pub(super) fn push(g: &Global, name: &str, batch: usize, dry_run: bool, json: bool) -> Result<()> {
    let svc = open(g)?;
    let progress = Progress::new(0, "changes");
    let r = svc.push(name, batch, dry_run, &|n, total| {
        progress.bar.set_length(total as u64);
        progress.set("applying", n as u64);
    });
    progress.bar.finish_and_clear();
    let r = r?;
    if json {
        println!("{}", output::json(&r)?);
    } else if r.done == 0 && r.refused.is_empty() && r.stopped.is_none() && r.not_mapped == 0 {
        println!("nothing to push: {} has no pending change", fit(&sanitize(name), 40));
    } else {
        let applied: Vec<String> = r.applied.iter().map(|(k, n)| format!("{n} {k}")).collect();
        println!(
            "{}{}: {} ({} found applied already, {} about fields the table does not hold) in {} transaction(s)",
            if dry_run { "dry run (rolled back): " } else { "" },
            fit(&sanitize(name), 40),
            if applied.is_empty() { "nothing applied".to_owned() } else { applied.join(", ") },
            r.already,
            r.not_mapped,
            r.batches
        );
        for f in &r.refused {
            println!("  change {} ({}) refused, kept pending: {}", f.seq, f.op, f.why);
        }
        if let Some(why) = &r.stopped {
            println!("stopped: {why}; the remaining changes stay pending");
        }
        println!("{} change(s) pending", r.pending);
    }
    if r.stopped.is_some() {
        return Err(Failure("the push did not finish".into()));
    }
    if !r.refused.is_empty() && !r.dry_run {
        return Err(Failure(format!(
            "{} change(s) refused and kept pending: check them in the source, then push again or `steward changes \
             {} --ack N --only`",
            r.refused.len(),
            fit(&sanitize(name), 40)
        )));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(super) fn changes(
    g: &Global,
    source: &str,
    since: u64,
    csv: bool,
    out: &ChangesOut,
    ack: Option<(u64, bool)>,
    reason: &str,
    json: bool,
) -> Result<()> {
    let svc = open(g)?;
    let sources = svc.sources()?;
    if !sources.iter().any(|s| s.name == source) {
        let known: Vec<String> = sources.iter().map(|s| sanitize(&s.name)).collect();
        return Err(Failure(format!(
            "no source {} (known: {})",
            fit(&sanitize(source), 40),
            if known.is_empty() { "none yet".to_owned() } else { known.join(", ") }
        )));
    }
    if let Some((n, only)) = ack {
        let done = svc.ack(source, n, only, reason)?;
        let which = if only { format!("number {n}") } else { format!("up to number {n}") };
        println!("{done} change(s) of {} marked applied ({which})", fit(&sanitize(source), 40));
        return Ok(());
    }
    let format = if csv { FeedFormat::Csv } else { FeedFormat::Jsonl };
    let report = if !out.recipient.is_empty() {
        let file = out
            .output
            .as_ref()
            .filter(|p| p.as_os_str() != "-")
            .ok_or_else(|| Failure("--recipient needs --output FILE".into()))?;
        let target = crate::service::export::Target::Recipients(out.recipient.clone());
        let r = svc.write_changes(
            source,
            since,
            format,
            FeedTo::Encrypted { target: &target, armor: out.armor, out: file },
        )?;
        if json {
            println!("{}", output::json(&r)?);
        } else {
            println!(
                "{} change(s) of {} written to {} ({} bytes, encrypted; audit entry {})",
                r.changes,
                fit(&sanitize(source), 40),
                file.display(),
                r.bytes,
                r.audit_entry
            );
        }
        r
    } else {
        match out.output.as_deref() {
            Some(p) if p.as_os_str() == "-" => {}
            Some(_) => {
                return Err(Failure(
                    "the changes hold personal data: write them encrypted (--recipient PUBKEY --output FILE) or print \
                     them with --output -"
                        .into(),
                ));
            }
            None => {
                let pending = svc.changes(source, since)?;
                println!(
                    "{} pending change(s) of {}{}: print them with --output - or encrypt them with --recipient",
                    pending.len(),
                    fit(&sanitize(source), 40),
                    pending
                        .first()
                        .map(|p| format!(" (numbers {}–{})", p.seq, pending.last().map_or(p.seq, |l| l.seq)))
                        .unwrap_or_default()
                );
                return Ok(());
            }
        }
        let mut stdout = std::io::stdout().lock();
        svc.write_changes(source, since, format, FeedTo::Plain(&mut stdout))?
    };
    if report.changes > 0 {
        eprintln!(
            "after the source applied them: steward changes {} --ack {}",
            fit(&sanitize(source), 40),
            report.last.unwrap_or(0)
        );
    }
    Ok(())
}

pub(super) fn suppression(g: &Global, action: SuppressionAction) -> Result<()> {
    let svc = open(g)?;
    match action {
        SuppressionAction::List { json } => {
            let list = svc.suppression_list()?;
            if list.is_empty() && !json {
                println!("the suppression list is empty: nobody has been erased");
            }
            for e in list {
                if json {
                    #[derive(serde::Serialize)]
                    struct Line<'a> {
                        id: &'a str,
                        at: chrono::DateTime<chrono::Utc>,
                        by: &'a str,
                        receipt: Option<&'a str>,
                        sources: &'a [String],
                        source_ids: usize,
                        emails: usize,
                        phones: usize,
                        names: usize,
                    }
                    println!(
                        "{}",
                        output::json(&Line {
                            id: &e.id,
                            at: e.at,
                            by: &e.by,
                            receipt: e.receipt.as_deref(),
                            sources: &e.sources,
                            source_ids: e.source_ids.len(),
                            emails: e.emails.len(),
                            phones: e.phones.len(),
                            names: e.names.len(),
                        })?
                    );
                } else {
                    let keeps = [
                        format!("{} source id(s)", e.source_ids.len()),
                        format!("{} email(s)", e.emails.len()),
                        format!("{} phone(s)", e.phones.len()),
                        format!("{} name key(s)", e.names.len()),
                    ];
                    println!(
                        "{}  {}  {}  sources {}  hashes of: {}",
                        e.id,
                        e.at.format("%Y-%m-%d %H:%M UTC"),
                        e.receipt.as_deref().unwrap_or("-"),
                        e.sources.iter().map(|s| sanitize(s)).collect::<Vec<_>>().join(","),
                        keeps.join(", ")
                    );
                }
            }
        }
        SuppressionAction::Remove { id, reason } => {
            svc.suppression_remove(&id, &reason)?;
            println!("entry {} removed: the next import takes this customer's rows again", fit(&sanitize(&id), 40));
        }
    }
    Ok(())
}
