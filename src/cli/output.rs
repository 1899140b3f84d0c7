//! Human and JSON renderings of records and counts for the CLI. Text output
//! is sanitised (customer data may hold terminal escapes); JSON escapes
//! control characters by itself.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::text::sanitize;
use crate::model::{Field, Record};
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
    pub extra: &'a BTreeMap<String, String>,
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
            extra: &r.extra,
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
        println!("{:<15} {}", sanitize(k), sanitize(v));
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

pub fn print_stats(s: &Stats) {
    println!("records          {}", s.records);
    println!("with email       {}", s.with_email);
    println!("with phone       {}", s.with_phone);
    println!("with birth date  {}", s.with_date_of_birth);
    println!("with extras      {}", s.with_extra_fields);
    for (k, v) in &s.sources {
        println!("source {:<10} {}", sanitize(k), v);
    }
}
