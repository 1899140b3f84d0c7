//! Human and JSON renderings of records and counts for the CLI. Text output
//! is sanitised (customer data may hold terminal escapes); JSON escapes
//! control characters by itself.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use crate::findings::pii::mask_cards;
use crate::findings::{Kind, Report};
use crate::model::text::{inert_json, sanitize};
use crate::model::{Field, Identified, Record};
use crate::service::Stats;

/// The stable JSON shape of a record (`list --json`, `show --json`).
#[derive(Serialize)]
pub struct RecordJson<'a> {
    pub id: String,
    pub source: &'a str,
    pub source_id: &'a str,
    pub given_name: Option<&'a str>,
    pub family_name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub street_number: Option<&'a str>,
    pub address_1: Option<&'a str>,
    pub address_2: Option<&'a str>,
    pub locality: Option<&'a str>,
    pub region: Option<&'a str>,
    pub postcode: Option<&'a str>,
    pub country: Option<&'a str>,
    pub date_of_birth: Option<String>,
    /// Extra fields; card numbers in them are masked (first 6, last 4).
    pub extra: BTreeMap<String, String>,
    pub created: String,
    pub updated: String,
    pub last_verified: Option<String>,
    pub last_activity: Option<String>,
    pub collected_at: String,
}

impl<'a> From<&'a Record> for RecordJson<'a> {
    fn from(r: &'a Record) -> Self {
        let a = &r.address;
        RecordJson {
            id: r.id.to_string(),
            source: &r.provenance.source,
            source_id: &r.source_id,
            given_name: r.given_name.as_deref(),
            family_name: r.family_name.as_deref(),
            email: r.email.as_deref(),
            phone: r.phone.as_deref(),
            street_number: a.street_number.as_deref(),
            address_1: a.line1.as_deref(),
            address_2: a.line2.as_deref(),
            locality: a.locality.as_deref(),
            region: a.region.as_deref(),
            postcode: a.postcode.as_deref(),
            country: a.country.as_deref(),
            date_of_birth: r.date_of_birth.map(|d| d.to_string()),
            extra: r.extra.iter().map(|(k, v)| (k.clone(), mask_cards(v).into_owned())).collect(),
            created: r.times.created.to_rfc3339(),
            updated: r.times.updated.to_rfc3339(),
            last_verified: r.times.last_verified.map(|t| t.to_rfc3339()),
            last_activity: r.times.last_activity.map(|t| t.to_rfc3339()),
            collected_at: r.provenance.collected_at.to_rfc3339(),
        }
    }
}

/// One line per record for `list`.
pub fn record_line(r: &Record) -> String {
    format!(
        "{}  {}  {}  {}",
        r.id,
        sanitize(&r.source_id),
        sanitize(&r.display_name()),
        sanitize(r.email.as_deref().unwrap_or(""))
    )
}

pub fn print_record(r: &Record) {
    println!("{:<15} {}", "id", r.id);
    println!("{:<15} {} · {}", "source", sanitize(&r.provenance.source), sanitize(&r.source_id));
    for f in Field::ALL {
        if let Some(v) = r.get(f) {
            println!("{:<15} {}", f.name(), sanitize(&v));
        }
    }
    for (k, v) in &r.extra {
        println!("{:<15} {}", sanitize(k), sanitize(&mask_cards(v)));
    }
    println!("{:<15} {}", "created", r.times.created.to_rfc3339());
    println!("{:<15} {}", "updated", r.times.updated.to_rfc3339());
    if let Some(t) = r.times.last_verified {
        println!("{:<15} {}", "last_verified", t.to_rfc3339());
    }
    if let Some(t) = r.times.last_activity {
        println!("{:<15} {}", "last_activity", t.to_rfc3339());
    }
}

pub fn print_stats(c: &crate::service::Counts, s: Option<&Stats>) {
    println!("records          {}", c.records);
    println!("key generation   {}", c.key_generation);
    println!("size on disk     {:.1} MB", c.size_on_disk as f64 / 1e6);
    let Some(s) = s else {
        println!("(per field, source and country: `steward stats --fields`, which decrypts every record)");
        return;
    };
    println!("with email       {}", s.with_email);
    println!("with phone       {}", s.with_phone);
    println!("with birth date  {}", s.with_date_of_birth);
    println!("with extras      {}", s.with_extra_fields);
    for (k, v) in &s.sources {
        println!("source {:<10} {}", sanitize(k), v);
    }
    for (k, v) in &s.countries {
        println!("country {:<9} {}", sanitize(k), v);
    }
}

