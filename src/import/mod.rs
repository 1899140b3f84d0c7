//! Parsing CRM exports (CSV, JSON Lines) into records.
//!
//! Pure: takes bytes, returns records and a list of bad rows. Headers are
//! mapped through a synonym table (`first_name`, `forename` → given name,
//! ...); unknown columns are kept as extra fields. Every problem is reported
//! with its line number and a reason that never quotes the value, because
//! the value is personal data. Depends only on `model`.

pub mod requests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, Read};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::model::{DateParts, Field, MAX_EXTRA_FIELDS, MAX_FIELD_BYTES, Record};

/// Longest source id accepted.
pub const MAX_SOURCE_ID_BYTES: usize = 256;

/// Input format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    /// Guesses from a file name: `.jsonl`/`.ndjson`/`.json` → JSON Lines, else CSV.
    pub fn from_path(path: &std::path::Path) -> Format {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("jsonl" | "ndjson" | "json") => Format::Jsonl,
            _ => Format::Csv,
        }
    }
}

/// What to do with the input.
#[derive(Clone, Debug)]
pub struct Options {
    pub format: Format,
    /// Column holding the source system's id; detected from synonyms if `None`.
    pub id_column: Option<String>,
    /// Name of the source system, recorded as provenance.
    pub source: String,
    /// "Now", for timestamps the file does not give.
    pub now: DateTime<Utc>,
}

/// Where a column's values go.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    SourceId,
    Field(Field),
    /// "Full name": split into given and family name.
    FullName,
    Created,
    Updated,
    LastVerified,
    LastActivity,
    CollectedAt,
    Extra(String),
}

/// A bad row: line number (1-based, the header is line 1 for CSV) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 { write!(f, "{}", self.reason) } else { write!(f, "line {}: {}", self.line, self.reason) }
    }
}

/// A parsed row: the line it started on and its record (with a fresh id,
/// which the importer replaces when the source id is already known).
#[derive(Clone, Debug)]
pub struct Row {
    pub line: u64,
    pub record: Record,
    /// Which timestamps the file gave (the others are "now" placeholders).
    pub given: GivenTimes,
}

/// Which timestamp columns a row actually carried.
#[derive(Clone, Copy, Debug, Default)]
pub struct GivenTimes {
    pub created: bool,
    pub updated: bool,
}

/// Everything parsed from one file.
#[derive(Debug, Default)]
pub struct Parsed {
    pub rows: Vec<Row>,
    pub errors: Vec<RowError>,
    /// Column → target, in file order (CSV) or first-seen order (JSONL).
    pub columns: Vec<(String, Target)>,
    /// The file as a whole is unusable (empty, bad header): nothing can be
    /// imported, whatever `--skip-invalid` says.
    pub unusable: bool,
}

