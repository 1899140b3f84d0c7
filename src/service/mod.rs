//! Use cases: the only API the TUI and the CLI call.
//!
//! Every call runs as the user who unlocked the store (the session). Import
//! validates everything before writing anything; writes are flushed before
//! success is reported. Later layers (findings, audit, roles) hang off this
//! API, and a daemon could serve the same calls over a socket.

pub mod actions;
pub mod batches;
pub mod breach;
pub mod demo;
pub mod export;
pub mod extract;
pub mod feed;
pub mod fulfil;
pub mod housekeeping;
pub mod mask;
pub mod matching;
pub mod migrate;
pub mod remedies;
pub mod report;
pub mod requests;
pub mod ropa;
pub mod sources;
pub mod suppression;
pub mod usage;
pub mod users;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::crypto::UnlockSecret;
use crate::findings::{self, Report};
use crate::import::{self, Parsed, RowError};
use crate::model::{Record, RecordId};
use crate::policy::{Policy, PolicyError};
use crate::store::{LockedStore, NewSlot, Store};

// What the clients (`cli`, `tui`) name: defined below the service and
// re-exported here, so nothing above the service reaches into the store or
// the crypto layer, or knows which engine a store runs on.
pub use crate::crypto::{KdfCost, Role};
pub use crate::store::audit::{Entry as AuditEntry, Outcome as AuditOutcome};
pub use crate::store::{Location, NewSlot as NewSecret, StoreError};

/// Other sessions' changes to a shared store, as they happen (see
/// [`Service::watch`]).
pub struct Watch(crate::store::Listener);

/// A change another session made: the audit entry, and the records it
/// touched (`None`: too many to name — reload everything).
pub use crate::store::Notice as OtherChange;

impl Watch {
    /// What other sessions changed within `timeout` (often nothing).
    pub fn wait(&mut self, timeout: std::time::Duration) -> Result<Vec<OtherChange>, ServiceError> {
        Ok(self.0.wait(timeout)?)
    }
}

/// A store found and checked but not unlocked yet: the point at which to
/// ask for a passphrase (a directory store is locked for this process
/// unless it came from [`Service::door_for_login`]).
#[derive(Debug)]
pub struct Door(LockedStore);

impl Door {
    /// Whether `user` unlocks with a key file (an age identity) rather than
    /// a passphrase.
    pub fn needs_key_file(&self, user: &str) -> bool {
        matches!(self.0.slot_kind(user), Some(crate::crypto::SlotKind::Age { .. }))
    }

    pub fn location(&self) -> &Location {
        self.0.location()
    }
}

/// Who is acting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The steward user (the key slot that unlocked the store).
    pub user: String,
    /// The operating-system user, from the process uid (not `$USER`).
    pub os_user: String,
    pub role: Role,
}

/// How a user proves who they are.
pub enum Credentials {
    Passphrase(SecretString),
    Identity(Zeroizing<Vec<u8>>),
}

impl From<Credentials> for UnlockSecret {
    fn from(c: Credentials) -> Self {
        match c {
            Credentials::Passphrase(p) => UnlockSecret::Passphrase(p),
            Credentials::Identity(b) => UnlockSecret::Identity(b),
        }
    }
}

/// Errors of the use cases: one line each, no personal data.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("import refused: {} invalid row(s); nothing was written", .0.len())]
    ImportRejected(Vec<RowError>),
    #[error("no record `{0}`")]
    NotFound(String),
    /// Not found by a key the user typed, which may be personal data (a source id): not repeated.
    #[error("no record matches that id or SOURCE:ID")]
    NoMatch,
    #[error("{0}")]
    Invalid(String),
    /// Refused (and audited): the role does not allow it or a rule forbids it.
    #[error("refused: {0}")]
    Denied(String),
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// The policy in force and where it came from.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PolicyInfo {
    /// 1 for the first imported policy, then counting up; 0: the built-in default.
    pub revision: u32,
    pub imported_at: Option<chrono::DateTime<chrono::Utc>>,
    pub imported_by: Option<String>,
    /// The policy file as imported.
    pub source: String,
}

