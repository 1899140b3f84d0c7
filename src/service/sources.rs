//! Database sources: define one, sync its rows in, push the change feed out.
//!
//! `source add` checks the connection and the columns, then seals the
//! definition (URL without password, table, id column, field → column map,
//! what an erasure and a merge do) in the store. `sync` reads the table in
//! one snapshot — only rows changed since the last sync when the table has
//! an update column — and imports them like a file (suppression applied,
//! pending rectifications kept), all or nothing, with the new cursor in
//! the same step. `push` turns the source's pending outgoing changes into
//! steps on its rows and applies them a batch per transaction: a row
//! changed in the source since steward last saw it is refused and its
//! change stays pending; what was applied leaves the feed with one audit
//! entry per batch. A push killed between the database's commit and
//! steward's finds those steps already applied the next time.

use std::collections::BTreeMap;

use serde::Serialize;

use super::*;
use crate::import::Target;
use crate::model::source::{OnErase, OnMerge, Op, Postgres, Source};
use crate::store::pgsource::{Action, Outcome, SourceDb, SourceError, Step};
use crate::store::{Change, Shelf};

impl From<SourceError> for ServiceError {
    fn from(e: SourceError) -> Self {
        ServiceError::Invalid(e.to_string())
    }
}

/// Longest source name.
const MAX_NAME: usize = 64;

/// What a sync did (or would do).
#[derive(Clone, Debug, Default, Serialize)]
pub struct SyncReport {
    pub source: String,
    /// Rows read from the table.
    pub read: usize,
    /// Only rows changed since the last sync were read.
    pub incremental: bool,
    #[serde(flatten)]
    pub import: ImportReport,
}

/// One change a push could not apply (kept pending).
#[derive(Clone, Debug, Serialize)]
pub struct Refused {
    pub seq: u64,
    pub op: &'static str,
    pub why: String,
}

/// What a push did (or would do).
#[derive(Clone, Debug, Default, Serialize)]
pub struct PushReport {
    pub source: String,
    pub dry_run: bool,
    /// Applied now, by kind of statement: `delete`, `update`, `anonymise`, `repoint`.
    pub applied: BTreeMap<String, usize>,
    /// Found applied already (a row deleted, a value already set).
    pub already: usize,
    /// Changes about fields the table does not hold (nothing to do there).
    pub not_mapped: usize,
    pub refused: Vec<Refused>,
    /// Transactions committed (one per batch).
    pub batches: usize,
    /// Changes that left the feed.
    pub done: usize,
    /// Changes still pending afterwards.
    pub pending: usize,
    /// Why the push stopped early, if it did (the rest stays pending).
    pub stopped: Option<String>,
}

/// A source name: 1 to 64 characters, no `:` (it separates `SOURCE:ID`),
/// no control characters.
pub(crate) fn check_name(name: &str) -> Result<(), ServiceError> {
    if name.is_empty() || name.len() > MAX_NAME || name.chars().any(|c| c.is_control() || c == ':') {
        return Err(ServiceError::Invalid(format!(
            "a source name is 1 to {MAX_NAME} characters, without `:` or control characters"
        )));
    }
    Ok(())
}

/// Where a mapped field's values go on import (`created_at` → the record's
/// creation time, `fax` → an extra field ...).
fn target_of(field: &str) -> Target {
    match field.parse::<crate::model::Field>() {
        Ok(f) => Target::Field(f),
        Err(_) => match crate::import::map_header(field) {
            Target::SourceId | Target::Updated => Target::Extra(field.to_owned()),
            t => t,
        },
    }
}

/// Whether a mapped field is a value the change feed speaks of (not a
/// timestamp, not a full name steward splits).
fn is_value(field: &str) -> bool {
    matches!(target_of(field), Target::Field(_) | Target::Extra(_))
}

/// A value as steward stores it (so that `2024-1-5` and `2024-01-05` agree).
fn canon(field: &str, v: Option<&str>) -> Option<String> {
    let v = v.map(str::trim).filter(|v| !v.is_empty())?;
    let name = actions::FieldName::parse(field);
    let mut r = Record::new("", "", chrono::Utc::now());
    match name.set(&mut r, Some(v.to_owned())) {
        Ok(()) => name.get(&r),
        Err(_) => Some(v.to_owned()),
    }
}