/// Lower-cases and drops everything but letters and digits: `E-Mail` → `email`.
fn normalise_header(h: &str) -> String {
    h.trim_start_matches('\u{feff}').chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Maps a header to its target through the synonym table.
pub fn map_header(h: &str) -> Target {
    let n = normalise_header(h);
    let field = match n.as_str() {
        "givenname" | "firstname" | "forename" | "forenames" | "first" | "fname" | "given" | "christianname" => {
            Field::GivenName
        }
        "surname" | "lastname" | "familyname" | "last" | "lname" | "family" => Field::FamilyName,
        "email" | "emailaddress" | "mail" | "emailaddr" => Field::Email,
        "phone" | "telephone" | "tel" | "mobile" | "phonenumber" | "mobilephone" | "mobilenumber" | "cell"
        | "cellphone" | "telephonenumber" => Field::Phone,
        "streetnumber" | "housenumber" | "streetno" | "houseno" | "number" => Field::StreetNumber,
        "address" | "address1" | "addressline1" | "street" | "streetaddress" | "addr1" => Field::Address1,
        "address2" | "addressline2" | "addr2" => Field::Address2,
        "city" | "town" | "suburb" | "locality" => Field::Locality,
        "state" | "region" | "county" | "province" => Field::Region,
        "postcode" | "zip" | "zipcode" | "postalcode" | "postal" | "plz" => Field::Postcode,
        "country" | "countrycode" => Field::Country,
        "dob" | "dateofbirth" | "birthdate" | "birthday" | "birthdt" => Field::DateOfBirth,
        "name" | "fullname" | "customername" => return Target::FullName,
        "created" | "createdat" | "signupdate" | "signedup" | "registered" | "registeredat" | "signupat" => {
            return Target::Created;
        }
        "updated" | "updatedat" | "modified" | "lastmodified" | "modifiedat" => return Target::Updated,
        "lastverified" | "verifiedat" | "verified" | "lastverifiedat" => return Target::LastVerified,
        "lastactivity" | "lastlogin" | "lastseen" | "lastorder" | "lastactivityat" => return Target::LastActivity,
        "collectedat" | "collected" => return Target::CollectedAt,
        "sourceid" | "customerid" | "custid" | "externalid" | "id" | "recid" | "customerno" | "customernumber" => {
            return Target::SourceId;
        }
        _ => return Target::Extra(extra_name(h)),
    };
    Target::Field(field)
}

/// Canonical name for an extra column: lower snake case of its header.
fn extra_name(h: &str) -> String {
    let mut out = String::new();
    for c in h.trim_start_matches('\u{feff}').trim().chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() { "column".to_owned() } else { out }
}

/// Builds the column map, honouring `--id-column`. Errors are file-level.
fn plan_columns(headers: &[String], id_column: Option<&str>) -> Result<Vec<Target>, RowError> {
    let file_err = |reason: String| RowError { line: 1, reason };
    let mut targets: Vec<Target> = headers.iter().map(|h| map_header(h)).collect();
    if let Some(id) = id_column {
        let want = normalise_header(id);
        let pos = headers
            .iter()
            .position(|h| h.trim() == id.trim())
            .or_else(|| headers.iter().position(|h| normalise_header(h) == want))
            .ok_or_else(|| file_err(format!("no column `{id}` for --id-column (columns: {})", headers.join(", "))))?;
        for (i, t) in targets.iter_mut().enumerate() {
            if *t == Target::SourceId && i != pos {
                *t = Target::Extra(extra_name(&headers[i]));
            }
        }
        targets[pos] = Target::SourceId;
    }
    let ids = targets.iter().filter(|t| **t == Target::SourceId).count();
    if ids == 0 {
        return Err(file_err(format!(
            "no source id column found; name it with --id-column (columns: {})",
            headers.join(", ")
        )));
    }
    if ids > 1 {
        return Err(file_err("several columns look like the source id; pick one with --id-column".into()));
    }
    let mut seen: HashMap<&Target, usize> = HashMap::new();
    for (i, t) in targets.iter().enumerate() {
        if let Some(prev) = seen.insert(t, i) {
            return Err(file_err(format!(
                "columns `{}` and `{}` both map to the same field; rename one",
                headers[prev].trim(),
                headers[i].trim()
            )));
        }
    }
    let extras = targets.iter().filter(|t| matches!(t, Target::Extra(_))).count();
    if extras > MAX_EXTRA_FIELDS {
        return Err(file_err(format!("{extras} unknown columns; at most {MAX_EXTRA_FIELDS} are kept")));
    }
    Ok(targets)
}

/// Parses a timestamp: RFC 3339, `YYYY-MM-DD HH:MM[:SS]`, `YYYY-MM-DD` or `YYYYMMDD`.
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    let d: NaiveDate = DateParts::parse(s)?.to_date()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc())
}

/// [`parse_timestamp`] cut to whole seconds, the store's resolution.
fn parse_timestamp_s(s: &str) -> Option<DateTime<Utc>> {
    parse_timestamp(s).map(crate::model::to_seconds)
}

