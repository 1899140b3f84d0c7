//! The change feed: every change steward makes to a record becomes an
//! outgoing change for the source the record came from (GDPR Art. 19 asks
//! the controller to pass rectifications and erasures on).
//!
//! Every record-changing commit of the service goes through
//! [`Service::commit`], which compares the records before and after and
//! adds, in the same atomic step: an `update` per changed field of a kept
//! record, a `merge` per merged-away record (pointing at the survivor's
//! source id), an `erase` per erased record and per source id merged into
//! it. An erasure also withdraws what was still pending for those rows (the
//! new values of a rectification are personal data too); an undone merge
//! withdraws its pending `merge` changes. `steward changes SOURCE` lists
//! them, `--ack N` marks them applied (and removes them), and `push` applies
//! them to a database source.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;

use super::*;
use crate::model::source::{Op, Outgoing, Source};
use crate::store::audit::{Draft, Entry};
use crate::store::{Change, Shelf};

/// Pending outgoing changes of a source, decrypted.
#[derive(Clone, Debug, Serialize)]
pub struct Pending {
    pub seq: u64,
    #[serde(flatten)]
    pub change: Outgoing,
}

/// A source's values as the feed speaks of them: every field that holds a
/// value, by name.
pub fn source_values(r: &Record) -> BTreeMap<String, Option<String>> {
    let mut out: BTreeMap<String, Option<String>> =
        crate::model::Field::ALL.iter().filter_map(|f| r.get(*f).map(|v| (f.name().to_owned(), Some(v)))).collect();
    out.extend(r.extra.iter().map(|(k, v)| (k.clone(), Some(v.clone()))));
    out
}

/// Changed fields between two versions of a record: (field, old, new).
fn diff(old: &Record, new: &Record) -> Vec<(String, Option<String>, Option<String>)> {
    let a = source_values(old);
    let b = source_values(new);
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    names
        .into_iter()
        .filter_map(|n| {
            let (x, y) = (a.get(n).cloned().flatten(), b.get(n).cloned().flatten());
            (x != y).then(|| (n.clone(), x, y))
        })
        .collect()
}

impl Service {
    /// Commits `change` with the outgoing changes it means for the sources.
    pub(crate) fn commit(&self, change: Change, draft: Draft) -> Result<Entry, ServiceError> {
        self.commit_knowing(change, draft, &[])
    }

    /// [`Service::commit`] where the caller already holds the records as
    /// they are before the change (saves reading them again).
    pub(crate) fn commit_knowing(
        &self,
        mut change: Change,
        draft: Draft,
        before: &[Record],
    ) -> Result<Entry, ServiceError> {
        // What the change was built on must still be there when it lands
        // (another session may have changed it since).
        let touched: std::collections::HashSet<RecordId> =
            change.put.iter().map(|r| r.id).chain(change.remove.iter().copied()).collect();
        change.expect.extend(
            before.iter().filter(|r| touched.contains(&r.id)).map(|r| (r.id, Some(crate::store::record_digest(r)))),
        );
        self.feed(&mut change, &draft.action, before)?;
        Ok(self.store.commit(change, draft)?)
    }