impl Service {
    /// Defines database source `name` as `s` (admin): the connection and
    /// columns are checked first (an empty map takes the table's columns
    /// that name a field); the definition is sealed in the store.
    pub fn source_add(&self, name: &str, s: Postgres, reason: &str) -> Result<Source, ServiceError> {
        let mut draft = self.draft("source-add", &[]);
        self.require(Role::Admin, "source-add", &[])?;
        draft.reason = Some(reason.trim().to_owned()).filter(|r| !r.is_empty());
        check_name(name)?;
        if let Some(old) = self.source(name)?
            && old.postgres.is_some()
        {
            return Err(self.refuse(
                draft,
                format!(
                    "source {} is defined already (remove it first: `steward source remove`)",
                    crate::model::text::fit(name, 40)
                ),
            ));
        }
        for (field, _) in &s.map {
            if matches!(field.as_str(), "id" | "source_id" | "source") {
                return Err(ServiceError::Invalid(format!("`{field}` is the id column (--id), not a field")));
            }
        }
        let db = SourceDb::open(&s.url, &s.table, &s.id_column, &[])?;
        // The table's columns that name a field or a timestamp (by the
        // import's synonyms), then the mapping given, which wins.
        let mut map: Vec<(String, String)> = {
            let mut cols = db.columns();
            cols.sort();
            cols.into_iter()
                .filter(|c| c != &s.id_column && Some(c) != s.updated_column.as_ref())
                .filter_map(|c| {
                    let field = match crate::import::map_header(&c) {
                        Target::Field(f) => f.name().to_owned(),
                        Target::FullName => "name".to_owned(),
                        Target::Created => "created_at".to_owned(),
                        Target::LastVerified => "last_verified".to_owned(),
                        Target::LastActivity => "last_activity".to_owned(),
                        Target::CollectedAt => "collected_at".to_owned(),
                        // Other columns (a password hash, a tenant id …)
                        // are not read unless mapped by name.
                        Target::Extra(_) | Target::SourceId | Target::Updated => return None,
                    };
                    Some((field, c))
                })
                .collect()
        };
        for (field, column) in &s.map {
            map.retain(|(f, c)| f != field && c != column);
            map.push((field.clone(), column.clone()));
        }
        if map.is_empty() {
            return Err(ServiceError::Invalid(
                "no column of the table names a field: map them with --map FIELD=COLUMN".into(),
            ));
        }
        let mut cols: Vec<String> = map.iter().map(|(_, c)| c.clone()).collect();
        cols.extend(s.updated_column.iter().cloned());
        if let OnMerge::Repoint(c) = &s.on_merge {
            cols.push(c.clone());
        }
        // One connection: the mapped columns are checked against the catalogue read on opening.
        if let Some(c) = cols.iter().find(|c| db.type_of(c).is_none()) {
            return Err(ServiceError::Invalid(format!("table {} has no column {c}", s.table)));
        }
        if let Some(u) = &s.updated_column
            && !db.type_of(u).is_some_and(|t| t.starts_with("timestamp"))
        {
            return Err(ServiceError::Invalid(format!(
                "--updated-column {u} must be a timestamp column (a date or a number cannot tell which rows of one \
                 day or value changed after a sync)"
            )));
        }
        // An anonymising erasure sets every column but the id (and the
        // update and repoint columns) to NULL: a mapped field that cannot be
        // NULL would keep the customer's data.
        if s.on_erase == OnErase::Anonymise {
            let mut stuck: Vec<&String> = map
                .iter()
                .filter(|(f, c)| is_value(f) && !db.nullable().contains(c) && *c != s.id_column)
                .map(|(_, c)| c)
                .collect();
            stuck.sort();
            if !stuck.is_empty() {
                let names: Vec<&str> = stuck.iter().map(|c| c.as_str()).collect();
                return Err(ServiceError::Invalid(format!(
                    "--on-erase anonymise sets the customer's columns to NULL, and these cannot be NULL: {}; use \
                     --on-erase delete, or allow NULL there",
                    names.join(", ")
                )));
            }
        }
        let identity = Some(db.identity().to_owned());
        drop(db);
        let def = Postgres { map, identity, ..s };
        let mut src =
            self.source(name)?.unwrap_or(Source { name: name.to_owned(), postgres: None, state: Default::default() });
        src.postgres = Some(def);
        src.state.cursor = None;
        draft.detail = Some(format!("database source {} defined", crate::model::text::fit(name, 40)));
        let change = Change {
            shelve: vec![(Shelf::Source, name.as_bytes().to_vec(), serde_json::to_vec(&src).unwrap_or_default())],
            ..Change::default()
        };
        self.commit(change, draft)?;
        Ok(src)
    }