/// Builds one record from (target, value) pairs; `Err` holds every reason.
fn build_record<'a>(
    cells: impl Iterator<Item = (&'a Target, &'a str)>,
    opts: &Options,
) -> Result<(Record, GivenTimes), Vec<String>> {
    let mut r = Record::new(&opts.source, "", opts.now);
    let mut reasons = Vec::new();
    let mut given = GivenTimes::default();
    let mut collected = None;
    for (target, raw) in cells {
        let v = raw.trim();
        if v.is_empty() {
            continue;
        }
        let name = || match target {
            Target::Field(f) => f.name().to_owned(),
            Target::Extra(n) => n.clone(),
            other => format!("{other:?}").to_lowercase(),
        };
        if v.len() > MAX_FIELD_BYTES {
            reasons.push(format!("{} is longer than {MAX_FIELD_BYTES} bytes", name()));
            continue;
        }
        let mut time = |slot: &mut dyn FnMut(DateTime<Utc>)| match parse_timestamp_s(v) {
            Some(t) => slot(t),
            None => reasons.push(format!("{} is not a date or time (expected ISO 8601 or YYYYMMDD)", name())),
        };
        match target {
            Target::SourceId => {
                if v.len() > MAX_SOURCE_ID_BYTES {
                    reasons.push(format!("source id is longer than {MAX_SOURCE_ID_BYTES} bytes"));
                } else {
                    r.source_id = v.to_owned();
                }
            }
            Target::Field(f) => {
                if let Err(e) = r.set(*f, Some(v.to_owned())) {
                    reasons.push(e.to_string());
                }
            }
            Target::FullName => {
                let mut parts: Vec<&str> = v.split_whitespace().collect();
                let family = if parts.len() > 1 { parts.pop() } else { None };
                if r.given_name.is_none() {
                    r.given_name = Some(parts.join(" "));
                }
                if r.family_name.is_none() {
                    r.family_name = family.map(str::to_owned);
                }
            }
            Target::Created => time(&mut |t| {
                r.times.created = t;
                given.created = true;
            }),
            Target::Updated => time(&mut |t| {
                r.times.updated = t;
                given.updated = true;
            }),
            Target::LastVerified => time(&mut |t| r.times.last_verified = Some(t)),
            Target::LastActivity => time(&mut |t| r.times.last_activity = Some(t)),
            Target::CollectedAt => time(&mut |t| collected = Some(t)),
            Target::Extra(n) => {
                r.extra.insert(n.clone(), v.to_owned());
            }
        }
    }
    if given.created && !given.updated {
        r.times.updated = r.times.created;
    }
    r.provenance.collected_at = collected.unwrap_or(r.times.created);
    if r.source_id.is_empty() {
        reasons.push("source id is empty".into());
    }
    // A row without a name, email or phone is still personal data the
    // business holds (an address, a birth date, an id): it is imported and
    // the scan flags it as `incomplete`. Only a row with nothing but its id
    // is refused.
    let holds_data =
        Field::ALL.iter().any(|f| r.get(*f).is_some()) || r.extra.iter().any(|(_, v)| !v.trim().is_empty());
    if !holds_data {
        reasons.push("the row holds nothing but its id".into());
    }
    if reasons.is_empty() { Ok((r, given)) } else { Err(reasons) }
}

/// Records a finished row, rejecting source ids seen earlier in the file.
fn push_row(
    out: &mut Parsed,
    seen: &mut HashMap<String, u64>,
    line: u64,
    result: Result<(Record, GivenTimes), Vec<String>>,
) {
    match result {
        Ok((record, given)) => {
            if let Some(first) = seen.get(&record.source_id) {
                out.errors.push(RowError { line, reason: format!("source id repeats the one on line {first}") });
            } else {
                seen.insert(record.source_id.clone(), line);
                out.rows.push(Row { line, record, given });
            }
        }
        Err(reasons) => out.errors.push(RowError { line, reason: reasons.join("; ") }),
    }
}

/// Builds rows read from a database table: `columns` are the targets of
/// each value, a row's "line" is its position (1-based), NULL is empty.
/// Validated exactly as a file's rows are.
pub fn from_table(columns: Vec<(String, Target)>, rows: &[Vec<Option<String>>], opts: &Options) -> Parsed {
    use rayon::prelude::*;
    let targets: Vec<Target> = columns.iter().map(|(_, t)| t.clone()).collect();
    let built: Vec<Built> = rows
        .par_iter()
        .map(|row| build_record(targets.iter().zip(row.iter().map(|v| v.as_deref().unwrap_or(""))), opts))
        .collect();
    let mut out = Parsed { columns, ..Parsed::default() };
    let mut seen = HashMap::new();
    for (i, result) in built.into_iter().enumerate() {
        push_row(&mut out, &mut seen, i as u64 + 1, result);
    }
    out
}

/// Parses a whole input. `progress` is called with the bytes consumed so far.
pub fn parse(input: impl Read, opts: &Options, progress: &mut dyn FnMut(u64)) -> Parsed {
    match opts.format {
        Format::Csv => parse_csv(input, opts, progress),
        Format::Jsonl => parse_jsonl(input, opts, progress),
    }
}

/// Passes bytes through, tracking whether an odd number of `"` was seen:
/// at the end of a CSV file that means a quote was never closed (the csv
/// reader itself accepts it silently).
struct QuoteParity<R> {
    inner: R,
    odd: bool,
    /// Byte offsets of line terminators (`\n`, `\r\n` or a lone `\r`: the
    /// offset of its first byte) not yet passed by the records read: the
    /// csv reader's own line count is one short on files with CRLF endings.
    breaks: std::collections::VecDeque<u64>,
    /// Bytes read so far.
    offset: u64,
    /// The last byte read was `\r` (a `\n` after it ends the same line).
    after_cr: bool,
    /// Bytes since the last line break outside quotes (the current row).
    row: usize,
    /// Set when a row grew past [`MAX_ROW_BYTES`]: reading stopped there.
    too_long: bool,
}