/// One finding as JSON.
fn finding_json<R: Identified>(records: &[R], f: &crate::findings::Finding) -> serde_json::Value {
    let recs: Vec<serde_json::Value> = f
        .records
        .iter()
        .filter_map(|&i| records.get(i as usize))
        .map(|r| serde_json::json!({"id": r.id().to_string(), "source_id": r.source_id()}))
        .collect();
    serde_json::json!({
        "kind": f.kind,
        "records": recs,
        "field": f.field,
        "category": f.category,
        "score": f.score,
        "severity": f.severity,
        "reasons": f.reasons,
        "cluster": f.cluster,
        "explanation": f.explanation,
    })
}

/// The scan as one JSON object, written a finding at a time (memory stays
/// flat however many findings there are): the summary first, then
/// `"findings"`, one per line.
pub fn write_scan_json<R: Identified>(
    out: &mut dyn Write,
    records: &[R],
    report: &Report,
    kind: Option<Kind>,
) -> std::io::Result<()> {
    let summary: serde_json::Map<String, serde_json::Value> =
        report.summary().into_iter().map(|(k, n)| (k.name().to_owned(), n.into())).collect();
    let head = [
        ("summary", serde_json::Value::Object(summary)),
        ("records", records.len().into()),
        ("quality", serde_json::json!(report.quality())),
        ("duplicates", serde_json::json!(report.duplicates)),
        ("policy", (if report.policy_is_default { "default" } else { "imported" }).into()),
    ];
    writeln!(out, "{{")?;
    for (k, v) in head {
        writeln!(out, "  \"{k}\": {},", json(&v).map_err(std::io::Error::other)?)?;
    }
    write!(out, "  \"findings\": [")?;
    let mut first = true;
    for f in report.findings.iter().filter(|f| kind.is_none_or(|k| f.kind == k)) {
        let line = json(&finding_json(records, f)).map_err(std::io::Error::other)?;
        write!(out, "{}\n    {line}", if first { "" } else { "," })?;
        first = false;
    }
    writeln!(out, "{}]\n}}", if first { "" } else { "\n  " })?;
    out.flush()
}

/// Findings as text: a summary, then one line per finding.
pub fn print_scan<R: Identified>(
    out: &mut dyn Write,
    records: &[R],
    report: &Report,
    kind: Option<Kind>,
) -> std::io::Result<()> {
    if report.policy_is_default {
        writeln!(out, "(no policy imported: using the built-in default; see `steward policy import`)")?;
    }
    writeln!(out, "{} records, data quality {:.1}/100", records.len(), report.quality())?;
    for (k, n) in report.summary() {
        writeln!(out, "  {:<14} {n}", k.name())?;
    }
    for f in report.findings.iter().filter(|f| kind.is_none_or(|k| f.kind == k)) {
        let ids: Vec<String> =
            f.records.iter().filter_map(|&i| records.get(i as usize)).map(|r| sanitize(r.source_id())).collect();
        let mut line = format!("{:<14} {}", f.kind.name(), ids.join(","));
        if let Some(field) = &f.field {
            line.push_str(&format!(" [{}]", sanitize(field)));
        }
        if let Some(s) = f.score {
            line.push_str(&format!(" score {s:.3}"));
        }
        if let Some(r) = f.reasons.first() {
            line.push_str(&format!(" — {}", sanitize(r)));
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// One value as compact JSON, inert for a terminal (see
/// [`inert_json`]): what every `--json` line prints.
pub fn json<T: Serialize + ?Sized>(v: &T) -> serde_json::Result<String> {
    serde_json::to_string(v).map(inert_json)
}

/// One value as indented JSON, inert for a terminal.
pub fn json_pretty<T: Serialize + ?Sized>(v: &T) -> serde_json::Result<String> {
    serde_json::to_string_pretty(v).map(inert_json)
}
