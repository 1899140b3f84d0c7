//! Request intake from files: a web form's CSV export or a ticket system's
//! JSON Lines. Columns are matched by name (with the usual aliases), types
//! by what forms call them (`deletion`, `DSAR`, `do not sell`). Every row is
//! checked; errors name the line and the column, never the value (it may be
//! personal data).

use std::io::Read;

use chrono::NaiveDate;

use super::RowError;
use crate::model::request::{NewRequest, RequestKind, Requester};

/// Longest value kept from any column.
const MAX_VALUE: usize = 200;
/// Largest intake file read.
pub const MAX_BYTES: u64 = 16 << 20;

/// The format of an intake file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

impl Format {
    /// From the file name, or from the first byte (`{` is JSON Lines).
    pub fn detect(name: &str, head: &[u8]) -> Format {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") || lower.ends_with(".json") {
            return Format::JsonLines;
        }
        if lower.ends_with(".csv") {
            return Format::Csv;
        }
        match head.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Format::JsonLines,
            _ => Format::Csv,
        }
    }
}

/// Which field a column name means.
fn column(name: &str) -> Option<&'static str> {
    let n = name.trim().trim_start_matches('\u{feff}').to_ascii_lowercase().replace([' ', '-'], "_");
    Some(match n.as_str() {
        "ref" | "reference" | "ticket" | "ticket_id" | "request_id" | "id" => "ref",
        "type" | "kind" | "request_type" | "request" => "type",
        "jurisdiction" | "law" | "regime" => "jurisdiction",
        "received" | "received_at" | "received_on" | "date" | "submitted" | "submitted_at" | "created"
        | "created_at" => "received",
        "channel" | "via" | "source" => "channel",
        "name" | "full_name" | "requester" | "requester_name" => "name",
        "email" | "e_mail" | "email_address" | "requester_email" => "email",
        "phone" | "telephone" | "phone_number" | "requester_phone" => "phone",
        "customer_number" | "customer_no" | "customer_id" | "account" | "account_number" | "member_number" => {
            "customer_number"
        }
        "date_of_birth" | "dob" | "birth_date" | "birthdate" | "birthday" => "date_of_birth",
        "postcode" | "zip" | "zip_code" | "postal_code" | "post_code" => "postcode",
        "address" | "street" | "street_address" | "address_1" | "address_line_1" => "address",
        _ => return None,
    })
}

/// A date as forms write it: `YYYY-MM-DD`, or an RFC 3339 time (its date).
fn date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .or_else(|| chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.date_naive()))
        .or_else(|| s.get(..10).and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()))
}

/// One row's fields (by canonical name) to a request, or what is wrong.
fn row(line: u64, get: &dyn Fn(&str) -> Option<String>) -> Result<NewRequest, RowError> {
    let err = |reason: String| RowError { line, reason };
    let value = |k: &str| {
        get(k)
            .map(|v| v.trim().chars().filter(|c| !c.is_control()).take(MAX_VALUE).collect::<String>())
            .filter(|v| !v.is_empty())
    };
    let kind = value("type").ok_or_else(|| err("no request type".into()))?;
    let kind = RequestKind::parse(&kind).ok_or_else(|| {
        err("unknown request type (erasure, access, portability, rectification, restriction, objection)".into())
    })?;
    let jurisdiction = match value("jurisdiction").map(|j| j.to_ascii_lowercase()) {
        None => return Err(err("no jurisdiction".into())),
        Some(j) if j == "gdpr" || j == "uk gdpr" || j == "uk-gdpr" => "gdpr".to_owned(),
        Some(j) if j == "ccpa" || j == "cpra" || j == "ccpa/cpra" => "ccpa".to_owned(),
        Some(_) => return Err(err("unknown jurisdiction (gdpr, ccpa)".into())),
    };
    let received = value("received").ok_or_else(|| err("no received date".into()))?;
    let received = date(&received).ok_or_else(|| err("received is not a date (YYYY-MM-DD)".into()))?;
    let requester = Requester {
        name: value("name"),
        email: value("email"),
        phone: value("phone"),
        customer_number: value("customer_number"),
        date_of_birth: value("date_of_birth"),
        postcode: value("postcode"),
        address: value("address"),
    };
    if requester.is_empty() {
        return Err(err("nothing to find the requester by (name, email, phone, customer number ...)".into()));
    }
    if requester.date_of_birth.as_deref().is_some_and(|d| crate::model::DateParts::parse(d).is_none()) {
        return Err(err("date_of_birth is not a date (YYYY-MM-DD)".into()));
    }
    Ok(NewRequest {
        reference: value("ref"),
        kind,
        jurisdiction,
        received,
        channel: value("channel").unwrap_or_else(|| "import".into()),
        requester,
    })
}