/// Longest row read, in bytes: far above any real row (every field at its
/// 4 KiB limit), far below what would exhaust memory — a 2 GB file without a
/// line break, or an unclosed quote near the top, is refused at this point
/// instead of being read whole.
pub const MAX_ROW_BYTES: usize = 1 << 20;

impl<R> QuoteParity<R> {
    fn new(inner: R) -> Self {
        Self { inner, odd: false, breaks: Default::default(), offset: 0, after_cr: false, row: 0, too_long: false }
    }

    /// The physical line (1-based) of the byte at `byte`, given that every
    /// earlier call asked about an earlier byte; `passed` counts the line
    /// breaks already consumed.
    fn line_at(&mut self, byte: u64, passed: &mut u64) -> u64 {
        while self.breaks.front().is_some_and(|b| *b < byte) {
            self.breaks.pop_front();
            *passed += 1;
        }
        *passed + 1
    }
}

impl<R: Read> Read for QuoteParity<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.too_long {
            return Err(std::io::Error::other("row too long"));
        }
        let n = self.inner.read(buf)?;
        for (i, &b) in buf[..n].iter().enumerate() {
            match b {
                b'"' => self.odd = !self.odd,
                b'\r' | b'\n' if !self.odd => self.row = 0,
                _ => {}
            }
            if b == b'\r' || (b == b'\n' && !self.after_cr) {
                self.breaks.push_back(self.offset + i as u64);
            }
            self.after_cr = b == b'\r';
            self.row += 1;
            if self.row > MAX_ROW_BYTES {
                self.too_long = true;
                return Err(std::io::Error::other("row too long"));
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// A built row, or every reason it could not be built.
type Built = Result<(Record, GivenTimes), Vec<String>>;

/// Rows are built in parallel in batches of this many.
const BATCH: usize = 8192;

/// Builds buffered CSV rows in parallel and records them in file order.
fn flush_csv(
    pending: &mut Vec<(u64, csv::ByteRecord)>,
    targets: &[Target],
    opts: &Options,
    out: &mut Parsed,
    seen: &mut HashMap<String, u64>,
) {
    use rayon::prelude::*;
    let built: Vec<(u64, Built)> = pending
        .par_iter()
        .map(|(line, rec)| {
            let fields: Result<Vec<&str>, _> = rec.iter().map(std::str::from_utf8).collect();
            let result = match fields {
                Ok(fields) => build_record(targets.iter().zip(fields.iter().copied()), opts),
                Err(_) => Err(vec!["not valid UTF-8 (convert the file to UTF-8)".to_owned()]),
            };
            (*line, result)
        })
        .collect();
    for (line, result) in built {
        push_row(out, seen, line, result);
    }
    pending.clear();
}

fn parse_csv(input: impl Read, opts: &Options, progress: &mut dyn FnMut(u64)) -> Parsed {
    let mut out = Parsed::default();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(QuoteParity::new(input));
    let mut rec = csv::ByteRecord::new();
    let mut last_line = 0u64;
    let mut headers: Vec<String> = Vec::new();
    let mut targets: Vec<Target> = Vec::new();
    let mut seen = HashMap::new();
    let mut pending: Vec<(u64, csv::ByteRecord)> = Vec::with_capacity(BATCH);
    // Line breaks passed so far (physical lines, counted by QuoteParity).
    let mut passed = 0u64;
    loop {
        let start_byte = rdr.position().byte();
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let byte = e.position().map_or(start_byte, |p| p.byte());
                let line = rdr.get_mut().line_at(byte, &mut passed);
                let reason = if rdr.get_ref().too_long {
                    format!(
                        "a row longer than {} MiB (no line breaks, or an unclosed quote): not read further",
                        MAX_ROW_BYTES >> 20
                    )
                } else {
                    "unreadable CSV (check the quoting)".into()
                };
                out.errors.push(RowError { line, reason });
                out.unusable = true;
                break;
            }
        }
        let byte = rec.position().map_or(start_byte, |p| p.byte());
        let line = rdr.get_mut().line_at(byte, &mut passed);
        last_line = line;
        if headers.is_empty() {
            let Ok(fields) = rec.iter().map(std::str::from_utf8).collect::<Result<Vec<&str>, _>>() else {
                out.errors.push(RowError { line, reason: "not valid UTF-8 (convert the file to UTF-8)".into() });
                out.unusable = true;
                break;
            };
            headers = fields.iter().map(|s| s.to_string()).collect();
            match plan_columns(&headers, opts.id_column.as_deref()) {
                Ok(t) => targets = t,
                Err(e) => {
                    out.errors.push(e);
                    out.unusable = true;
                    return out;
                }
            }
            out.columns = headers.iter().cloned().zip(targets.iter().cloned()).collect();
            continue;
        }
        if rec.len() == 1 && rec[0].is_empty() {
            continue; // blank line
        }
        if rec.len() != headers.len() {
            let hint = if rec.iter().any(|f| f.contains(&b'\n')) { " (an unclosed quote?)" } else { "" };
            out.errors.push(RowError {
                line,
                reason: format!("expected {} fields, found {}{hint}", headers.len(), rec.len()),
            });
            continue;
        }
        pending.push((line, rec.clone()));
        if pending.len() == BATCH {
            progress(rec.position().map(|p| p.byte()).unwrap_or(0));
            flush_csv(&mut pending, &targets, opts, &mut out, &mut seen);
        }
    }
    flush_csv(&mut pending, &targets, opts, &mut out, &mut seen);
    if rdr.get_ref().odd {
        // The last record swallowed the rest of the file into one field.
        out.rows.retain(|r| r.line != last_line);
        out.errors.retain(|e| e.line != last_line);
        out.errors.push(RowError {
            line: last_line,
            reason: "unclosed quote: the rest of the file was read as one field".into(),
        });
    }
    out.errors.sort_by_key(|e| e.line);
    if headers.is_empty() && out.errors.is_empty() {
        out.errors.push(RowError { line: 0, reason: "the file is empty (a header row is needed)".into() });
        out.unusable = true;
    }
    out
}