    fn feed(&self, change: &mut Change, action: &str, before: &[Record]) -> Result<(), ServiceError> {
        if change.put.is_empty() && change.remove.is_empty() && change.drop_redirects.is_empty() {
            return Ok(());
        }
        let known: HashMap<RecordId, &Record> = before.iter().map(|r| (r.id, r)).collect();
        let old = |id: RecordId| -> Result<Option<Record>, ServiceError> {
            match known.get(&id) {
                Some(r) => Ok(Some((*r).clone())),
                None => Ok(self.store.get(id)?),
            }
        };
        let erase = action == "erase";
        let receipt = change.receipts.first().map(|(id, _)| id.clone());
        let put: HashMap<RecordId, &Record> = change.put.iter().map(|r| (r.id, r)).collect();
        let into_of: HashMap<RecordId, RecordId> = change.redirects.iter().map(|r| (r.from, r.into)).collect();
        let mut ops: Vec<(String, Op)> = Vec::new();
        // Rows whose pending changes an erasure makes moot, and rows an undo
        // brings back (their pending merge must not reach the source).
        let mut erased: HashSet<(String, String)> = HashSet::new();
        let mut restored: HashSet<(String, String)> = HashSet::new();
        let mut erase_op = |ops: &mut Vec<(String, Op)>, source: &str, sid: &str| {
            erased.insert((source.to_owned(), sid.to_owned()));
            ops.push((source.to_owned(), Op::Erase { source_id: sid.to_owned(), receipt: receipt.clone() }));
        };
        // Rows merged into an erased record go first: a table whose
        // merged-away rows point at the survivor cannot lose it before them.
        for id in &change.drop_redirects {
            if put.contains_key(id) || !erase {
                continue;
            }
            if let Some(rd) = self.store.redirect(*id)? {
                erase_op(&mut ops, &rd.source, &rd.source_id);
            }
        }
        // A record anonymised by an earlier erasure has no row left to erase.
        let anonymised = |r: &Record| r.source_id == format!("erased-{}", r.id);
        for id in &change.remove {
            let Some(o) = old(*id)? else { continue };
            match into_of.get(id) {
                Some(into) if !erase => {
                    let survivor = match put.get(into) {
                        Some(r) => Some((*r).clone()),
                        None => old(*into)?,
                    };
                    if let Some(s) = survivor {
                        ops.push((
                            o.provenance.source.clone(),
                            Op::Merge {
                                source_id: o.source_id.clone(),
                                into_source: s.provenance.source.clone(),
                                into_id: s.source_id.clone(),
                                expect: source_values(&o),
                            },
                        ));
                    }
                }
                _ if anonymised(&o) => {}
                _ => erase_op(&mut ops, &o.provenance.source, &o.source_id),
            }
        }
        for r in &change.put {
            match old(r.id)? {
                Some(o) if erase && anonymised(&o) => {}
                Some(o) if erase => erase_op(&mut ops, &o.provenance.source, &o.source_id),
                Some(o) => {
                    for (field, was, now) in diff(&o, r) {
                        ops.push((
                            o.provenance.source.clone(),
                            Op::Update { source_id: o.source_id.clone(), field, old: was, new: now },
                        ));
                    }
                }
                None => {
                    restored.insert((r.provenance.source.clone(), r.source_id.clone()));
                }
            }
        }
        // Withdraw what is moot.
        let sources: BTreeSet<&String> = erased.iter().chain(restored.iter()).map(|(s, _)| s).collect();
        for source in sources {
            for (seq, plain) in self.store.outbox(source, 0)? {
                let Ok(c) = serde_json::from_slice::<Outgoing>(&plain) else { continue };
                let key = (source.clone(), c.op.source_id().to_owned());
                let moot = match c.op {
                    Op::Erase { .. } => false,
                    Op::Merge { .. } => restored.contains(&key) || erased.contains(&key),
                    Op::Update { .. } => erased.contains(&key),
                };
                if moot {
                    change.drop_outbox.push((source.clone(), seq));
                }
            }
        }
        let at = crate::model::now();
        for (source, op) in ops {
            let c = Outgoing { at, by: self.session.user.clone(), action: action.to_owned(), op };
            change.outbox.push((source, serde_json::to_vec(&c).unwrap_or_default()));
        }
        Ok(())
    }

    /// The pending outgoing changes of `source` after number `since`.
    pub fn changes(&self, source: &str, since: u64) -> Result<Vec<Pending>, ServiceError> {
        self.require(Role::Steward, "changes", &[])?;
        let mut out = Vec::new();
        for (seq, plain) in self.store.outbox(source, since)? {
            let change: Outgoing = serde_json::from_slice(&plain)
                .map_err(|_| ServiceError::Store(crate::store::StoreError::Corrupt("an outgoing change".into())))?;
            out.push(Pending { seq, change });
        }
        Ok(out)
    }

    /// The pending changes of `source`, by the source id they are about.
    pub(crate) fn changes_by_row(&self, source: &str) -> Result<HashMap<String, Vec<Op>>, ServiceError> {
        let mut out: HashMap<String, Vec<Op>> = HashMap::new();
        for (_, plain) in self.store.outbox(source, 0)? {
            if let Ok(c) = serde_json::from_slice::<Outgoing>(&plain) {
                out.entry(c.op.source_id().to_owned()).or_default().push(c.op);
            }
        }
        Ok(out)
    }

    /// Pending outgoing changes per source.
    pub fn pending_counts(&self) -> Result<BTreeMap<String, usize>, ServiceError> {
        Ok(self.store.outbox_counts()?)
    }

    /// Marks the changes of `source` up to number `upto` (with `only`, that
    /// one change) as applied by the source: they leave the feed, and the
    /// erasures among them are noted as told (the receipts show when).
    /// Acknowledging an erasure needs a reason. Returns how many.
    pub fn ack(&self, source: &str, upto: u64, only: bool, reason: &str) -> Result<usize, ServiceError> {
        let mut draft = self.draft("changes-ack", &[]);
        self.require(Role::Steward, "changes-ack", &[])?;
        let done: Vec<Pending> =
            self.changes(source, 0)?.into_iter().filter(|p| if only { p.seq == upto } else { p.seq <= upto }).collect();
        if done.is_empty() {
            let which = if only { "number" } else { "up to number" };
            return Err(self.refuse(draft, format!("no pending change of {} {which} {upto}", fit(source))));
        }
        draft.reason = Some(reason.trim().to_owned()).filter(|r| !r.is_empty());
        let erasures = done.iter().filter(|p| matches!(p.change.op, Op::Erase { .. })).count();
        if erasures > 0 && draft.reason.is_none() {
            return Err(self.refuse(
                draft,
                format!(
                    "{erasures} of them are erasures, whose receipts will say the source was told: say how you know \
                     with --reason"
                ),
            ));
        }
        draft.detail = Some(format!(
            "{} change(s) of source {} {} {upto} applied ({erasures} erasure(s))",
            done.len(),
            fit(source),
            if only { "number" } else { "up to number" }
        ));
        let mut change = Change::default();
        self.note_applied(&mut change, source, &done)?;
        self.store.commit(change, draft)?;
        Ok(done.len())
    }