/// Every row of an intake file: the requests, and the rows that are not.
pub fn parse(input: impl Read, format: Format) -> (Vec<(u64, NewRequest)>, Vec<RowError>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    match format {
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(input);
            let columns: Vec<Option<&'static str>> = match reader.headers() {
                Ok(h) => h.iter().map(column).collect(),
                Err(_) => {
                    bad.push(RowError { line: 1, reason: "unreadable header".into() });
                    return (ok, bad);
                }
            };
            if !columns.contains(&Some("type")) {
                bad.push(RowError { line: 1, reason: "no `type` column".into() });
                return (ok, bad);
            }
            for (i, rec) in reader.records().enumerate() {
                let line = rec.as_ref().ok().and_then(|r| r.position()).map_or(i as u64 + 2, |p| p.line());
                let Ok(rec) = rec else {
                    bad.push(RowError { line, reason: "unreadable row".into() });
                    continue;
                };
                let get =
                    |k: &str| columns.iter().position(|c| *c == Some(k)).and_then(|i| rec.get(i)).map(str::to_owned);
                match row(line, &get) {
                    Ok(r) => ok.push((line, r)),
                    Err(e) => bad.push(e),
                }
            }
        }
        Format::JsonLines => {
            let mut text = String::new();
            if input.take(MAX_BYTES).read_to_string(&mut text).is_err() {
                bad.push(RowError { line: 0, reason: "the file is not UTF-8 text".into() });
                return (ok, bad);
            }
            for (i, l) in text.lines().enumerate() {
                let line = i as u64 + 1;
                if l.trim().is_empty() {
                    continue;
                }
                let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(l) else {
                    bad.push(RowError { line, reason: "not a JSON object".into() });
                    continue;
                };
                let get = |k: &str| {
                    map.iter().find(|(name, _)| column(name) == Some(k)).and_then(|(_, v)| match v {
                        serde_json::Value::String(s) => Some(s.clone()),
                        serde_json::Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                };
                match row(line, &get) {
                    Ok(r) => ok.push((line, r)),
                    Err(e) => bad.push(e),
                }
            }
        }
    }
    (ok, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_from_a_web_form() {
        let csv = "Ticket ID,Request Type,Law,Submitted At,Full Name,Email\n\
                   T-1,Deletion,GDPR,2026-03-31T09:15:00Z,Ann Lee,ann@example.com\n\
                   T-2,DSAR,CPRA,2026-11-01,,bob@example.com\n\
                   T-3,Complaint,GDPR,2026-11-01,Cy,\n\
                   T-4,access,GDPR,yesterday,Di,\n\
                   T-5,access,GDPR,2026-11-02,,\n";
        let (ok, bad) = parse(csv.as_bytes(), Format::Csv);
        assert_eq!(ok.len(), 2, "{bad:?}");
        let (line, first) = &ok[0];
        assert_eq!(*line, 2);
        assert_eq!(first.reference.as_deref(), Some("T-1"));
        assert_eq!(first.kind, RequestKind::Erasure);
        assert_eq!(first.received, NaiveDate::from_ymd_opt(2026, 3, 31).expect("date"));
        assert_eq!(first.requester.name.as_deref(), Some("Ann Lee"));
        assert_eq!(ok[1].1.kind, RequestKind::Access);
        assert_eq!(ok[1].1.jurisdiction, "ccpa");
        let lines: Vec<u64> = bad.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![4, 5, 6]);
        for e in &bad {
            assert!(!e.reason.contains("Complaint") && !e.reason.contains("yesterday"), "values echoed: {e}");
        }
    }

    #[test]
    fn json_lines_from_a_ticket_export() {
        let jsonl = "{\"reference\":\"Z-9\",\"type\":\"opt-out\",\"jurisdiction\":\"ccpa\",\"received\":\"2026-11-01\",\"phone\":\"+1 415 555 0100\"}\n\
                     \n\
                     [1,2]\n";
        let (ok, bad) = parse(jsonl.as_bytes(), Format::JsonLines);
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].1.kind, RequestKind::Objection);
        assert_eq!(ok[0].1.requester.phone.as_deref(), Some("+1 415 555 0100"));
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 3);
    }

    #[test]
    fn format_from_name_or_content() {
        assert_eq!(Format::detect("x.jsonl", b""), Format::JsonLines);
        assert_eq!(Format::detect("x.csv", b"{"), Format::Csv);
        assert_eq!(Format::detect("export", b"  {\"a\":1}"), Format::JsonLines);
        assert_eq!(Format::detect("export", b"type,email"), Format::Csv);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Arbitrary bytes, as CSV or JSON Lines, never panic; every row is
        /// a request or an error, and no error quotes a value.
        #[test]
        fn arbitrary_input_never_panics_or_echoes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            for format in [Format::Csv, Format::JsonLines] {
                let (ok, bad) = parse(&bytes[..], format);
                for (_, r) in &ok {
                    prop_assert!(!r.requester.is_empty());
                }
                for e in &bad {
                    prop_assert!(e.reason.is_ascii(), "reasons are our own words: {}", e.reason);
                }
            }
        }

        /// A row written by the csv writer comes back with its values (trimmed, bounded).
        #[test]
        fn csv_rows_round_trip(name in "[ a-zA-Z,\"'é.-]{1,30}", email in "[a-z0-9.]{1,10}@[a-z]{1,8}\\.org") {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(["type", "jurisdiction", "received", "name", "email"]).expect("header");
            w.write_record(["erasure", "gdpr", "2026-03-31", name.as_str(), email.as_str()]).expect("row");
            let bytes = w.into_inner().expect("bytes");
            let (ok, bad) = parse(&bytes[..], Format::Csv);
            let trimmed = name.trim();
            if trimmed.is_empty() {
                prop_assert_eq!(ok[0].1.requester.name.clone(), None);
            } else {
                prop_assert!(bad.is_empty());
                prop_assert_eq!(ok[0].1.requester.name.clone(), Some(trimmed.to_owned()));
            }
            prop_assert_eq!(ok[0].1.requester.email.clone(), Some(email));
        }
    }
}