fn parse_jsonl(input: impl Read, opts: &Options, progress: &mut dyn FnMut(u64)) -> Parsed {
    let mut out = Parsed::default();
    let mut reader = std::io::BufReader::new(input);
    let mut buf = Vec::new();
    let mut line = 0u64;
    let mut bytes = 0u64;
    let mut cache: HashMap<String, Target> = HashMap::new();
    let mut seen_cols: HashSet<String> = HashSet::new();
    let mut seen = HashMap::new();
    if let Some(id) = &opts.id_column {
        cache.insert(id.clone(), Target::SourceId);
    }
    loop {
        buf.clear();
        match reader.by_ref().take(MAX_ROW_BYTES as u64 + 1).read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(n) if n > MAX_ROW_BYTES => {
                out.errors.push(RowError {
                    line: line + 1,
                    reason: format!("a line longer than {} MiB: not read further", MAX_ROW_BYTES >> 20),
                });
                out.unusable = true;
                break;
            }
            Ok(n) => bytes += n as u64,
            Err(_) => {
                out.errors.push(RowError { line: line + 1, reason: "read error".into() });
                out.unusable = true;
                break;
            }
        }
        line += 1;
        if line.is_multiple_of(4096) {
            progress(bytes);
        }
        let Ok(text) = std::str::from_utf8(&buf) else {
            out.errors.push(RowError { line, reason: "not valid UTF-8 (convert the file to UTF-8)".into() });
            continue;
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let obj: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(text) {
            Ok(o) => o,
            Err(_) => {
                out.errors.push(RowError { line, reason: "not a JSON object".into() });
                continue;
            }
        };
        let mut cells: Vec<(Target, String)> = Vec::with_capacity(obj.len());
        let mut bad = Vec::new();
        let mut extras = 0;
        let mut targets_seen = HashSet::new();
        for (k, v) in obj {
            let target = cache
                .entry(k.clone())
                .or_insert_with(|| {
                    let t = map_header(&k);
                    // With an explicit id column, other id-like keys are extra.
                    if opts.id_column.is_some() && t == Target::SourceId { Target::Extra(extra_name(&k)) } else { t }
                })
                .clone();
            if seen_cols.insert(k.clone()) {
                out.columns.push((k.clone(), target.clone()));
            }
            if !targets_seen.insert(target.clone()) {
                bad.push(format!("key `{k}` maps to a field given twice"));
                continue;
            }
            let value = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                other @ (serde_json::Value::Array(_) | serde_json::Value::Object(_)) => {
                    if matches!(target, Target::Extra(_)) {
                        other.to_string()
                    } else {
                        bad.push(format!("key `{k}` holds a list or object, not a value"));
                        continue;
                    }
                }
            };
            if matches!(target, Target::Extra(_)) {
                extras += 1;
            }
            cells.push((target, value));
        }
        if extras > MAX_EXTRA_FIELDS {
            bad.push(format!("{extras} unknown keys; at most {MAX_EXTRA_FIELDS} are kept"));
        }
        let result =
            if bad.is_empty() { build_record(cells.iter().map(|(t, v)| (t, v.as_str())), opts) } else { Err(bad) };
        push_row(&mut out, &mut seen, line, result);
    }
    if line == 0 {
        out.errors.push(RowError { line: 0, reason: "the file is empty".into() });
        out.unusable = true;
    }
    out
}