/// What an import did (or, with `dry_run`, would do).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ImportReport {
    pub inserted: usize,
    pub updated: usize,
    /// Rows that hold what their record holds already (not written).
    pub unchanged: usize,
    pub rejected: usize,
    /// Rows of erased customers, skipped (see [`suppression`]).
    pub suppressed: usize,
    /// Their source ids (the first 100), for the operator to check; never
    /// audited.
    pub suppressed_ids: Vec<String>,
    /// Rows of records merged away whose merge the source has not applied
    /// yet: the survivor's row speaks for them.
    pub merged_away: usize,
    /// Values the source changed since a rectification steward has not
    /// passed on yet: steward's value is kept until the change is pushed
    /// (and refused there) or acknowledged.
    pub conflicts: usize,
    pub dry_run: bool,
    /// File column → extra field name, for columns that matched no known field.
    pub extra_columns: BTreeMap<String, String>,
}

/// How to treat invalid rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnInvalid {
    /// Refuse the whole file (the default).
    Refuse,
    /// Import the valid rows; the caller reports the rejects.
    Skip,
}

/// Counts for `stats` and the dashboard.
#[derive(Clone, Debug, Default, serde::Serialize, PartialEq, Eq)]
pub struct Stats {
    pub records: usize,
    pub sources: BTreeMap<String, usize>,
    pub with_email: usize,
    pub with_phone: usize,
    pub with_date_of_birth: usize,
    pub with_extra_fields: usize,
    pub countries: BTreeMap<String, usize>,
}

impl Stats {
    pub fn of(records: &[Record]) -> Stats {
        let mut s = Stats { records: records.len(), ..Stats::default() };
        for r in records {
            s.add(r);
        }
        s
    }

    /// Counts one record less (one that [`Stats::add`] counted).
    pub fn remove(&mut self, r: &Record) {
        self.records = self.records.saturating_sub(1);
        let dec = |m: &mut BTreeMap<String, usize>, k: &str| {
            if let Some(n) = m.get_mut(k) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(k);
                }
            }
        };
        dec(&mut self.sources, &r.provenance.source);
        self.with_email -= usize::from(r.email.is_some() && self.with_email > 0);
        self.with_phone -= usize::from(r.phone.is_some() && self.with_phone > 0);
        self.with_date_of_birth -= usize::from(r.date_of_birth.is_some() && self.with_date_of_birth > 0);
        self.with_extra_fields -= usize::from(!r.extra.is_empty() && self.with_extra_fields > 0);
        let c = r.address.country.clone().unwrap_or_else(|| "unknown".into());
        if self.countries.contains_key(&c) {
            dec(&mut self.countries, &c);
        } else {
            dec(&mut self.countries, "other");
        }
    }

    /// Counts one more record (not in `records` yet).
    pub fn insert(&mut self, r: &Record) {
        self.records += 1;
        self.add(r);
    }

    /// Counts one more record's fields (not `records`).
    fn add(&mut self, r: &Record) {
        let s = self;
        {
            *s.sources.entry(r.provenance.source.clone()).or_default() += 1;
            s.with_email += usize::from(r.email.is_some());
            s.with_phone += usize::from(r.phone.is_some());
            s.with_date_of_birth += usize::from(r.date_of_birth.is_some());
            s.with_extra_fields += usize::from(!r.extra.is_empty());
            let c = r.address.country.clone().unwrap_or_else(|| "unknown".into());
            // Bound the map: country values are customer input.
            if s.countries.len() < 64 || s.countries.contains_key(&c) {
                *s.countries.entry(c).or_default() += 1;
            } else {
                *s.countries.entry("other".into()).or_default() += 1;
            }
        }
    }
}

/// What `stats` tells without decrypting a record.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Counts {
    pub records: usize,
    /// Generation of the data key (counts up with each rotation).
    pub key_generation: u32,
    /// Bytes the store's database takes on disk.
    pub size_on_disk: u64,
}

/// The operating-system user of this process, from its uid.
pub fn os_user() -> String {
    crate::os_user()
}