    /// Removes `done` from the feed of `source` in `change` and notes when
    /// their erasures were told.
    pub(crate) fn note_applied(&self, change: &mut Change, source: &str, done: &[Pending]) -> Result<(), ServiceError> {
        let mut src = self.source(source)?.unwrap_or_else(|| Source {
            name: source.to_owned(),
            postgres: None,
            state: Default::default(),
        });
        let now = crate::model::now();
        for p in done {
            change.drop_outbox.push((source.to_owned(), p.seq));
            if let Op::Erase { receipt: Some(r), .. } = &p.change.op {
                src.state.told.insert(r.clone(), now);
            }
        }
        src.state.applied += done.len() as u64;
        src.state.last_push = Some(now);
        change.shelve.push((Shelf::Source, source.as_bytes().to_vec(), serde_json::to_vec(&src).unwrap_or_default()));
        Ok(())
    }

    /// A source steward knows (by import, sync or `source add`).
    pub fn source(&self, name: &str) -> Result<Option<Source>, ServiceError> {
        Ok(self.store.shelf_get(Shelf::Source, name.as_bytes())?.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Every source steward knows, by name, and every source that has
    /// pending changes.
    pub fn sources(&self) -> Result<Vec<Source>, ServiceError> {
        let mut out: BTreeMap<String, Source> = BTreeMap::new();
        for (_, plain) in self.store.shelf(Shelf::Source, &[])? {
            if let Ok(s) = serde_json::from_slice::<Source>(&plain) {
                out.insert(s.name.clone(), s);
            }
        }
        for name in self.store.outbox_counts()?.into_keys() {
            out.entry(name.clone()).or_insert(Source { name, postgres: None, state: Default::default() });
        }
        Ok(out.into_values().collect())
    }

    /// Every source with its state and pending changes, for `source list`
    /// and the Sources screen.
    pub fn source_overview(&self) -> Result<Vec<SourceRow>, ServiceError> {
        self.require_to_read(Role::Viewer, "sources")?;
        let counts = self.store.outbox_counts()?;
        Ok(self
            .sources()?
            .into_iter()
            .map(|s| SourceRow {
                pending: counts.get(&s.name).copied().unwrap_or(0),
                kind: if s.postgres.is_some() { "postgres" } else { "file" },
                table: s.postgres.as_ref().map(|p| p.table.clone()),
                incremental: s.postgres.as_ref().is_some_and(|p| p.updated_column.is_some()),
                name: s.name,
                last_sync: s.state.last_sync,
                rows: s.state.rows,
                held: None,
                suppressed: s.state.suppressed,
                applied: s.state.applied,
                last_push: s.state.last_push,
            })
            .collect())
    }

    /// The sources an erasure's changes went to, and when each was told
    /// (`None`: still pending).
    pub fn told(&self, receipt: &str) -> Result<Vec<actions::Told>, ServiceError> {
        let mut out = Vec::new();
        for s in self.sources()? {
            let pending = self.store.outbox(&s.name, 0)?.into_iter().any(|(_, plain)| {
                serde_json::from_slice::<Outgoing>(&plain)
                    .is_ok_and(|c| matches!(&c.op, Op::Erase { receipt: Some(r), .. } if r == receipt))
            });
            if pending {
                out.push(actions::Told { source: s.name.clone(), told: None });
            } else if let Some(t) = s.state.told.get(receipt) {
                out.push(actions::Told { source: s.name.clone(), told: Some(*t) });
            }
        }
        Ok(out)
    }
}

fn fit(s: &str) -> String {
    crate::model::text::fit(s, 40)
}

/// One source as `source list` and the Sources screen show it.
#[derive(Clone, Debug, Serialize)]
pub struct SourceRow {
    pub name: String,
    /// `file` (imported by hand) or `postgres`.
    pub kind: &'static str,
    pub table: Option<String>,
    /// Syncs read only rows changed since the last one.
    pub incremental: bool,
    pub last_sync: Option<chrono::DateTime<chrono::Utc>>,
    /// Rows the last import or sync read.
    pub rows: u64,
    /// Records held from it (filled in by callers that hold the records).
    pub held: Option<usize>,
    /// Outgoing changes waiting for the source.
    pub pending: usize,
    /// Rows of erased customers skipped, all time.
    pub suppressed: u64,
    /// Outgoing changes applied or acknowledged, all time.
    pub applied: u64,
    pub last_push: Option<chrono::DateTime<chrono::Utc>>,
}

/// How `steward changes` writes the feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedFormat {
    /// One JSON object per line.
    Jsonl,
    /// `seq,at,action,op,source_id,field,old,new,into_source,into_id,receipt`.
    Csv,
}

/// Where the feed goes: a file encrypted with age, or the caller's writer
/// (a terminal or a pipe; never a plaintext file steward creates).
pub enum FeedTo<'a> {
    Encrypted { target: &'a super::export::Target, armor: bool, out: &'a std::path::Path },
    Plain(&'a mut dyn std::io::Write),
}

/// What `changes` wrote.
#[derive(Clone, Debug, Serialize)]
pub struct FeedReport {
    pub source: String,
    pub changes: usize,
    pub first: Option<u64>,
    pub last: Option<u64>,
    /// Bytes of the encrypted file (0 when printed).
    pub bytes: u64,
    pub audit_entry: u64,
}

fn write_feed(w: &mut dyn std::io::Write, changes: &[Pending], format: FeedFormat) -> Result<(), ServiceError> {
    let bad = |e: std::io::Error| ServiceError::Invalid(format!("could not write the changes: {e}"));
    match format {
        FeedFormat::Jsonl => {
            for p in changes {
                let line = serde_json::to_string(p).map_err(|e| ServiceError::Invalid(e.to_string()))?;
                writeln!(w, "{line}").map_err(bad)?;
            }
        }
        FeedFormat::Csv => {
            let mut csv = csv::Writer::from_writer(w);
            let err = |e: csv::Error| ServiceError::Invalid(format!("could not write the changes: {e}"));
            csv.write_record([
                "seq",
                "at",
                "action",
                "op",
                "source_id",
                "field",
                "old",
                "new",
                "into_source",
                "into_id",
                "receipt",
            ])
            .map_err(err)?;
            for p in changes {
                let c = &p.change;
                let mut row = vec![p.seq.to_string(), c.at.to_rfc3339(), c.action.clone(), c.op.kind().to_owned()];
                let o = |v: &Option<String>| v.clone().unwrap_or_default();
                row.extend(match &c.op {
                    Op::Erase { source_id, receipt } => [
                        source_id.clone(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        o(receipt),
                    ],
                    Op::Merge { source_id, into_source, into_id, .. } => [
                        source_id.clone(),
                        String::new(),
                        String::new(),
                        String::new(),
                        into_source.clone(),
                        into_id.clone(),
                        String::new(),
                    ],
                    Op::Update { source_id, field, old, new } => {
                        [source_id.clone(), field.clone(), o(old), o(new), String::new(), String::new(), String::new()]
                    }
                });
                csv.write_record(&row).map_err(err)?;
            }
            csv.flush().map_err(bad)?;
        }
    }
    Ok(())
}

impl Service {
    /// Writes the pending changes of `source` after `since` — what the
    /// source system must apply — encrypted to a file or to the caller's
    /// writer; audited with the count (never the values).
    pub fn write_changes(
        &self,
        source: &str,
        since: u64,
        format: FeedFormat,
        to: FeedTo<'_>,
    ) -> Result<FeedReport, ServiceError> {
        let mut draft = self.draft("changes", &[]);
        self.require(Role::Steward, "changes", &[])?;
        let changes = self.changes(source, since)?;
        let mut report = FeedReport {
            source: source.to_owned(),
            changes: changes.len(),
            first: changes.first().map(|p| p.seq),
            last: changes.last().map(|p| p.seq),
            bytes: 0,
            audit_entry: 0,
        };
        let (how, bytes) = match to {
            FeedTo::Encrypted { target, armor, out } => {
                let recipients = target.recipients().map_err(|e| self.refuse(draft.clone(), e.to_string()))?;
                let out = super::export::expand_home(out);
                let bytes =
                    super::export::write_encrypted(&out, recipients, armor, |w| write_feed(w, &changes, format))?;
                (target.describe(), bytes)
            }
            FeedTo::Plain(w) => {
                write_feed(w, &changes, format)?;
                ("printed".to_owned(), 0)
            }
        };
        draft.detail = Some(format!(
            "{} pending change(s) of source {} written ({how})",
            changes.len(),
            crate::model::text::fit(source, 40)
        ));
        report.bytes = bytes;
        report.audit_entry = self.store.audit(draft)?.seq;
        Ok(report)
    }
}