/// Copies the steward-managed parts of `existing` into a re-imported row:
/// the record keeps its id and creation time; the file's values win.
pub fn carry_over(row: &mut Row, existing: &Record, columns: &[(String, Target)]) {
    // The source speaks for its columns only: a field it has no column for
    // (a value a steward added, a merge brought in) keeps its value.
    let has = |t: &Target| columns.iter().any(|(_, c)| c == t);
    for f in Field::ALL {
        let named = has(&Target::FullName) && matches!(f, Field::GivenName | Field::FamilyName);
        if !has(&Target::Field(f)) && !named && row.record.get(f).is_none() {
            let _ = row.record.set(f, existing.get(f));
        }
    }
    for (k, v) in existing.extra.iter() {
        if !has(&Target::Extra(k.clone())) && row.record.extra.get(k).is_none() {
            row.record.extra.insert(k.clone(), v.clone());
        }
    }
    row.record.id = existing.id;
    // A merge keeps the earliest creation; the survivor's own row in the
    // source says later: the earlier stays.
    row.record.times.created = row.record.times.created.min(existing.times.created);
    // What stewards recorded (consents, a restriction, how the customer
    // confirmed) is not the source's to overwrite.
    row.record.care = existing.care.clone();
    if !row.given.created {
        row.record.times.created = existing.times.created;
    }
    // A confirmation or activity steward knows of is not undone by an
    // export older than it: these times only move forward.
    row.record.times.last_verified = row.record.times.last_verified.max(existing.times.last_verified);
    row.record.times.last_activity = row.record.times.last_activity.max(existing.times.last_activity);
}