    /// Forgets a source's definition (admin). Its records, suppression
    /// entries and pending changes stay.
    pub fn source_remove(&self, name: &str, reason: &str) -> Result<(), ServiceError> {
        let mut draft = self.draft("source-remove", &[]);
        self.require(Role::Admin, "source-remove", &[])?;
        draft.reason = Some(self.need_reason(&draft, reason)?);
        let Some(mut src) = self.source(name)?.filter(|s| s.postgres.is_some()) else {
            return Err(self.refuse(draft, format!("no database source {}", crate::model::text::fit(name, 40))));
        };
        src.postgres = None;
        draft.detail = Some(format!("database source {} removed", crate::model::text::fit(name, 40)));
        let change = Change {
            shelve: vec![(Shelf::Source, name.as_bytes().to_vec(), serde_json::to_vec(&src).unwrap_or_default())],
            ..Change::default()
        };
        self.commit(change, draft)?;
        Ok(())
    }

    /// Opens the table of `pg`, checking it is the one the source was defined on.
    fn open_table(name: &str, pg: &Postgres, cols: &[String]) -> Result<SourceDb, ServiceError> {
        let db = SourceDb::open(&pg.url, &pg.table, &pg.id_column, cols)?;
        if pg.identity.as_deref().is_some_and(|i| i != db.identity()) {
            return Err(ServiceError::Invalid(format!(
                "the table of source {} is not the one it was defined on (it was dropped and made again, or the URL \
                 now reaches another database): check it, then `steward source remove` and `source add` again",
                crate::model::text::fit(name, 40)
            )));
        }
        Ok(db)
    }

    fn database_source(&self, name: &str) -> Result<(Source, Postgres), ServiceError> {
        match self.source(name)? {
            Some(s) => match s.postgres.clone() {
                Some(p) => Ok((s, p)),
                None => Err(ServiceError::Invalid(format!(
                    "source {n} is a file source: import its exports with `steward import FILE --source {n}`, and \
                     hand it its changes with `steward changes {n} -o -` (or --recipient), then `--ack N`",
                    n = crate::model::text::fit(name, 40)
                ))),
            },
            None => Err(ServiceError::Invalid(format!(
                "no source {} (define it with `steward source add`)",
                crate::model::text::fit(name, 40)
            ))),
        }
    }