/// An open store and the session acting on it.
pub struct Service {
    store: Store,
    session: Session,
    /// A read-only session on a snapshot copy (when it was published), and
    /// the private directory holding the copy (removed on drop).
    /// A read-only session: when its snapshot was published, its private
    /// copy, and the store it was published from.
    read_only: Option<(chrono::DateTime<chrono::Utc>, tempfile::TempDir, PathBuf)>,
    /// Failed unlocks in a row at the idle lock.
    failures: std::sync::atomic::AtomicUsize,
    /// The last scan's match index (see [`matching`]).
    match_cache: std::sync::Mutex<Option<std::sync::Arc<crate::findings::duplicates::index::MatchIndex>>>,
    /// The store's record generation when [`Service::records`] last loaded
    /// them (a scan of records older than the store keeps no index).
    loaded_generation: std::sync::atomic::AtomicU64,
}

impl Service {
    /// Creates a store with `user` as its first admin.
    pub fn init(location: impl Into<Location>, user: &str, slot: NewSlot) -> Result<Service, ServiceError> {
        let store = Store::create(&location.into(), user, slot)?;
        Ok(Service::from_store(store))
    }

    /// Finds the store at `location` (a directory or a PostgreSQL URL) and
    /// checks it can be opened — missing, foreign, too new, in use — before
    /// anyone is asked for a passphrase. A directory store stays locked for
    /// this process.
    pub fn door(location: impl Into<Location>, user: &str) -> Result<Door, ServiceError> {
        Ok(Door(LockedStore::open(location, user)?))
    }

    /// Like [`Service::door`] for a login screen: nothing is held while
    /// someone types (the lock is taken by the unlock that succeeds).
    pub fn door_for_login(location: impl Into<Location>, user: &str) -> Result<Door, ServiceError> {
        Ok(Door(LockedStore::open_for_login(location, user)?))
    }

    /// Unlocks a store as `user`.
    pub fn unlock(door: Door, user: &str, creds: Credentials) -> Result<Service, ServiceError> {
        let store = door.0.unlock(user, &creds.into())?;
        Ok(Service::from_store(store))
    }

    /// Unlocks, or gives the door back after a wrong secret (for a login
    /// screen that asks again).
    pub fn attempt(
        door: Door,
        user: &str,
        creds: Credentials,
    ) -> Result<Service, (Option<Box<Door>>, Box<ServiceError>)> {
        match door.0.attempt(user, &creds.into()) {
            Ok(store) => Ok(Service::from_store(store)),
            Err((back, e)) => Err((back.map(|l| Box::new(Door(*l))), Box::new(e.into()))),
        }
    }