/// The extra columns of a parsed file (for reporting what was kept).
pub fn extra_columns(p: &Parsed) -> BTreeMap<String, String> {
    p.columns
        .iter()
        .filter_map(|(h, t)| match t {
            Target::Extra(n) => Some((h.clone(), n.clone())),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options { format: Format::Csv, id_column: None, source: "crm".into(), now: Utc::now() }
    }

    fn csv(s: &str) -> Parsed {
        parse(s.as_bytes(), &opts(), &mut |_| {})
    }

    #[test]
    fn rows_without_name_email_or_phone_are_kept() {
        let p = csv("id,first_name,email,street,postcode,dob\nA1,,,12 High St,SW1A 1AA,1980-02-03\nA2,,,,,\n");
        assert_eq!(p.rows.len(), 1, "{:?}", p.errors);
        assert_eq!(p.rows[0].record.address.postcode.as_deref(), Some("SW1A 1AA"));
        assert_eq!(p.errors.len(), 1);
        assert_eq!(p.errors[0].line, 3);
        assert!(p.errors[0].reason.contains("nothing but its id"), "{:?}", p.errors);
    }

    #[test]
    fn line_numbers_count_physical_lines_whatever_the_line_endings() {
        for end in ["\n", "\r\n", "\r"] {
            let text =
                ["id,first_name,email", "A1,Ann,a@x.org", "A2,\"two", "lines\",b@x.org", "A3,Cy", "A4,Di,d@x.org"]
                    .join(end)
                    + end;
            let p = csv(&text);
            assert_eq!(p.errors.len(), 1, "{end:?}: {:?}", p.errors);
            assert_eq!(p.errors[0].line, 5, "{end:?}: the short row is on line 5");
            let lines: Vec<u64> = p.rows.iter().map(|r| r.line).collect();
            assert_eq!(lines, vec![2, 3, 6], "{end:?}");
        }
    }

    #[test]
    fn synonyms_map_to_fields() {
        for (h, f) in [
            ("given_name", Field::GivenName),
            ("First Name", Field::GivenName),
            ("firstname", Field::GivenName),
            ("Forename", Field::GivenName),
            ("surname", Field::FamilyName),
            ("last_name", Field::FamilyName),
            ("E-Mail", Field::Email),
            ("telephone", Field::Phone),
            ("Mobile", Field::Phone),
            ("ZIP", Field::Postcode),
            ("postal_code", Field::Postcode),
            ("DOB", Field::DateOfBirth),
            ("date_of_birth", Field::DateOfBirth),
        ] {
            assert_eq!(map_header(h), Target::Field(f), "{h}");
        }
        assert_eq!(map_header("Fax Number"), Target::Extra("fax_number".into()));
    }

    #[test]
    fn parses_quoted_csv_and_keeps_extras() {
        let p = csv("id,first_name,surname,email,fax,notes\n7, Ann ,Lee,ann@x.org,+1 555,\"likes, \"\"tea\"\"\"\n");
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let r = &p.rows[0].record;
        assert_eq!(r.source_id, "7");
        assert_eq!(r.given_name.as_deref(), Some("Ann"));
        assert_eq!(r.extra.get("notes").map(String::as_str), Some("likes, \"tea\""));
        assert_eq!(r.extra.get("fax").map(String::as_str), Some("+1 555"));
    }

    #[test]
    fn bad_rows_are_listed_with_line_numbers_and_without_values() {
        let p = csv("id,name,dob\n1,Ann Lee,1990-01-02\n2,Bob Day\n3,Cy Fox,02/01/1990\n1,Dup Row,\n");
        let lines: Vec<u64> = p.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5]);
        assert!(p.errors.iter().all(|e| !e.reason.contains("02/01") && !e.reason.contains("Cy")));
        assert_eq!(p.rows.len(), 1);
    }

    #[test]
    fn non_utf8_is_refused_with_its_line() {
        let mut bytes = b"id,name\n1,Ann\n2,".to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        bytes.extend_from_slice(b"\n");
        let p = parse(&bytes[..], &opts(), &mut |_| {});
        assert_eq!(p.errors.len(), 1);
        assert_eq!(p.errors[0].line, 3);
    }

    /// Break 5 (in part): a file without line breaks, or with a quote left
    /// open near the top, was read whole before being refused (4.9 GB for
    /// 2 GB). Reading stops a row past the limit, wherever it is.
    #[test]
    fn break_5_a_row_without_end_is_refused_at_the_row_limit() {
        let mut counted = 0u64;
        let endless = |head: &[u8], fill: u8| {
            let mut v = head.to_vec();
            v.resize(head.len() + 3 * MAX_ROW_BYTES, fill);
            v
        };
        for (what, bytes) in [
            ("no line break", endless(b"id,name\n1,", b'a')),
            ("unclosed quote", endless(b"id,name\n1,\"Ann\n2,Bob\n", b'b')),
        ] {
            let reader = std::io::Read::take(&bytes[..], u64::MAX);
            let counting = Counting { inner: reader, read: &mut counted };
            let p = parse(counting, &opts(), &mut |_| {});
            assert!(p.unusable, "{what}");
            assert!(p.errors.iter().any(|e| e.reason.contains("longer than 1 MiB")), "{what}: {:?}", p.errors);
            assert!(counted < 2 * MAX_ROW_BYTES as u64, "{what}: read {counted} bytes");
            counted = 0;
        }
        let mut jsonl = b"{\"id\":\"1\"}\n".to_vec();
        jsonl.resize(3 * MAX_ROW_BYTES, b' ');
        let o = Options { format: Format::Jsonl, ..opts() };
        let p = parse(&jsonl[..], &o, &mut |_| {});
        assert!(
            p.unusable && p.errors.iter().any(|e| e.line == 2 && e.reason.contains("longer than")),
            "{:?}",
            p.errors
        );
    }

    /// Counts the bytes a parser pulls.
    struct Counting<'a, R> {
        inner: R,
        read: &'a mut u64,
    }

    impl<R: std::io::Read> std::io::Read for Counting<'_, R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            *self.read += n as u64;
            Ok(n)
        }
    }

    #[test]
    fn unclosed_quote_is_an_error() {
        let p = csv("id,name\n1,\"Ann\n2,Bob\n");
        assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
        assert_eq!(p.errors[0].line, 2);
        assert!(p.errors[0].reason.contains("unclosed quote"));
        // Also when the swallowed rest gives a wrong field count: one error.
        let p = csv("id,name,email\n1,Ann,a@x\n2,\"Bob,b@x\n3,Cy\n");
        assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
        assert_eq!(p.errors[0].line, 3);
    }

    #[test]
    fn jsonl_maps_keys_and_reports_bad_lines() {
        let o = Options { format: Format::Jsonl, ..opts() };
        let p = parse(
            &b"{\"customer_id\": 5, \"firstName\": \"Zoe\", \"zip\": \"2000\"}\nnot json\n{\"id\":\"6\",\"email\":[1]}\n"[..],
            &o,
            &mut |_| {},
        );
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].record.source_id, "5");
        assert_eq!(p.rows[0].record.address.postcode.as_deref(), Some("2000"));
        assert_eq!(p.errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![2, 3]);
    }

    #[test]
    fn id_column_option_wins() {
        let o = Options { id_column: Some("rec_id".into()), ..opts() };
        let p = parse(&b"rec_id, given_name, id\nrec-1, ann, 99\n"[..], &o, &mut |_| {});
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.rows[0].record.source_id, "rec-1");
        assert_eq!(p.rows[0].record.extra.get("id").map(String::as_str), Some("99"));
    }

    #[test]
    fn missing_id_column_is_a_file_error() {
        let p = csv("first,last\nA,B\n");
        assert_eq!(p.errors.len(), 1);
        assert!(p.errors[0].reason.contains("--id-column"));
        assert!(p.rows.is_empty());
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    fn field() -> impl Strategy<Value = String> {
        // Printable text with commas, quotes and spaces, as a CRM holds it.
        proptest::string::string_regex("[ a-zA-Z0-9,\"'éü.@+-]{0,20}").expect("regex")
    }

    proptest! {
        /// A short row is reported on its physical line, with any line ending.
        #[test]
        fn bad_rows_are_named_by_their_line(n in 1usize..40, bad in 0usize..40, end in 0usize..3) {
            let bad = bad % n;
            let end = ["\n", "\r\n", "\r"][end];
            let mut text = format!("id,first_name,email{end}");
            for i in 0..n {
                if i == bad {
                    text.push_str(&format!("R{i},short{end}"));
                } else {
                    text.push_str(&format!("R{i},N{i},n{i}@x.org{end}"));
                }
            }
            let p = parse(text.as_bytes(), &Options { format: Format::Csv, id_column: None, source: "p".into(), now: Utc::now() }, &mut |_| {});
            prop_assert_eq!(p.errors.len(), 1);
            prop_assert_eq!(p.errors[0].line, bad as u64 + 2);
        }

        /// Whatever the csv writer produces, import reads back (trimmed).
        #[test]
        fn csv_round_trips(rows in proptest::collection::vec((field(), field(), field()), 1..20)) {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(["id", "given_name", "email", "notes"]).expect("header");
            for (i, (g, e, n)) in rows.iter().enumerate() {
                w.write_record([format!("r{i}"), g.clone(), e.clone(), n.clone()]).expect("row");
            }
            let bytes = w.into_inner().expect("bytes");
            let opts = Options { format: Format::Csv, id_column: None, source: "p".into(), now: Utc::now() };
            let p = parse(&bytes[..], &opts, &mut |_| {});
            for (i, (g, e, n)) in rows.iter().enumerate() {
                // Any personal data makes a row worth keeping (a row with
                // only notes is flagged `incomplete` by the scan, not refused).
                let holds_data = !g.trim().is_empty() || !e.trim().is_empty() || !n.trim().is_empty();
                let row = p.rows.iter().find(|r| r.record.source_id == format!("r{i}"));
                prop_assert_eq!(row.is_some(), holds_data);
                if let Some(r) = row {
                    let opt = |s: &str| { let t = s.trim(); (!t.is_empty()).then(|| t.to_owned()) };
                    prop_assert_eq!(r.record.given_name.clone(), opt(g));
                    prop_assert_eq!(r.record.email.clone(), opt(e));
                    prop_assert_eq!(r.record.extra.get("notes").cloned(), opt(n));
                }
            }
            prop_assert_eq!(p.rows.len() + p.errors.len(), rows.len());
        }

        /// Arbitrary bytes never panic, and rows and errors never overlap.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let opts = Options { format: Format::Csv, id_column: None, source: "p".into(), now: Utc::now() };
            let mut input = b"id,name,dob\n".to_vec();
            input.extend_from_slice(&bytes);
            let p = parse(&input[..], &opts, &mut |_| {});
            for r in &p.rows {
                prop_assert!(!p.errors.iter().any(|e| e.line == r.line));
            }
            let o = Options { format: Format::Jsonl, ..opts };
            let _ = parse(&bytes[..], &o, &mut |_| {});
        }
    }
}