    /// Pulls new and changed rows of database source `name` (all or nothing).
    /// With `full`, every row is read, whatever the cursor says.
    pub fn sync(
        &self,
        name: &str,
        on_invalid: OnInvalid,
        full: bool,
        dry_run: bool,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<SyncReport, ServiceError> {
        self.require(Role::Steward, "sync", &[])?;
        let (mut src, pg) = self.database_source(name)?;
        let cols: Vec<String> = pg.map.iter().map(|(_, c)| c.clone()).collect();
        let mut db = Self::open_table(name, &pg, &cols)?;
        let since = src.state.cursor.clone().filter(|_| pg.updated_column.is_some() && !full);
        let repointed = match &pg.on_merge {
            OnMerge::Repoint(c) => Some(c.as_str()),
            OnMerge::Delete => None,
        };
        let read = db.read(&cols, pg.updated_column.as_deref(), since.as_deref(), repointed)?;
        drop(db);
        let mut columns = vec![(pg.id_column.clone(), Target::SourceId)];
        columns.extend(pg.map.iter().map(|(f, c)| (c.clone(), target_of(f))));
        let opts = crate::import::Options {
            format: crate::import::Format::Csv,
            id_column: None,
            source: name.to_owned(),
            now: crate::model::now(),
        };
        // Rows of erased customers go before they are even validated (an
        // anonymised row holds nothing but its id).
        let n = read.rows.len();
        let suppressor = self.suppressor()?;
        let rows: Vec<Vec<Option<String>>> = read
            .rows
            .into_iter()
            .filter(|r| {
                !suppressor.hit_source_id(&self.store, name, r.first().cloned().flatten().as_deref().unwrap_or(""))
            })
            .collect();
        let early = n - rows.len();
        let mut parsed = crate::import::from_table(columns, &rows, &opts);
        // A bad row is named by its id (its position in the read means nothing).
        for e in &mut parsed.errors {
            let id = rows.get((e.line as usize).wrapping_sub(1)).and_then(|r| r.first().cloned().flatten());
            e.reason = format!("id {}: {}", crate::model::text::fit(&id.unwrap_or_default(), 40), e.reason);
        }
        // Rows skipped as invalid are read again once fixed in the source
        // (the fix moves their update column past the cursor).
        if read.cursor.is_some() {
            src.state.cursor = read.cursor;
        }
        let import = self.import_from(parsed, on_invalid, dry_run, Some((src, early)), progress)?;
        Ok(SyncReport { source: name.to_owned(), read: n, incremental: since.is_some(), import })
    }

    /// The steps a pending change means for the table, or why it has none.
    /// `clear`: the columns an anonymising erasure sets to NULL.
    fn step_for(
        pg: &Postgres,
        source: &str,
        op: &Op,
        clear: &[String],
    ) -> Result<Option<(Step, &'static str)>, String> {
        let column = |field: &str| pg.map.iter().find(|(f, _)| f == field).map(|(_, c)| c.clone());
        match op {
            Op::Erase { source_id, .. } => Ok(Some(match pg.on_erase {
                OnErase::Delete => {
                    (Step { id: source_id.clone(), check: vec![], already: vec![], action: Action::Delete }, "delete")
                }
                OnErase::Anonymise => (
                    Step {
                        id: source_id.clone(),
                        check: vec![],
                        already: vec![],
                        action: Action::Set(clear.iter().map(|c| (c.clone(), None)).collect()),
                    },
                    "anonymise",
                ),
            })),
            Op::Update { field, .. }
                if matches!(field.as_str(), "given_name" | "family_name") && column("name").is_some() =>
            {
                Err("the table keeps the full name in one column: apply this change by hand, then acknowledge it"
                    .into())
            }
            Op::Update { source_id, field, old, new } => match column(field).filter(|_| is_value(field)) {
                Some(c) => Ok(Some((
                    Step {
                        id: source_id.clone(),
                        check: vec![(c.clone(), old.clone())],
                        already: vec![(c.clone(), new.clone())],
                        action: Action::Set(vec![(c, new.clone())]),
                    },
                    "update",
                ))),
                None => Ok(None),
            },
            Op::Merge { source_id, into_source, into_id, expect } => {
                if into_source != source {
                    return Err(format!(
                        "the survivor lives in source {}: apply this merge by hand and acknowledge it",
                        crate::model::text::fit(into_source, 40)
                    ));
                }
                let check = pg
                    .map
                    .iter()
                    .filter(|(f, _)| is_value(f))
                    .map(|(f, c)| (c.clone(), expect.get(f).cloned().flatten()))
                    .collect::<Vec<_>>();
                Ok(Some(match &pg.on_merge {
                    OnMerge::Delete => {
                        (Step { id: source_id.clone(), check, already: vec![], action: Action::Delete }, "delete")
                    }
                    OnMerge::Repoint(col) => (
                        Step {
                            id: source_id.clone(),
                            check,
                            already: vec![(col.clone(), Some(into_id.clone()))],
                            action: Action::Set(vec![(col.clone(), Some(into_id.clone()))]),
                        },
                        "repoint",
                    ),
                }))
            }
        }
    }

    /// Applies the pending change feed of database source `name` to its
    /// table, `batch` changes per transaction.
    pub fn push(
        &self,
        name: &str,
        batch: usize,
        dry_run: bool,
        progress: &dyn Fn(usize, usize),
    ) -> Result<PushReport, ServiceError> {
        self.require(Role::Steward, "push", &[])?;
        let (_, pg) = self.database_source(name)?;
        let pending = self.changes(name, 0)?;
        let mut report = PushReport { source: name.to_owned(), dry_run, ..PushReport::default() };
        if pending.is_empty() {
            return Ok(report);
        }
        let mut cols: Vec<String> = pg.map.iter().map(|(_, c)| c.clone()).collect();
        if let OnMerge::Repoint(c) = &pg.on_merge {
            cols.push(c.clone());
        }
        let mut db = Self::open_table(name, &pg, &cols)?;
        // An anonymised row keeps only its id (and the columns steward needs).
        let clear: Vec<String> = db
            .nullable()
            .iter()
            .filter(|c| **c != pg.id_column && Some(*c) != pg.updated_column.as_ref())
            .cloned()
            .collect();
        let field_of = |col: &str| pg.map.iter().find(|(_, c)| c == col).map(|(f, _)| f.clone());
        let same = |col: &str, held: Option<&str>, want: Option<&str>| match field_of(col) {
            Some(f) => canon(&f, held) == canon(&f, want),
            None => held.map(str::trim).filter(|v| !v.is_empty()) == want.map(str::trim).filter(|v| !v.is_empty()),
        };
        let total = pending.len();
        let mut seen = 0;
        for chunk in pending.chunks(batch.max(1)) {
            let mut steps = Vec::new();
            let mut kinds = Vec::new();
            let mut done = Vec::new();
            for p in chunk {
                match Self::step_for(&pg, name, &p.change.op, &clear) {
                    Ok(Some((step, kind))) => {
                        steps.push(step);
                        kinds.push((p, kind));
                    }
                    Ok(None) => {
                        report.not_mapped += 1;
                        done.push(p.clone());
                    }
                    Err(why) => report.refused.push(Refused { seq: p.seq, op: p.change.op.kind(), why }),
                }
            }
            let outcomes = match db.apply(&steps, &same, dry_run) {
                Ok(o) => o,
                Err(e) => {
                    let mut d = self.draft("push", &[]);
                    d.outcome = Some(crate::store::audit::Outcome::Failed);
                    d.detail = Some(format!("source {}: batch not applied: {e}", crate::model::text::fit(name, 40)));
                    if !dry_run {
                        let _ = self.store.audit(d);
                    }
                    report.stopped = Some(e.to_string());
                    break;
                }
            };
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for ((p, kind), outcome) in kinds.into_iter().zip(outcomes) {
                match outcome {
                    Outcome::Applied(true) => {
                        *counts.entry(kind.to_owned()).or_default() += 1;
                        done.push(p.clone());
                    }
                    Outcome::Applied(false) => {
                        report.already += 1;
                        done.push(p.clone());
                    }
                    Outcome::Refused(why) => report.refused.push(Refused { seq: p.seq, op: p.change.op.kind(), why }),
                }
            }
            for (k, n) in &counts {
                *report.applied.entry(k.clone()).or_default() += n;
            }
            if !dry_run && !done.is_empty() {
                let mut draft = self.draft("push", &[]);
                let applied: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
                draft.detail = Some(format!(
                    "source {}: changes {}–{} applied ({}), {} found applied already",
                    crate::model::text::fit(name, 40),
                    chunk.first().map_or(0, |p| p.seq),
                    chunk.last().map_or(0, |p| p.seq),
                    if applied.is_empty() { "nothing new".to_owned() } else { applied.join(", ") },
                    done.len() - counts.values().sum::<usize>()
                ));
                let mut change = Change::default();
                self.note_applied(&mut change, name, &done)?;
                self.store.commit(change, draft)?;
                report.batches += 1;
            }
            report.done += done.len();
            seen += chunk.len();
            progress(seen, total);
        }
        report.pending =
            if dry_run { total } else { self.store.shelf_len(Shelf::Outbox, &[name.as_bytes(), &[0]].concat())? };
        Ok(report)
    }
}