    /// Checks `secret` against this session's user (the idle lock's
    /// unlock). A failure is audited, and each one in a row waits longer.
    pub fn check_secret(&self, creds: Credentials) -> Result<(), ServiceError> {
        use std::sync::atomic::Ordering;
        match self.store.check_secret(&self.session.user, &creds.into()) {
            Ok(_) => {
                self.failures.store(0, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
                let mut d = self.draft("login", &[]);
                d.outcome = Some(crate::store::audit::Outcome::Denied);
                d.detail = Some("failed unlock at the idle lock (wrong passphrase or key)".into());
                self.store.audit(d)?;
                std::thread::sleep(crate::store::login_delay(n));
                Err(e.into())
            }
        }
    }

    /// Other sessions' changes as they happen, on a store several
    /// sessions share (`None` for a directory store, which only this
    /// process can change).
    pub fn watch(&self) -> Result<Option<Watch>, ServiceError> {
        Ok(self.store.listen()?.map(Watch))
    }

    /// Who else works on this store now (`user (os user)`, by the names
    /// their sessions announced); empty for a directory store.
    pub fn others(&self) -> Vec<String> {
        self.store.present().unwrap_or_default().into_iter().map(|n| crate::model::text::sanitize(&n)).collect()
    }

    fn from_store(store: Store) -> Service {
        let session = Session { user: store.user().to_owned(), os_user: os_user(), role: store.role() };
        // Shown to the other sessions of a shared store (no customer data).
        let _ = store.announce(&format!("{} ({})", session.user, session.os_user));
        Service {
            store,
            session,
            read_only: None,
            failures: Default::default(),
            match_cache: Default::default(),
            loaded_generation: std::sync::atomic::AtomicU64::new(u64::MAX),
        }
    }

    /// Opens the latest snapshot the lock holder published, read-only, as
    /// `user`: a consistent copy in a private temporary directory that is
    /// deleted when the session ends. Every change is refused.
    pub fn open_read_only(
        location: impl Into<Location>,
        user: &str,
        creds: impl FnOnce(&Door) -> Result<Credentials, ServiceError>,
    ) -> Result<Service, ServiceError> {
        let location = location.into();
        let dir = match &location {
            Location::Dir(dir) => dir.as_path(),
            Location::Postgres(_) => {
                return Err(ServiceError::Invalid(
                    "a PostgreSQL store is shared: open it without --read-only (every session sees the live store;                      a viewer account changes nothing)"
                        .into(),
                ));
            }
        };
        let taken = Store::snapshot_time(dir).ok_or_else(|| {
            ServiceError::Invalid(
                "no read-only snapshot has been published for this store yet (the holder's dashboard publishes one \
                 when it opens and after each change)"
                    .into(),
            )
        })?;
        // Copies left by sessions that died (SIGKILL, a dropped SSH line)
        // go first; this one carries the process id, so the next session
        // can tell when it is abandoned.
        sweep_read_only_copies(&std::env::temp_dir());
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{READ_ONLY_PREFIX}{}-", std::process::id()))
            .tempdir()
            .map_err(|e| ServiceError::Invalid(format!("could not make a private directory: {e}")))?;
        let door = Door(Store::open_snapshot(dir, tmp.path(), user)?);
        let c = creds(&door)?;
        let mut svc = Service::unlock(door, user, c)?;
        // The snapshot carries the key slots as they were: a user removed or
        // given another role since may not use it.
        if Store::live_role(dir, user)? != Some(svc.session.role) {
            return Err(ServiceError::Denied(
                "your account or role changed since this snapshot was published; ask the holder to republish it".into(),
            ));
        }
        svc.read_only = Some((taken, tmp, dir.to_owned()));
        Ok(svc)
    }

    /// Whether a key rotation an erasure asked for still waits (for free
    /// disk space): until it runs, the erased records' sealed remnants are
    /// under the current key.
    pub fn rotation_waiting(&self) -> bool {
        self.store.rotation_waiting().unwrap_or(false)
    }

    /// Where a read-only session's private copy of the snapshot lives.
    pub fn read_only_copy(&self) -> Option<&Path> {
        self.read_only.as_ref().map(|(_, d, _)| d.path())
    }

    /// Whether a read-only session's snapshot is still the one published
    /// (false once the holder changed anything: it withdraws the snapshot,
    /// and publishes a new one). Always true for other sessions.
    pub fn read_only_current(&self) -> bool {
        match &self.read_only {
            Some((taken, _, origin)) => Store::snapshot_time(origin) == Some(*taken),
            None => true,
        }
    }

    /// When the snapshot of a read-only session was published.
    pub fn read_only(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.read_only.as_ref().map(|(t, _, _)| *t)
    }

    /// Publishes a snapshot for other admins' `--read-only` sessions
    /// (nothing to do in a read-only session).
    pub fn publish_snapshot(&self) -> Result<(), ServiceError> {
        if self.read_only.is_none() {
            self.store.publish_snapshot()?;
        }
        Ok(())
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Where the store is (a directory or a PostgreSQL URL).
    pub fn store_location(&self) -> &Location {
        self.store.location()
    }

    pub fn size_on_disk(&self) -> u64 {
        self.store.size_on_disk()
    }

    /// Reads the rows of an import file (nothing is written: see
    /// [`Service::import`]); `progress` gets the bytes read so far.
    pub fn read_import(reader: impl std::io::Read, opts: &import::Options, progress: &mut dyn FnMut(u64)) -> Parsed {
        import::parse(reader, opts, progress)
    }

    /// Writes parsed rows. Nothing is written if any row is invalid and
    /// `on_invalid` is `Refuse`, or if the file itself is unusable.
    pub fn import(
        &self,
        parsed: Parsed,
        on_invalid: OnInvalid,
        dry_run: bool,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<ImportReport, ServiceError> {
        self.import_from(parsed, on_invalid, dry_run, None, progress)
    }

    /// [`Service::import`]; `synced` is the state a sync leaves its source
    /// in (written by the same final step as the rows). Rows of erased
    /// customers are skipped; pending rectifications of a row win over its
    /// old values; rows of records merged away, whose merge the source has
    /// not applied yet, are left out.
    pub(crate) fn import_from(
        &self,
        mut parsed: Parsed,
        on_invalid: OnInvalid,
        dry_run: bool,
        synced: Option<(crate::model::source::Source, usize)>,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<ImportReport, ServiceError> {
        let _hold = self.store.hold()?; // see `Store::hold`
        self.require(Role::Steward, "import", &[])?;
        if !parsed.errors.is_empty() && (on_invalid == OnInvalid::Refuse || parsed.unusable) {
            return Err(ServiceError::ImportRejected(parsed.errors));
        }
        let mut report = ImportReport {
            rejected: parsed.errors.len(),
            dry_run,
            extra_columns: import::extra_columns(&parsed),
            ..ImportReport::default()
        };
        let index = self.store.source_index()?;
        // A sync has dropped the rows whose source id is suppressed already.
        let (synced, early) = match synced {
            Some((s, n)) => (Some(s), n),
            None => (None, 0),
        };
        let source_name = synced
            .as_ref()
            .map(|s| s.name.clone())
            .or_else(|| parsed.rows.first().map(|r| r.record.provenance.source.clone()));
        let read = parsed.rows.len() + early;
        if let Some(name) = &source_name {
            sources::check_name(name)?;
            let suppressor = self.suppressor()?;
            let pending = self.changes_by_row(name)?;
            let store = &self.store;
            let mut suppressed = 0;
            let mut merged_away = 0;
            let mut conflicts = 0;
            let mut suppressed_ids = Vec::new();
            parsed.rows.retain_mut(|row| {
                let r = &mut row.record;
                let held = index.contains_key(&store.blind(&r.provenance.source, &r.source_id));
                if suppressor.hit(store, r, held).is_some() {
                    suppressed += 1;
                    if suppressed_ids.len() < 100 {
                        suppressed_ids.push(r.source_id.clone());
                    }
                    return false;
                }
                if let Some(ops) = pending.get(&r.source_id) {
                    for op in ops {
                        match op {
                            crate::model::source::Op::Merge { .. } => {
                                merged_away += 1;
                                return false;
                            }
                            crate::model::source::Op::Update { field, old, new, .. } => {
                                let name = actions::FieldName::parse(field);
                                let now = name.get(r);
                                if now != *old && now != *new {
                                    conflicts += 1;
                                }
                                let _ = name.set(r, new.clone());
                            }
                            crate::model::source::Op::Erase { .. } => {}
                        }
                    }
                }
                true
            });
            report.suppressed = suppressed + early;
            report.merged_away = merged_away;
            report.conflicts = conflicts;
            report.suppressed_ids = suppressed_ids;
        }
        let mut fresh = Vec::new();
        let mut same = vec![false; parsed.rows.len()];
        for (i, row) in parsed.rows.iter_mut().enumerate() {
            let blind = self.store.blind(&row.record.provenance.source, &row.record.source_id);
            match index.get(&blind) {
                Some(&id) => {
                    match self.store.get(id)? {
                        Some(existing) => {
                            import::carry_over(row, &existing, &parsed.columns);
                            // A merged-away source id: the row updates the
                            // survivor, which keeps its own identity.
                            if existing.source_id != row.record.source_id
                                || existing.provenance.source != row.record.provenance.source
                            {
                                row.record.source_id = existing.source_id.clone();
                                row.record.provenance = existing.provenance.clone();
                            }
                            // A row that says what the record says already
                            // is not written (its "updated" time stays).
                            let mut probe = row.record.clone();
                            probe.times.updated = existing.times.updated;
                            probe.provenance.collected_at = existing.provenance.collected_at;
                            if probe == existing {
                                same[i] = true;
                                report.unchanged += 1;
                                continue;
                            }
                        }
                        None => row.record.id = id,
                    }
                    row.record.times.updated = crate::model::now();
                    report.updated += 1;
                }
                None => {
                    fresh.push(i);
                    report.inserted += 1;
                }
            }
        }
        // New records get ids above every id in the store, in file order.
        for (i, id) in fresh.into_iter().zip(self.store.allocate_ids(report.inserted)?) {
            parsed.rows[i].record.id = id;
        }
        if !dry_run {
            let records: Vec<Record> =
                parsed.rows.into_iter().zip(same).filter(|(_, same)| !same).map(|(r, _)| r.record).collect();
            let mut draft = self.draft(if synced.is_some() { "sync" } else { "import" }, &[]);
            let batch = batches::Batch {
                number: self.next_batch()?,
                time: crate::model::now(),
                by: self.session.user.clone(),
                source: source_name.clone().unwrap_or_default(),
                inserted: report.inserted,
                updated: report.updated,
                ids: records.iter().map(|r| r.id).collect(),
            };
            draft.detail = Some(format!(
                "{} new, {} updated, {} unchanged, {} rejected, {} suppressed (erased earlier), {} merged away, source {}, batch {}",
                report.inserted,
                report.updated,
                report.unchanged,
                report.rejected,
                report.suppressed,
                report.merged_away,
                source_name.as_deref().map(|s| crate::model::text::fit(s, 40)).unwrap_or_default(),
                batch.number
            ));
            let mut shelve = Vec::new();
            if !records.is_empty() {
                shelve.push((crate::store::Shelf::Batch, batches::key(batch.number), batch.encode()));
            }
            if let Some(name) = &source_name {
                let mut src = match synced {
                    Some(s) => s,
                    None => self.source(name)?.unwrap_or_else(|| crate::model::source::Source {
                        name: name.clone(),
                        postgres: None,
                        state: Default::default(),
                    }),
                };
                src.state.last_sync = Some(crate::model::now());
                src.state.rows = read as u64;
                src.state.suppressed += report.suppressed as u64;
                shelve.push((
                    crate::store::Shelf::Source,
                    name.as_bytes().to_vec(),
                    serde_json::to_vec(&src).unwrap_or_default(),
                ));
            }
            self.store.put_records_with(&records, &shelve, draft, progress)?;
        }
        Ok(report)
    }

    /// Whether this session sees personal data masked: viewers always,
    /// stewards until they reveal a record; admins see it as it is.
    pub fn masks(&self) -> bool {
        self.session.role < Role::Admin
    }

    /// A record as this session may see it.
    pub(crate) fn shown(&self, r: Record) -> Record {
        if self.masks() { mask::record(&r) } else { r }
    }

    /// Every record, decrypted (in memory only), masked unless the role sees
    /// personal data. `progress(done)` between chunks.
    pub fn records(&self, progress: &mut dyn FnMut(usize)) -> Result<Vec<Record>, ServiceError> {
        let generation = self.store.generation()?;
        let all = self.store.load_all(progress)?;
        self.loaded_generation.store(generation, std::sync::atomic::Ordering::Relaxed);
        // Each real record goes as its masked copy is made (no second full set in memory).
        if self.masks() { Ok(all.into_iter().map(|r| mask::record(&r)).collect()) } else { Ok(all) }
    }

    /// Every record as this user may see it, and the search index over the
    /// real values: a masked role finds a customer by the name or email it
    /// cannot see, and the results it is shown stay masked (the index lives
    /// in this process's memory only, like the decrypted records).
    pub fn records_and_index(
        &self,
        progress: &mut dyn FnMut(usize),
    ) -> Result<(Vec<Record>, crate::search::SearchIndex), ServiceError> {
        let generation = self.store.generation()?;
        let all = self.store.load_all(progress)?;
        self.loaded_generation.store(generation, std::sync::atomic::Ordering::Relaxed);
        let index = crate::search::SearchIndex::build(&all);
        let shown = if self.masks() { all.into_iter().map(|r| mask::record(&r)).collect() } else { all };
        Ok((shown, index))
    }

    /// Every record as this user may see it, a few thousand at a time, until
    /// `f` returns false: for output that streams (`list --json`), in
    /// constant memory.
    pub fn each_record(&self, f: &mut dyn FnMut(&Record) -> bool) -> Result<(), ServiceError> {
        let masks = self.masks();
        self.store
            .each_chunk(256, &mut |chunk| chunk.iter().all(|r| if masks { f(&mask::record(r)) } else { f(r) }))?;
        Ok(())
    }

    /// Says that the records a client holds are the store's current ones
    /// (it re-read every record it changed), so that a scan of them keeps
    /// its match index.
    pub fn records_are_current(&self) {
        if let Ok(g) = self.store.generation() {
            self.loaded_generation.store(g, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Number of records, without decrypting them.
    pub fn count(&self) -> usize {
        self.store.count()
    }

    /// Counts kept as counters: no record is decrypted.
    pub fn counts(&self) -> Counts {
        Counts {
            records: self.store.count(),
            key_generation: self.store.key_epoch(),
            size_on_disk: self.store.size_on_disk(),
        }
    }

    /// Counts per field, source and country: decrypts every record, a chunk
    /// at a time (memory stays flat).
    pub fn stats(&self) -> Result<Stats, ServiceError> {
        let mut s = Stats::default();
        self.store.each_chunk(1024, &mut |chunk| {
            s.records += chunk.len();
            chunk.iter().for_each(|r| s.add(r));
            true
        })?;
        Ok(s)
    }

    /// The policy in force: the imported one, or the built-in default.
    pub fn policy(&self) -> Result<(Policy, PolicyInfo), ServiceError> {
        match self.store.meta("policy")? {
            Some(bytes) => {
                let info: PolicyInfo = serde_json::from_slice(&bytes)
                    .map_err(|_| ServiceError::Invalid("the stored policy is unreadable; import it again".into()))?;
                let policy = Policy::from_toml(&info.source)?;
                Ok((policy, info))
            }
            None => {
                let policy = Policy::default();
                let info = PolicyInfo { revision: 0, imported_at: None, imported_by: None, source: policy.to_toml() };
                Ok((policy, info))
            }
        }
    }

    /// Validates and stores a new policy version.
    pub fn import_policy(&self, text: &str) -> Result<PolicyInfo, ServiceError> {
        self.require(Role::Admin, "change the policy", &[])?;
        Policy::from_toml(text)?;
        let (_, current) = self.policy()?;
        let info = PolicyInfo {
            revision: current.revision + 1,
            imported_at: Some(crate::model::now()),
            imported_by: Some(self.session.user.clone()),
            source: text.to_owned(),
        };
        let bytes = serde_json::to_vec(&info).map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let mut draft = self.draft("policy", &[]);
        draft.detail = Some(format!("revision {}", info.revision));
        let change = crate::store::Change { meta: vec![("policy".into(), bytes)], ..Default::default() };
        self.commit(change, draft)?;
        Ok(info)
    }

    /// Runs every check under the policy in force. `records` are those
    /// [`Service::records`] returned (the report's indices point into them);
    /// a session that sees masked records is checked against the real ones,
    /// decrypted here again, in the same order.
    pub fn scan(&self, records: &[Record], progress: &(dyn Fn(&str) + Sync)) -> Result<Report, ServiceError> {
        Ok(self.scan_keeping(records, progress)?.0)
    }

    /// [`Service::scan`], keeping what incremental rescans need: the
    /// report, and the state without it (see [`Service::rescan`]).
    pub fn scan_keeping(
        &self,
        records: &[Record],
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<(Report, findings::ScanState), ServiceError> {
        let (policy, info) = self.policy()?;
        let real;
        let records = if self.masks() {
            progress("decrypting");
            real = self.store.load_all(&mut |_| {})?;
            &real[..]
        } else {
            records
        };
        let apart = self.apart_indexed(records)?;
        let mut state = findings::scan_state(records, &policy, crate::model::now(), &apart, progress);
        let generation = self.loaded_generation.load(std::sync::atomic::Ordering::Relaxed);
        if generation == self.store.generation()? {
            progress("keeping the match index");
            self.keep_match_index(state.match_index(generation, records))?;
        }
        let report = self.finish_report(state.take_report(), info.revision == 0);
        Ok((report, state))
    }

    /// Rescans what changed since the report of `state` (see
    /// [`findings::ScanState::rescan`]): `records` are the records as the
    /// session holds them now (ids in order), `changed` the indices of the
    /// records written, whose unmasked values are read from the store here.
    pub fn rescan<R: crate::model::Identified>(
        &self,
        state: &mut findings::ScanState,
        records: &[R],
        changed: &[u32],
        remap: Option<&findings::Remap>,
    ) -> Result<findings::Patch, ServiceError> {
        let real = changed
            .iter()
            .map(|&i| {
                let id = records
                    .get(i as usize)
                    .map(|r| r.id())
                    .ok_or_else(|| ServiceError::Invalid("no such record".into()))?;
                Ok((i, self.real(id)?))
            })
            .collect::<Result<Vec<_>, ServiceError>>()?;
        let list: Vec<(u32, &Record)> = real.iter().map(|(i, r)| (*i, r)).collect();
        Ok(state.rescan(records, &list, remap))
    }

    /// Scans the whole store without holding it decrypted (for the command
    /// line): records are read a chunk at a time, checked, and kept slim —
    /// id, source, source id, email and times, which is what the findings
    /// and their output name. Returns those slim records (the findings'
    /// indices refer to them) and the report, the same as [`Service::scan`]
    /// gives on all the records.
    pub fn scan_store(
        &self,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<(Vec<crate::model::Slim>, Report), ServiceError> {
        const CHUNK_PAGES: usize = 4096; // about 65,000 records
        let (policy, info) = self.policy()?;
        let generation = self.store.generation()?;
        let now = crate::model::now();
        let total = self.count();
        let mut streamed = findings::Streamed::default();
        progress("decrypting and checking records");
        self.store.each_chunk(CHUNK_PAGES, &mut |chunk| {
            streamed.push(&chunk, &policy, now);
            progress(&format!("checked {} of {total} records", streamed.records().len()));
            true
        })?;
        let apart = self.apart_indexed(streamed.records())?;
        let (records, state) = streamed.finish(&policy, now, &apart, progress);
        if generation == self.store.generation()? {
            progress("keeping the match index");
            self.keep_match_index(state.match_index(generation, &records))?;
        }
        Ok((records, self.finish_report(state.report, info.revision == 0)))
    }

    /// What every scan does to its report before it is shown.
    fn finish_report(&self, mut report: Report, policy_is_default: bool) -> Report {
        if self.masks() {
            // The sign-up-burst reason quotes the email pattern: not for masked eyes.
            for f in report.findings.iter_mut().filter(|f| f.kind == findings::Kind::Suspect) {
                f.reasons = vec![format!(
                    "{} sign-ups within minutes with sequential emails (the pattern is hidden for your role)",
                    f.records.len()
                )];
            }
        }
        report.policy_is_default = policy_is_default;
        report
    }

    /// A record by steward id, or by source id (`SOURCE:ID` or a bare id in
    /// the `default` source), as this session may see it.
    pub fn find(&self, key: &str) -> Result<Record, ServiceError> {
        Ok(self.shown(self.find_real(key)?))
    }

    pub(crate) fn find_real(&self, key: &str) -> Result<Record, ServiceError> {
        // The key may be personal data (a source id): it is not echoed.
        let not_found = || ServiceError::NoMatch;
        if let Ok(id) = key.parse::<RecordId>()
            && let Some(r) = self.store.get(id)?
        {
            return Ok(r);
        }
        let (source, sid) = key.split_once(':').unwrap_or((demo::DEFAULT_SOURCE, key));
        let id = self.store.lookup_source(source, sid)?.ok_or_else(not_found)?;
        self.store.get(id)?.ok_or_else(not_found)
    }
}

/// The name every read-only copy starts with, then the process id.
const READ_ONLY_PREFIX: &str = "steward-read-only-";

/// Removes read-only copies in `tmp` whose session is gone: named with the
/// id of a process that no longer runs, and owned by this user. Such a copy
/// holds the key slots and every record as they were when it was made, so
/// it must not outlive its session. Best effort: what cannot be removed
/// stays for the next sweep.
pub fn sweep_read_only_copies(tmp: &Path) -> usize {
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid().as_raw();
    let Ok(entries) = std::fs::read_dir(tmp) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(READ_ONLY_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        // Gone, or dead and not yet reaped (a zombie holds its pid).
        let gone =
            matches!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None), Err(nix::errno::Errno::ESRCH))
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|st| st.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')));
        let mine = std::fs::symlink_metadata(entry.path()).is_ok_and(|m| m.is_dir() && m.uid() == me);
        if gone && mine && std::fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}
