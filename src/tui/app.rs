//! Application state and its transitions: keys and worker results in,
//! effects (work to run off the UI thread) out. No drawing, no terminal,
//! no threads here, so key flows are tested by feeding events.

use std::cell::Cell;
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::actions::{self, Action, Mode};
use super::forms::{self, EditForm, EraseForm, Form, MergeForm, NotePurpose};
use super::screens::findings::FindingsState;
use super::theme::Theme;
use crate::findings::{Kind, Report};
use crate::model::{Record, RecordId};
use crate::search::{Hit, SearchIndex};
use crate::service::AuditEntry as Entry;
use crate::service::Stats;
use crate::service::actions::{ErasePlan, FieldEdit, MergePlan, Strategy};

/// The screens, in tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    Dashboard,
    Records,
    Findings,
    Requests,
    Audit,
    Sources,
    Breaches,
}

impl Screen {
    pub const ALL: [Screen; 7] = [
        Screen::Dashboard,
        Screen::Records,
        Screen::Findings,
        Screen::Requests,
        Screen::Audit,
        Screen::Sources,
        Screen::Breaches,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Dashboard => "Dashboard",
            Screen::Records => "Records",
            Screen::Findings => "Findings",
            Screen::Requests => "Requests",
            Screen::Audit => "Audit",
            Screen::Sources => "Sources",
            Screen::Breaches => "Breaches",
        }
    }

    fn index(self) -> usize {
        Screen::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// Columns the records table can be sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Imported,
    Name,
    Email,
    Country,
    SourceId,
    Updated,
}

impl SortKey {
    pub fn label(self) -> &'static str {
        match self {
            SortKey::Imported => "id",
            SortKey::Name => "name",
            SortKey::Email => "email",
            SortKey::Country => "country",
            SortKey::SourceId => "source id",
            SortKey::Updated => "updated",
        }
    }

    pub(crate) fn next(self) -> SortKey {
        match self {
            SortKey::Imported => SortKey::Name,
            SortKey::Name => SortKey::Email,
            SortKey::Email => SortKey::Country,
            SortKey::Country => SortKey::SourceId,
            SortKey::SourceId => SortKey::Updated,
            SortKey::Updated => SortKey::Imported,
        }
    }
}

/// Decrypted records and what is derived from them, built off the UI thread.
#[derive(Clone)]
pub struct Data {
    pub records: Vec<Record>,
    pub index: SearchIndex,
    pub stats: Stats,
    /// Records by months since last verified (0..=24, the last bucket "older").
    pub verified_age: Vec<u64>,
    /// Which state of the records this is (unique, increasing): a patch or
    /// a scan applies to the version it was made from.
    pub version: u64,
    now: chrono::DateTime<chrono::Utc>,
}

/// A fresh [`Data::version`].
pub fn next_version() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Months since a record was last verified or updated (24: two years or more).
fn age_bucket(r: &Record, now: chrono::DateTime<chrono::Utc>) -> usize {
    let t = r.times.last_verified.unwrap_or(r.times.updated);
    ((now - t).num_days().max(0) / 30).min(24) as usize
}

impl Data {
    pub fn build(records: Vec<Record>, now: chrono::DateTime<chrono::Utc>) -> Data {
        let index = SearchIndex::build(&records);
        Data::with_index(records, index, now)
    }

    /// [`Data::build`] with the search index made elsewhere (over the real
    /// values, when the records shown are masked).
    pub fn with_index(records: Vec<Record>, index: SearchIndex, now: chrono::DateTime<chrono::Utc>) -> Data {
        let stats = Stats::of(&records);
        let mut verified_age = vec![0u64; 25];
        for r in &records {
            verified_age[age_bucket(r, now)] += 1;
        }
        Data { records, index, stats, verified_age, version: next_version(), now }
    }

    /// The record ids in order once `p` is applied.
    pub fn ids_after(&self, p: &DataPatch) -> Vec<RecordId> {
        let gone: std::collections::HashSet<RecordId> = p.remove.iter().copied().collect();
        let mut ids: Vec<RecordId> = self.records.iter().map(|r| r.id).filter(|id| !gone.contains(id)).collect();
        let mut added: Vec<RecordId> = p
            .put
            .iter()
            .map(|(r, _)| r.id)
            .filter(|id| self.records.binary_search_by(|r| r.id.cmp(id)).is_err())
            .collect();
        if !added.is_empty() {
            added.sort_unstable();
            ids.extend(added);
            ids.sort_unstable();
        }
        ids
    }

    /// Applies `p`: records replaced in place, or, when some are removed or
    /// added, the lists rebuilt in one pass. The counts follow.
    pub fn apply(&mut self, p: &DataPatch, version: u64) {
        let now = self.now;
        let texts = self.index.texts_mut();
        let mut structural = false;
        for (r, text) in &p.put {
            match self.records.binary_search_by(|x| x.id.cmp(&r.id)) {
                Ok(i) => {
                    self.stats.remove(&self.records[i]);
                    self.verified_age[age_bucket(&self.records[i], now)] -= 1;
                    self.stats.insert(r);
                    self.verified_age[age_bucket(r, now)] += 1;
                    self.records[i] = r.clone();
                    if let Some(t) = texts.get_mut(i) {
                        *t = text.clone();
                    }
                }
                Err(_) => structural = true,
            }
        }
        let gone: std::collections::HashSet<RecordId> = p.remove.iter().copied().collect();
        if !gone.is_empty() || structural {
            let mut added: Vec<(Record, Box<str>)> = p
                .put
                .iter()
                .filter(|(r, _)| self.records.binary_search_by(|x| x.id.cmp(&r.id)).is_err())
                .cloned()
                .collect();
            added.sort_by_key(|a| a.0.id);
            let old = std::mem::take(&mut self.records);
            let old_texts = std::mem::take(texts);
            let mut records = Vec::with_capacity(old.len() + added.len());
            let mut new_texts = Vec::with_capacity(old.len() + added.len());
            let mut add = added.into_iter().peekable();
            for (r, t) in old.into_iter().zip(old_texts) {
                while add.peek().is_some_and(|(a, _)| a.id < r.id) {
                    if let Some((a, at)) = add.next() {
                        self.stats.insert(&a);
                        self.verified_age[age_bucket(&a, now)] += 1;
                        records.push(a);
                        new_texts.push(at);
                    }
                }
                if gone.contains(&r.id) {
                    self.stats.remove(&r);
                    self.verified_age[age_bucket(&r, now)] -= 1;
                    continue;
                }
                records.push(r);
                new_texts.push(t);
            }
            for (a, at) in add {
                self.stats.insert(&a);
                self.verified_age[age_bucket(&a, now)] += 1;
                records.push(a);
                new_texts.push(at);
            }
            self.records = records;
            *self.index.texts_mut() = new_texts;
        }
        self.version = version;
    }
}

/// Records a job changed, as the screens must show them now.
#[derive(Clone, Debug, Default)]
pub struct DataPatch {
    /// Records that are gone (merged away, erased).
    pub remove: Vec<RecordId>,
    /// Records written, as this session may see them, with their search
    /// text (made from the real values).
    pub put: Vec<(Record, Box<str>)>,
}

/// Work for the background threads.
#[derive(Clone)]
pub enum Effect {
    Search {
        generation: u64,
        query: String,
        within: Option<Arc<Vec<Hit>>>,
    },
    Sort {
        generation: u64,
        key: SortKey,
        descending: bool,
    },
    /// A service call (see `tui::jobs`).
    Job(Job),
    /// Decrypt the records again (after the idle lock is lifted).
    Reload,
    /// Drop what the action thread keeps of the records (the scan kept for
    /// incremental rescans): the screen is locked.
    Forget,
}

/// Service calls the dashboard makes, run on the action thread.
#[derive(Clone, Debug)]
pub enum Job {
    /// Reads again records another session changed (see `Event::External`).
    Refresh {
        ids: Vec<RecordId>,
    },
    Update {
        /// The record as the form showed it: saving is refused if another
        /// session changed it since.
        seen: Box<Record>,
        edits: Vec<FieldEdit>,
        reason: String,
        /// The rectification request this answers (from the Requests screen).
        request: Option<String>,
    },
    Merge {
        plan: Box<MergePlan>,
        reason: String,
    },
    Undo {
        merge: String,
    },
    PlanErase {
        ids: Vec<RecordId>,
        strategy: Strategy,
    },
    Erase {
        plan: Box<ErasePlan>,
        reason: String,
        request: Option<String>,
    },
    Export {
        ids: Vec<RecordId>,
        recipient: String,
        file: std::path::PathBuf,
    },
    /// A breach's notification list, age-encrypted.
    BreachList {
        reference: String,
        recipient: String,
        file: std::path::PathBuf,
    },
    /// A purpose-checked extract of `ids` (the records in view).
    Extract {
        ids: Vec<RecordId>,
        purpose: String,
        recipient: String,
        file: std::path::PathBuf,
    },
    LoadAudit,
    /// Unmask a record for its reason (audited for stewards).
    Reveal {
        id: RecordId,
        reason: String,
    },
    /// Check the audit chain (admins; the check is itself recorded).
    AuditVerify,
    /// A stored erasure receipt, to show.
    Receipt {
        id: String,
    },
    /// The real record, to edit (a reveal, audited for stewards).
    PrepareEdit {
        id: RecordId,
        /// For this rectification request.
        request: Option<String>,
    },
    /// The real records of a cluster and the default merge (a reveal).
    PrepareMerge {
        ids: Vec<RecordId>,
    },
    /// Check the passphrase typed at the idle lock.
    Unlock {
        secret: Arc<secrecy::SecretString>,
    },
    /// The request queue (and the dashboard's overview figures).
    LoadRequests,
    /// The records that may be a request's requester's.
    MatchRequest {
        reference: String,
    },
    /// Confirm (or withdraw) records as the requester's.
    LinkRecords {
        reference: String,
        ids: Vec<RecordId>,
        link: bool,
    },
    /// The identity check, or the completion note, of a request.
    NoteRequest {
        purpose: NotePurpose,
        text: String,
        /// Verification: the check failed.
        failed: bool,
    },
    PlanRequestErase {
        reference: String,
        strategy: Strategy,
    },
    /// Record the acknowledgement sent to the requester.
    AcknowledgeRequest {
        reference: String,
    },
    /// Fulfil an erasure request as planned.
    RequestErase {
        reference: String,
        plan: Box<ErasePlan>,
        reason: String,
    },
    /// Work out what a remedy will change (for its preview).
    PlanRemedy(Box<super::forms::Remedy>),
    LoadSources,
    /// The breach register.
    LoadBreaches,
    /// Open a breach (the time as typed: `now`, `30h ago`, a date).
    BreachOpen {
        discovered: String,
        what: String,
        source: Option<String>,
        ids: Vec<RecordId>,
    },
    /// Plan merging every listed cluster at or above `min`.
    PlanBulkMerge {
        clusters: Vec<(Vec<RecordId>, f64)>,
        min: f64,
    },
    /// Apply a planned remedy with the dialog's inputs (label, value).
    ApplyRemedy {
        remedy: Box<super::forms::Remedy>,
        inputs: Vec<(String, String)>,
        /// Consent: given (else withdrawn).
        given: bool,
    },
    /// Fulfil an access or portability request.
    RequestExport {
        reference: String,
        recipient: String,
        file: std::path::PathBuf,
    },
}

/// What comes back from the background.
pub enum Event {
    Key(KeyEvent),
    Resize,
    LoadProgress {
        done: usize,
        total: usize,
    },
    Loaded(Arc<Data>),
    LoadFailed(String),
    ScanProgress(String),
    Scanned(Arc<Report>),
    SearchDone {
        generation: u64,
        query: String,
        hits: Arc<Vec<Hit>>,
    },
    SortDone {
        generation: u64,
        order: Arc<Vec<u32>>,
    },
    /// A job succeeded; `merge` is set after a merge (for `u`).
    Acted {
        message: String,
        merge: Option<String>,
        changed: bool,
    },
    /// A job failed or was refused; nothing changed.
    ActFailed(String),
    ErasePlanned(Box<ErasePlan>),
    AuditLoaded(Arc<Vec<Entry>>),
    SourcesLoaded(Arc<Vec<crate::service::feed::SourceRow>>),
    /// The breach register (each breach without its list of records).
    BreachesLoaded(Arc<Vec<crate::model::breach::Breach>>),
    /// A sync wrote records: like `Acted`, then the records are read and
    /// scanned again.
    Resynced(String),
    /// What a running job is doing now.
    Busy(String),
    /// A record shown unmasked, until the cursor moves off it.
    Revealed(Box<Record>),
    /// The record to edit, and the request the edit answers.
    EditReady(Box<Record>, Option<String>),
    MergeReady(Box<MergePlan>),
    /// A second passed (for the idle lock).
    Tick,
    RequestsLoaded(Arc<Vec<crate::service::requests::RequestView>>),
    /// The dashboard's figures besides the records.
    OverviewLoaded(Arc<crate::service::report::Overview>),
    /// The records that may be the requester's.
    Matched {
        reference: String,
        candidates: Arc<Vec<crate::service::fulfil::Candidate>>,
        /// What to ask the requester for when nothing could be proposed.
        advice: Option<String>,
    },
    /// The passphrase at the idle lock was right.
    Unlocked,
    /// Another session changed these records (a shared store).
    External(Vec<RecordId>),
    /// Records another session changed were read again; what to say.
    ExternalDone(String),
    /// Who else works on the store now.
    Present(Vec<String>),
    /// Records changed: the data rebuilt (the scan follows).
    Refreshed(Arc<Data>),
    /// Records changed: what to change in the data, and in the findings
    /// (none: a full scan follows); `version` is the data's afterwards.
    Patched {
        data: Arc<DataPatch>,
        findings: Option<Arc<crate::findings::Patch>>,
        /// The data version the patch was made from.
        base: u64,
        version: u64,
    },
    /// The findings of the records at data version `.1` (ignored when the
    /// records have changed since).
    ScannedAt(Arc<Report>, u64),
    /// A remedy's plan and the preview lines of what it will change.
    RemedyPlanned(Box<super::forms::Remedy>, Vec<String>),
    /// A stored receipt, as lines to show.
    ReceiptShown(String, Vec<String>),
    /// A read-only session's snapshot was replaced or withdrawn by the
    /// holder (an erasure among the changes, perhaps): the view ends.
    ReadOnlyEnded(String),
}

/// The Requests screen's state.
#[derive(Default)]
pub struct RequestsState {
    /// The queue, soonest due first (None: not loaded yet).
    pub list: Option<Arc<Vec<crate::service::requests::RequestView>>>,
    pub selected: usize,
    pub offset: Cell<usize>,
    pub page: Cell<usize>,
    pub stale: bool,
    /// The request whose page is open (None: the queue).
    pub open: Option<String>,
    /// The candidates matched for a request (reference, candidates).
    pub matches: Option<(String, Arc<Vec<crate::service::fulfil::Candidate>>)>,
    /// What to ask the requester for, when matching proposed nothing.
    pub advice: Option<String>,
    /// The candidate under the cursor on the request's page.
    pub cand: usize,
    pub cand_offset: Cell<usize>,
    pub cand_page: Cell<usize>,
    /// Match the open request again once the queue is reloaded (a change
    /// dropped its candidates).
    pub rematch: bool,
}

impl RequestsState {
    /// The request on the open page, else the one under the cursor.
    pub fn current(&self) -> Option<&crate::service::requests::RequestView> {
        let list = self.list.as_ref()?;
        match &self.open {
            Some(r) => list.iter().find(|v| &v.reference == r),
            None => list.get(self.selected),
        }
    }

    /// The open request's candidates.
    pub fn candidates(&self) -> &[crate::service::fulfil::Candidate] {
        match (&self.open, &self.matches) {
            (Some(r), Some((m, c))) if r == m => c,
            _ => &[],
        }
    }
}

/// Why a request cannot be fulfilled yet, in keys.
pub(crate) fn not_ready(v: &crate::service::requests::RequestView) -> Option<String> {
    use crate::service::requests::Missing;
    Some(match v.missing()? {
        Missing::Verification => {
            format!("verify the requester's identity first (v): {} is {}", v.reference, v.verification.status)
        }
        Missing::Records => "no records are linked yet: open the request (Enter) and link them (Space, or L)".into(),
    })
}

/// The audit screen's state.
#[derive(Default)]
pub struct AuditState {
    /// Entries, oldest first (None: not loaded yet).
    pub entries: Option<Arc<Vec<Entry>>>,
    pub selected: usize,
    pub offset: Cell<usize>,
    pub page: Cell<usize>,
    pub action: Option<String>,
    pub user: Option<String>,
    pub record: Option<String>,
    /// Something changed since the entries were loaded.
    pub stale: bool,
}

impl AuditState {
    /// Entries passing the filters, newest first.
    pub fn visible(&self) -> Vec<&Entry> {
        let Some(all) = &self.entries else { return Vec::new() };
        all.iter()
            .rev()
            .filter(|e| {
                self.action.as_ref().is_none_or(|a| &e.action == a)
                    && self.user.as_ref().is_none_or(|u| &e.user == u)
                    && self.record.as_ref().is_none_or(|r| e.records.iter().any(|x| x == r))
            })
            .collect()
    }

    /// The next value of a filter among those present (None after the last).
    pub(crate) fn cycle(&self, current: &Option<String>, of: impl Fn(&Entry) -> &str) -> Option<String> {
        let all = self.entries.as_ref()?;
        let values: std::collections::BTreeSet<&str> = all.iter().map(&of).collect();
        match current {
            None => values.first().map(|s| (*s).to_owned()),
            Some(c) => values.iter().skip_while(|v| **v != c.as_str()).nth(1).map(|s| (*s).to_owned()),
        }
    }
}

/// Static facts about the session, for the header and dashboard.
#[derive(Clone, Debug, Default)]
pub struct SessionInfo {
    pub store: String,
    pub user: String,
    pub role: String,
    pub size_on_disk: u64,
    pub demo: bool,
    /// A read-only session: when its snapshot was published.
    pub read_only: Option<String>,
    /// Lock the screen after this many idle seconds (None: never).
    pub idle_lock: Option<u64>,
}

/// The idle lock's screen state. The passphrase is wiped when dropped.
#[derive(Default)]
pub struct Locked {
    pub secret: zeroize::Zeroizing<String>,
    pub message: Option<String>,
    pub busy: bool,
}

/// Search state: the query being typed and the latest results for it.
#[derive(Default)]
pub struct SearchState {
    pub query: String,
    /// Results of the latest finished search for `query` (None: no filter).
    pub hits: Option<Arc<Vec<Hit>>>,
    /// A search is running for a newer query than `hits` answers.
    pub pending: bool,
    pub generation: u64,
    /// The last finished search (query, hits), reused to narrow the next.
    last: Option<(String, Arc<Vec<Hit>>)>,
}

/// The records table's state.
pub struct TableState {
    pub selected: usize,
    /// First visible row; adjusted by the renderer to keep the selection in view.
    pub offset: Cell<usize>,
    /// Rows the table showed last frame (for paging).
    pub page: Cell<usize>,
    pub detail: bool,
    pub sort: SortKey,
    pub descending: bool,
    pub sort_generation: u64,
    /// Record indices in the current sort order (None: natural order).
    pub order: Option<Arc<Vec<u32>>>,
}

impl Default for TableState {
    fn default() -> Self {
        Self {
            selected: 0,
            offset: Cell::new(0),
            page: Cell::new(10),
            detail: false,
            sort: SortKey::Imported,
            descending: false,
            sort_generation: 0,
            order: None,
        }
    }
}

/// The whole UI state.
pub struct App {
    pub screen: Screen,
    pub mode: Mode,
    pub data: Option<Arc<Data>>,
    pub loading: Option<(usize, usize)>,
    pub error: Option<String>,
    pub table: TableState,
    pub search: SearchState,
    pub help_scroll: u16,
    /// Findings of the last scan, when it has finished.
    pub report: Option<Arc<Report>>,
    /// What the background scan is doing, while it runs.
    pub scan_stage: Option<String>,
    /// Records screen: only records with findings of this kind.
    pub filter: Option<Kind>,
    /// The rows shown while `filter` is set.
    pub filtered: Option<Arc<Vec<u32>>>,
    pub findings: FindingsState,
    pub info: SessionInfo,
    pub theme: Theme,
    pub quit: bool,
    pub now: chrono::DateTime<chrono::Utc>,
    /// The open dialog, if any.
    pub form: Option<Form>,
    /// Records selected with Space, for bulk erase and export.
    pub selection: std::collections::BTreeSet<RecordId>,
    /// The last merge, while `u` can still undo it.
    pub last_merge: Option<String>,
    /// A job is running (what it is).
    pub busy: Option<String>,
    /// The outcome of the last job, shown in the status bar.
    pub notice: Option<String>,
    pub audit: AuditState,
    pub sources: super::screens::sources::SourcesState,
    pub breaches: super::screens::breaches::BreachesState,
    /// The record revealed for the cursor's row (dropped when it moves).
    pub revealed: Option<Box<Record>>,
    /// Seconds since the last key.
    pub idle: u64,
    pub requests: RequestsState,
    /// Request figures, users and the last audit verification.
    pub overview: Option<Arc<crate::service::report::Overview>>,
    /// The screen is locked: no decrypted data is held.
    pub locked: Option<Locked>,
    /// A read-only view that has ended (why): no data is held, and only
    /// quitting is left.
    pub ended: Option<String>,
    /// The open dialog could not be drawn whole in the last frame (the
    /// terminal is too small): it takes no keys but Esc and Ctrl-C, so
    /// nothing is confirmed unseen. Set by the drawing.
    pub form_hidden: Cell<bool>,
    /// Who else works on a shared store (see `Service::others`).
    pub others: Vec<String>,
    /// Records other sessions changed, waiting to be read again.
    pub external: std::collections::BTreeSet<RecordId>,
}

impl App {
    pub fn new(info: SessionInfo, theme: Theme) -> App {
        App {
            screen: Screen::Dashboard,
            mode: Mode::Global,
            data: None,
            loading: Some((0, 0)),
            error: None,
            table: TableState::default(),
            search: SearchState::default(),
            help_scroll: 0,
            report: None,
            scan_stage: None,
            filter: None,
            filtered: None,
            findings: FindingsState::default(),
            info,
            theme,
            quit: false,
            now: chrono::Utc::now(),
            form: None,
            selection: Default::default(),
            last_merge: None,
            busy: None,
            notice: None,
            audit: AuditState::default(),
            sources: Default::default(),
            breaches: Default::default(),
            revealed: None,
            idle: 0,
            requests: RequestsState::default(),
            overview: None,
            locked: None,
            ended: None,
            form_hidden: Cell::new(false),
            others: Vec::new(),
            external: Default::default(),
        }
    }

    /// The session's role (viewer when unknown: show the least).
    pub fn role(&self) -> crate::service::Role {
        self.info.role.parse().unwrap_or(crate::service::Role::Viewer)
    }

    /// The role the keys act with: a read-only session changes nothing, so
    /// it offers and takes only what a viewer may do.
    pub fn acting_role(&self) -> crate::service::Role {
        if self.info.read_only.is_some() { crate::service::Role::Viewer } else { self.role() }
    }

    /// True when the help and the status bar offer `a`: the role may use
    /// it, and it applies to the item under the cursor (no `m merge` on a
    /// stale finding, no `x erase` on a rejected request).
    pub fn offers(&self, a: Action, mode: Mode) -> bool {
        if a.min_role() > self.acting_role() {
            return false;
        }
        match mode {
            Mode::Findings => {
                let (kind, header) = super::screens::findings::cursor_kind(self);
                super::screens::findings::applies(a, kind, header)
            }
            Mode::Requests => self.request_offers(a),
            Mode::Sources if matches!(a, Action::SourceSync | Action::SourcePush) => self
                .sources
                .current()
                .is_some_and(|s| s.kind == "postgres" && (a == Action::SourceSync || s.pending > 0)),
            // A closed incident takes no more steps; its report can still be written.
            Mode::Breaches
                if matches!(
                    a,
                    Action::BreachNote
                        | Action::BreachRisk
                        | Action::BreachAuthority
                        | Action::BreachList
                        | Action::BreachPeople
                        | Action::BreachClose
                        | Action::BreachReport
                ) =>
            {
                self.breaches.current().is_some_and(|b| b.is_open() || a == Action::BreachReport)
            }
            Mode::Audit if a == Action::ShowReceipt => self
                .audit
                .visible()
                .get(self.audit.selected)
                .is_some_and(|e| e.detail.as_deref().is_some_and(|d| d.contains("rcpt-"))),
            _ => true,
        }
    }

    /// [`App::offers`] on the Requests screen.
    fn request_offers(&self, a: Action) -> bool {
        use crate::model::request::RequestKind;
        let Some(v) = self.requests.current() else { return is_navigation(a) };
        let open_page = self.requests.open.is_some();
        if a.min_role() > crate::service::Role::Viewer && !v.status.is_open() {
            return false;
        }
        match a {
            Action::OpenRequest => !open_page,
            Action::CloseRequest => open_page,
            Action::Erase => v.kind == RequestKind::Erasure,
            Action::Export => matches!(v.kind, RequestKind::Access | RequestKind::Portability),
            Action::Edit => v.kind == RequestKind::Rectification && open_page,
            Action::Link | Action::LinkProposed | Action::MatchRequest => open_page,
            _ => true,
        }
    }

    /// The ids of the records in view on the Records screen (search and
    /// filter applied), in their order.
    pub fn ids_in_view(&self) -> Vec<RecordId> {
        (0..self.row_count())
            .filter_map(|row| self.record_at(row))
            .filter_map(|i| self.data.as_ref().and_then(|d| d.records.get(i)).map(|r| r.id))
            .collect()
    }

    /// The selection, else the records in view.
    pub fn selected_or_in_view(&self) -> Vec<RecordId> {
        if self.selection.is_empty() { self.ids_in_view() } else { self.selection.iter().copied().collect() }
    }

    /// True, or an error shown, when the role may use `a`.
    pub(crate) fn may(&mut self, a: Action) -> bool {
        let need = a.min_role();
        if self.acting_role() >= need {
            return true;
        }
        if self.info.read_only.is_some() {
            self.error = Some("this is a read-only session: nothing can be changed here".into());
            return false;
        }
        self.error = Some(format!("your role {} cannot do that (it needs {})", self.role().name(), need.name()));
        false
    }

    /// The key mode in force (a dialog's own, when one is open).
    pub fn key_mode(&self) -> Mode {
        match &self.form {
            Some(f) => f.mode(),
            None => self.mode,
        }
    }

    /// Number of rows in the records table as it stands (filter applied).
    pub fn row_count(&self) -> usize {
        if let Some(f) = &self.filtered {
            return f.len();
        }
        match (&self.search.hits, &self.data) {
            (Some(h), _) => h.len(),
            (None, Some(d)) => d.records.len(),
            (None, None) => 0,
        }
    }

    /// Record index shown at table row `row`.
    pub fn record_at(&self, row: usize) -> Option<usize> {
        if let Some(f) = &self.filtered {
            return f.get(row).map(|i| *i as usize);
        }
        self.unfiltered_at(row)
    }

    /// Record index at `row` of the table before the kind filter.
    fn unfiltered_at(&self, row: usize) -> Option<usize> {
        let data = self.data.as_ref()?;
        let idx = match &self.search.hits {
            Some(h) => h.get(row)?.index as usize,
            None => match &self.table.order {
                Some(o) => {
                    let i = if self.table.descending { o.len().checked_sub(row + 1)? } else { row };
                    *o.get(i)? as usize
                }
                None => {
                    if row >= data.records.len() {
                        return None;
                    }
                    if self.table.descending { data.records.len() - 1 - row } else { row }
                }
            },
        };
        (idx < data.records.len()).then_some(idx)
    }

    /// Rebuilds the filtered rows after the filter, search, sort or
    /// findings changed.
    pub(crate) fn refilter(&mut self) {
        self.filtered = None;
        let (Some(kind), Some(report), Some(data)) = (self.filter, &self.report, &self.data) else { return };
        let n = match &self.search.hits {
            Some(h) => h.len(),
            None => data.records.len(),
        };
        let bit = kind.bit();
        let rows: Vec<u32> = (0..n)
            .filter_map(|row| self.unfiltered_at(row))
            .filter(|&i| report.kinds.get(i).is_some_and(|k| k & bit != 0))
            .map(|i| i as u32)
            .collect();
        self.filtered = Some(Arc::new(rows));
        self.table.selected = 0;
        self.table.offset.set(0);
    }

    /// Kinds present in the report, for the filter cycle.
    pub(crate) fn next_filter(&self) -> Option<Kind> {
        let report = self.report.as_ref()?;
        let summary = report.summary();
        let present: Vec<Kind> = Kind::ALL.into_iter().filter(|k| summary.get(k).copied().unwrap_or(0) > 0).collect();
        match self.filter {
            None => present.first().copied(),
            Some(cur) => present.iter().skip_while(|k| **k != cur).nth(1).copied(),
        }
    }

    /// The selected record, if any.
    pub fn selected_record(&self) -> Option<&Record> {
        let i = self.record_at(self.table.selected)?;
        self.data.as_ref()?.records.get(i)
    }

    /// Applies one event; returns the work to start.
    pub fn update(&mut self, event: Event) -> Vec<Effect> {
        if self.ended.is_some() {
            // Nothing more is loaded or shown; a key can only quit.
            if let Event::Key(k) = event
                && k.kind == KeyEventKind::Press
                && (matches!(k.code, KeyCode::Char('q') | KeyCode::Esc)
                    || (k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL)))
            {
                self.quit = true;
            }
            return Vec::new();
        }
        match event {
            Event::ReadOnlyEnded(why) => {
                self.lock();
                self.locked = None;
                self.busy = None;
                self.loading = None;
                self.ended = Some(why);
                vec![Effect::Forget]
            }
            Event::Key(k) => self.on_key(k),
            Event::Resize => Vec::new(),
            Event::LoadProgress { done, total } => {
                self.loading = Some((done, total));
                Vec::new()
            }
            Event::Loaded(data) => {
                if let Some(list) = &self.sources.list {
                    let mut list = (**list).clone();
                    super::screens::sources::count_held(&mut list, &data);
                    self.sources.list = Some(Arc::new(list));
                }
                self.data = Some(data);
                self.loading = None;
                // A query typed while loading runs now.
                if self.search.query.trim().is_empty() { Vec::new() } else { self.start_search() }
            }
            Event::LoadFailed(e) => {
                self.loading = None;
                self.scan_stage = None;
                self.error = Some(e);
                Vec::new()
            }
            Event::ScanProgress(stage) => {
                self.scan_stage = Some(stage);
                Vec::new()
            }
            Event::Scanned(report) => {
                self.findings.rescanned(&report);
                self.report = Some(report);
                self.scan_stage = None;
                self.refilter();
                Vec::new()
            }
            Event::SearchDone { generation, query, hits } => {
                if generation == self.search.generation {
                    self.search.hits = Some(hits.clone());
                    self.search.pending = false;
                    self.table.selected = 0;
                    self.table.offset.set(0);
                    self.refilter();
                }
                self.search.last = Some((query, hits));
                Vec::new()
            }
            Event::SortDone { generation, order } => {
                if generation == self.table.sort_generation {
                    self.table.order = Some(order);
                    self.refilter();
                }
                Vec::new()
            }
            Event::External(ids) => {
                if ids.is_empty() {
                    // No record changed (a reveal, an export, a request):
                    // the lists on other screens did.
                    self.audit.stale = true;
                    self.requests.stale = true;
                    self.sources.stale = true;
                    if self.busy.is_none() && self.form.is_none() {
                        return self.reload_visible_list(false);
                    }
                    return Vec::new();
                }
                self.external.extend(ids);
                self.refresh_external()
            }
            Event::ExternalDone(message) => {
                self.busy = None;
                self.notice = Some(message);
                self.audit.stale = true;
                self.requests.stale = true;
                self.sources.stale = true;
                // Candidates may show records that are gone now.
                self.requests.matches = None;
                let mut effects = self.reload_visible_list(false);
                effects.extend(self.refresh_external());
                effects
            }
            Event::Present(names) => {
                self.others = names;
                Vec::new()
            }
            Event::Acted { message, merge, changed } => {
                self.busy = None;
                self.notice = Some(message);
                self.form = None;
                self.mode = Mode::Global;
                self.audit.stale = true;
                self.requests.stale = true;
                self.sources.stale = true;
                // `u` undoes the last change, only: one that cannot be
                // undone (an erasure, a verification) leaves nothing to undo.
                if merge.is_some() || changed {
                    self.last_merge = merge;
                }
                if changed {
                    self.selection.clear();
                    // Candidates may show records that are gone now.
                    self.requests.matches = None;
                }
                // Candidates dropped by a change are matched again once the
                // reloaded queue says the request is still open.
                let mut effects = self.reload_visible_list(changed);
                effects.extend(self.refresh_external());
                effects
            }
            Event::Revealed(r) => {
                self.busy = None;
                self.form = None;
                self.mode = Mode::Global;
                self.table.detail = true;
                self.notice = Some("revealed until you move on (audited)".into());
                self.audit.stale = true;
                self.revealed = Some(r);
                Vec::new()
            }
            Event::EditReady(r, request) => {
                self.busy = None;
                self.audit.stale = true;
                let mut form = EditForm::new(&r);
                form.for_request = request;
                self.open_form(Form::Edit(Box::new(form)));
                Vec::new()
            }
            Event::MergeReady(plan) => {
                self.busy = None;
                self.audit.stale = true;
                self.open_form(Form::Merge(Box::new(MergeForm::new(*plan))));
                Vec::new()
            }
            Event::RequestsLoaded(list) => {
                // The cursor stays on its request when the order changes (a
                // completed or extended request moves down the queue).
                // A request that closed goes to the end; the cursor then
                // goes back to the top (the most urgent).
                let current = self.requests.list.as_ref().and_then(|l| l.get(self.requests.selected));
                let same = current.and_then(|c| list.iter().position(|v| v.reference == c.reference));
                self.requests.selected = match same {
                    Some(i) if list[i].status.is_open() || self.requests.open.is_some() => i,
                    Some(_) => 0,
                    None => self.requests.selected.min(list.len().saturating_sub(1)),
                };
                // Candidates show whether they are linked now; a closed
                // request's candidates go (after an erasure they are the
                // erased person's details).
                if let Some((reference, cands)) = &mut self.requests.matches {
                    match list.iter().find(|v| &v.reference == reference) {
                        Some(v) if v.status.is_open() => {
                            for c in Arc::make_mut(cands).iter_mut() {
                                c.linked = v.records.contains(&c.id);
                            }
                        }
                        _ => self.requests.matches = None,
                    }
                }
                self.requests.list = Some(list);
                self.requests.stale = false;
                if std::mem::take(&mut self.requests.rematch)
                    && self.busy.is_none()
                    && let Some(v) = self.requests.current()
                    && v.status.is_open()
                    && v.requester_erased.is_none()
                {
                    let reference = v.reference.clone();
                    self.busy = Some("matching the requester to records".into());
                    return vec![Effect::Job(Job::MatchRequest { reference })];
                }
                Vec::new()
            }
            Event::OverviewLoaded(o) => {
                self.overview = Some(o);
                Vec::new()
            }
            Event::Matched { reference, candidates, advice } => {
                self.busy = None;
                self.audit.stale = true;
                let proposed = candidates.iter().filter(|c| c.proposed).count();
                self.notice = Some(match &advice {
                    Some(a) if proposed == 0 => format!("nothing proposed: {a}"),
                    _ => format!(
                        "{} record(s) may be the requester's; {proposed} proposed (Space links one, L all proposed)",
                        candidates.len()
                    ),
                });
                self.requests.cand = 0;
                self.requests.advice = advice;
                self.requests.matches = Some((reference, candidates));
                Vec::new()
            }
            Event::Tick => {
                self.idle += 1;
                if let Some(limit) = self.info.idle_lock
                    && self.idle >= limit
                    && self.locked.is_none()
                    && self.busy.is_none()
                {
                    self.lock();
                    return vec![Effect::Forget];
                }
                Vec::new()
            }
            Event::Unlocked => {
                self.locked = None;
                self.loading = Some((0, 0));
                self.notice = Some("unlocked".into());
                vec![Effect::Reload]
            }
            Event::Busy(msg) => {
                if self.busy.is_some() {
                    self.busy = Some(msg);
                }
                Vec::new()
            }
            Event::ActFailed(e) if self.locked.is_some() => {
                if let Some(l) = &mut self.locked {
                    l.busy = false;
                    l.message = Some(e);
                }
                Vec::new()
            }
            Event::ActFailed(e) => {
                self.busy = None;
                // A request's erasure whose plan was refused has nothing to show.
                if let Some(Form::Erase(f)) = &self.form
                    && f.for_request.is_some()
                    && f.plan.is_none()
                {
                    self.form = None;
                    self.mode = Mode::Global;
                }
                // Nor does a remedy whose plan (a dry run) failed.
                if let Some(Form::Remedy(f)) = &self.form
                    && f.remedy.needs_plan()
                    && f.preview.is_empty()
                {
                    self.form = None;
                    self.mode = Mode::Global;
                }
                self.error = Some(e);
                self.audit.stale = true;
                Vec::new()
            }
            Event::ReceiptShown(id, lines) => {
                self.busy = None;
                self.open_form(Form::Receipt(Box::new(forms::ReceiptView { id, lines, scroll: 0 })));
                Vec::new()
            }
            Event::RemedyPlanned(remedy, lines) => {
                if let Some(Form::Remedy(f)) = &mut self.form
                    && std::mem::discriminant(&f.remedy) == std::mem::discriminant(&*remedy)
                {
                    f.remedy = *remedy;
                    f.preview = lines;
                    if let forms::Remedy::BulkMerge { plan: Some(p), .. } = &f.remedy {
                        f.promise = Some((Kind::Duplicate, p.clusters.len()));
                    }
                }
                Vec::new()
            }
            Event::ErasePlanned(plan) => {
                let labels = self.labels(&plan.records);
                if let Some(Form::Erase(f)) = &mut self.form
                    && (f.ids == plan.records || f.for_request.is_some())
                    && f.strategy == plan.strategy
                {
                    if f.for_request.is_some() {
                        f.ids = plan.records.clone();
                        f.labels = labels;
                    }
                    f.plan = Some(*plan);
                }
                Vec::new()
            }
            Event::BreachesLoaded(list) => {
                self.breaches.selected = self.breaches.selected.min(list.len().saturating_sub(1));
                self.breaches.list = Some(list);
                self.breaches.stale = false;
                Vec::new()
            }
            Event::SourcesLoaded(list) => {
                self.sources.selected = self.sources.selected.min(list.len().saturating_sub(1));
                self.sources.list = Some(list);
                self.sources.stale = false;
                Vec::new()
            }
            Event::Resynced(message) => {
                let mut effects = self.update(Event::Acted { message, merge: None, changed: true });
                self.data = None;
                self.report = None;
                self.filtered = None;
                self.loading = Some((0, 0));
                effects.push(Effect::Reload);
                effects
            }
            Event::AuditLoaded(entries) => {
                self.audit.entries = Some(entries);
                self.audit.stale = false;
                self.audit.selected = self.audit.selected.min(self.audit.visible().len().saturating_sub(1));
                Vec::new()
            }
            Event::ScannedAt(report, version) => {
                if self.data.as_ref().is_some_and(|d| d.version == version) {
                    return self.update(Event::Scanned(report));
                }
                Vec::new()
            }
            Event::Patched { data: patch, findings, base, version } => {
                if self.data.as_ref().is_some_and(|d| d.version != base) {
                    // Made from records this screen no longer holds: decrypt
                    // and scan again rather than patch the wrong ones.
                    self.data = None;
                    self.report = None;
                    self.filtered = None;
                    self.loading = Some((0, 0));
                    return vec![Effect::Reload];
                }
                let moved = findings.as_ref().is_some_and(|f| f.remap.is_some())
                    || !patch.remove.is_empty()
                    || self.data.as_ref().is_some_and(|d| {
                        patch.put.iter().any(|(r, _)| d.records.binary_search_by(|x| x.id.cmp(&r.id)).is_err())
                    });
                let trace = std::env::var_os("STEWARD_TRACE").is_some();
                let t = std::time::Instant::now();
                if let Some(d) = &mut self.data {
                    Arc::make_mut(d).apply(&patch, version);
                }
                if trace {
                    eprintln!("  {:>8} ms  records patched", t.elapsed().as_millis());
                }
                match (findings, &mut self.report) {
                    (Some(p), Some(r)) => {
                        Arc::make_mut(r).apply(&p);
                        if trace {
                            eprintln!("  {:>8} ms  findings patched", t.elapsed().as_millis());
                        }
                        let r = r.clone();
                        self.findings.rescanned(&r);
                    }
                    _ => {
                        self.report = None;
                        self.findings.open = false;
                        self.scan_stage = Some("re-checking after the change".into());
                    }
                }
                self.filtered = None;
                let mut effects = Vec::new();
                if moved {
                    // Indices into the old records are void: sort, search.
                    self.table.order = None;
                    self.search.last = None;
                    if !self.search.query.trim().is_empty() {
                        effects.extend(self.start_search());
                    }
                }
                if self.table.sort != SortKey::Imported {
                    let sel = self.table.selected;
                    effects.extend(self.start_sort());
                    self.table.selected = sel;
                }
                self.refilter();
                self.table.selected = self.table.selected.min(self.row_count().saturating_sub(1));
                effects
            }
            Event::Refreshed(data) => {
                // Indices into the old records are void: findings, sort, search.
                self.data = Some(data);
                self.report = None;
                self.filtered = None;
                self.findings.open = false;
                self.scan_stage = Some("re-checking after the change".into());
                self.table.order = None;
                self.search.last = None;
                let mut effects = Vec::new();
                if self.table.sort != SortKey::Imported {
                    let sel = self.table.selected;
                    effects = self.start_sort();
                    self.table.selected = sel;
                }
                if !self.search.query.trim().is_empty() {
                    effects.extend(self.start_search());
                }
                self.table.selected = self.table.selected.min(self.row_count().saturating_sub(1));
                effects
            }
        }
    }

    /// Locks the screen and lets go of every decrypted record.
    pub fn lock(&mut self) {
        self.data = None;
        self.report = None;
        self.filtered = None;
        self.search.hits = None;
        self.search.last = None;
        self.table.order = None;
        self.revealed = None;
        self.form = None;
        self.mode = Mode::Global;
        self.selection.clear();
        self.audit.entries = None;
        self.requests.list = None;
        self.requests.matches = None;
        self.overview = None;
        self.findings.open = false;
        self.notice = None;
        self.locked = Some(Locked::default());
    }

    fn on_locked_key(&mut self, k: &KeyEvent) -> Vec<Effect> {
        let Some(l) = &mut self.locked else { return Vec::new() };
        if l.busy {
            return Vec::new();
        }
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        match k.code {
            KeyCode::Char('c') if ctrl => self.quit = true,
            KeyCode::Char('u') if ctrl => l.secret.clear(),
            KeyCode::Backspace => {
                l.secret.pop();
            }
            KeyCode::Char(c) if !ctrl && !c.is_control() && l.secret.chars().count() < 1024 => l.secret.push(c),
            KeyCode::Enter if !l.secret.is_empty() => {
                l.busy = true;
                l.message = None;
                let secret = Arc::new(secrecy::SecretString::from(l.secret.as_str().to_owned()));
                l.secret.clear();
                return vec![Effect::Job(Job::Unlock { secret })];
            }
            _ => {}
        }
        Vec::new()
    }

    /// Work to start on entering `screen`.
    fn entered(&mut self) -> Vec<Effect> {
        if self.screen == Screen::Requests
            && (self.requests.list.is_none() || self.requests.stale)
            && self.busy.is_none()
            && self.locked.is_none()
        {
            self.requests.stale = false;
            return vec![Effect::Job(Job::LoadRequests)];
        }
        if self.screen == Screen::Sources && (self.sources.list.is_none() || self.sources.stale) && self.busy.is_none()
        {
            self.sources.stale = false;
            return vec![Effect::Job(Job::LoadSources)];
        }
        if self.screen == Screen::Breaches
            && (self.breaches.list.is_none() || self.breaches.stale)
            && self.busy.is_none()
            && self.acting_role() >= crate::service::Role::Steward
            && self.locked.is_none()
        {
            self.breaches.stale = false;
            return vec![Effect::Job(Job::LoadBreaches)];
        }
        if self.screen == Screen::Audit && (self.audit.entries.is_none() || self.audit.stale) && self.busy.is_none() {
            self.audit.stale = false;
            return vec![Effect::Job(Job::LoadAudit)];
        }
        Vec::new()
    }

    /// Starts a job unless one is running.
    /// Reads again what other sessions changed, once nothing else runs
    /// (an open dialog stays: saving it is refused if its record changed).
    fn refresh_external(&mut self) -> Vec<Effect> {
        if self.external.is_empty() || self.busy.is_some() || self.data.is_none() {
            return Vec::new();
        }
        let ids: Vec<RecordId> = std::mem::take(&mut self.external).into_iter().collect();
        self.busy = Some("reading another session's changes".into());
        vec![Effect::Job(Job::Refresh { ids })]
    }

    /// The effect that reloads the list on screen (audit, requests,
    /// sources) after a change.
    fn reload_visible_list(&mut self, changed: bool) -> Vec<Effect> {
        match self.screen {
            Screen::Audit => vec![Effect::Job(Job::LoadAudit)],
            Screen::Sources => {
                self.sources.stale = false;
                vec![Effect::Job(Job::LoadSources)]
            }
            Screen::Breaches if self.acting_role() >= crate::service::Role::Steward => {
                self.breaches.stale = false;
                // The dashboard's Attention panel (the overview) follows.
                vec![Effect::Job(Job::LoadBreaches), Effect::Job(Job::LoadRequests)]
            }
            Screen::Requests => {
                self.requests.stale = false;
                self.requests.rematch = changed && self.requests.open.is_some();
                vec![Effect::Job(Job::LoadRequests)]
            }
            _ => Vec::new(),
        }
    }

    pub(crate) fn job(&mut self, what: &str, job: Job) -> Vec<Effect> {
        if let Some(b) = &self.busy {
            self.error = Some(format!("wait: {b} is still running"));
            return Vec::new();
        }
        self.busy = Some(what.to_owned());
        self.notice = None;
        vec![Effect::Job(job)]
    }

    fn on_form_key(&mut self, k: &KeyEvent) -> Vec<Effect> {
        let cancel = actions::lookup(Mode::Form, k) == Some(Action::FormCancel)
            || (k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL));
        if cancel {
            // Esc or Ctrl-C leaves any dialog (Esc first leaves a preview).
            if k.code == KeyCode::Char('c') {
                self.form = None;
                self.mode = Mode::Global;
                return Vec::new();
            }
        } else if self.form_hidden.get() {
            self.error = Some("the dialog does not fit: enlarge the terminal, or Esc to cancel".into());
            return Vec::new();
        }
        if let Some(Form::Remedy(f)) = &mut self.form {
            return match f.key(k) {
                forms::RemedyOutcome::Stay => Vec::new(),
                forms::RemedyOutcome::Cancel => {
                    self.form = None;
                    self.mode = Mode::Global;
                    Vec::new()
                }
                forms::RemedyOutcome::Replan => {
                    let forms::Remedy::BulkMerge { clusters, .. } = &f.remedy else { return Vec::new() };
                    match f.input("Lowest probability").parse::<f64>() {
                        Ok(min) if (0.5..=1.0).contains(&min) => {
                            let clusters = clusters.clone();
                            f.remedy = forms::Remedy::BulkMerge { clusters: clusters.clone(), plan: None };
                            f.preview.clear();
                            f.promise = None;
                            vec![Effect::Job(Job::PlanBulkMerge { clusters, min })]
                        }
                        _ => {
                            f.focus = 0;
                            self.error = Some("the probability must be a number between 0.5 and 1".into());
                            Vec::new()
                        }
                    }
                }
                forms::RemedyOutcome::Submit => {
                    let inputs = f.inputs.iter().map(|(l, t)| ((*l).to_owned(), t.trimmed().to_owned())).collect();
                    let job = Job::ApplyRemedy { remedy: Box::new(f.remedy.clone()), inputs, given: f.given };
                    self.job("applying the remedy", job)
                }
            };
        }
        let Some(form) = &mut self.form else { return Vec::new() };
        let outcome = match form {
            Form::Remedy(_) => forms::Outcome::Stay,
            Form::Receipt(f) => f.key(k),
            Form::Edit(f) => f.key(k),
            Form::Merge(f) => f.key(k),
            Form::Erase(f) => {
                let had = f.plan.is_some();
                let o = f.key(k);
                if had && f.plan.is_none() {
                    let job = match &f.for_request {
                        Some(reference) => Job::PlanRequestErase { reference: reference.clone(), strategy: f.strategy },
                        None => Job::PlanErase { ids: f.ids.clone(), strategy: f.strategy },
                    };
                    return vec![Effect::Job(job)];
                }
                o
            }
            Form::Export(f) => f.key(k),
            Form::Reveal(f) => f.key(k),
            Form::Note(f) => f.key(k),
            Form::Breach(f) => f.key(k),
        };
        match outcome {
            forms::Outcome::Stay => Vec::new(),
            forms::Outcome::Cancel => {
                self.form = None;
                self.mode = Mode::Global;
                Vec::new()
            }
            forms::Outcome::Submit => {
                let Some(form) = self.form.clone() else { return Vec::new() };
                match form {
                    Form::Remedy(_) | Form::Receipt(_) => Vec::new(),
                    Form::Edit(f) => {
                        let job = Job::Update {
                            seen: Box::new(f.original.clone()),
                            edits: f.edits(),
                            reason: f.reason.trimmed().to_owned(),
                            request: f.for_request.clone(),
                        };
                        self.job("saving", job)
                    }
                    Form::Merge(f) => {
                        let job = Job::Merge { plan: Box::new(f.plan.clone()), reason: f.reason.trimmed().to_owned() };
                        self.job("merging", job)
                    }
                    Form::Note(f) => {
                        let job = Job::NoteRequest {
                            purpose: f.purpose.clone(),
                            text: f.text.trimmed().to_owned(),
                            failed: f.failed,
                        };
                        self.job("updating the request", job)
                    }
                    Form::Erase(f) => match f.plan {
                        Some(plan) if f.for_request.is_some() => {
                            let reference = f.for_request.clone().unwrap_or_default();
                            let job = Job::RequestErase {
                                reference,
                                plan: Box::new(plan),
                                reason: f.reason.trimmed().to_owned(),
                            };
                            self.job("erasing", job)
                        }
                        Some(plan) => {
                            let request = Some(f.request.trimmed().to_owned()).filter(|s| !s.is_empty());
                            let job =
                                Job::Erase { plan: Box::new(plan), reason: f.reason.trimmed().to_owned(), request };
                            self.job("erasing", job)
                        }
                        None => Vec::new(),
                    },
                    Form::Reveal(f) => {
                        let job = Job::Reveal { id: f.id, reason: f.reason.trimmed().to_owned() };
                        self.job("revealing", job)
                    }
                    Form::Export(f) if f.for_request.is_some() => {
                        let job = Job::RequestExport {
                            reference: f.for_request.clone().unwrap_or_default(),
                            recipient: f.recipient.trimmed().to_owned(),
                            file: std::path::PathBuf::from(f.file.trimmed()),
                        };
                        self.job("exporting", job)
                    }
                    Form::Breach(f) => {
                        let job = Job::BreachOpen {
                            discovered: f.discovered.trimmed().to_owned(),
                            what: f.what.trimmed().to_owned(),
                            source: Some(f.source.trimmed().to_owned()).filter(|s| !s.is_empty()),
                            ids: f.ids.clone(),
                        };
                        self.job("opening the breach", job)
                    }
                    Form::Export(f) if f.breach.is_some() => {
                        let job = Job::BreachList {
                            reference: f.breach.clone().unwrap_or_default(),
                            recipient: f.recipient.trimmed().to_owned(),
                            file: std::path::PathBuf::from(f.file.trimmed()),
                        };
                        self.job("writing the notification list", job)
                    }
                    Form::Export(f) if f.purpose.is_some() => {
                        let job = Job::Extract {
                            ids: f.ids.clone(),
                            purpose: f.purpose.as_ref().map(|p| p.trimmed().to_owned()).unwrap_or_default(),
                            recipient: f.recipient.trimmed().to_owned(),
                            file: std::path::PathBuf::from(f.file.trimmed()),
                        };
                        self.job("extracting", job)
                    }
                    Form::Export(f) => {
                        let job = Job::Export {
                            ids: f.ids.clone(),
                            recipient: f.recipient.trimmed().to_owned(),
                            file: std::path::PathBuf::from(f.file.trimmed()),
                        };
                        self.job("exporting", job)
                    }
                }
            }
        }
    }

    /// Opens a remedy's dialog; one that needs a plan (a dry run) asks for it.
    pub(crate) fn open_remedy(&mut self, remedy: forms::Remedy) -> Vec<Effect> {
        let title = match &remedy {
            forms::Remedy::Sync { source, .. } => format!("Sync {}", crate::model::text::fit(source, 30)),
            forms::Remedy::Push { source, .. } => format!("Push to {}", crate::model::text::fit(source, 30)),
            _ => "Remedy".to_owned(),
        };
        let plan = remedy.needs_plan().then(|| Job::PlanRemedy(Box::new(remedy.clone())));
        self.open_form(Form::Remedy(Box::new(forms::RemedyForm::new(remedy, title, Vec::new()))));
        // Like the findings' plans: the dialog waits for it, no job is busy.
        plan.map(Effect::Job).into_iter().collect()
    }

    pub(crate) fn open_form(&mut self, form: Form) {
        self.form = Some(form);
        self.mode = Mode::Form;
        self.notice = None;
        // The next frame draws it (and says whether it fits) before the
        // next key is read.
        self.form_hidden.set(false);
    }

    /// The records an action applies to: the selection, else the cursor's record.
    pub(crate) fn targets(&self) -> Vec<RecordId> {
        if !self.selection.is_empty() {
            return self.selection.iter().copied().collect();
        }
        self.selected_record().map(|r| vec![r.id]).unwrap_or_default()
    }

    pub(crate) fn open_erase(&mut self, ids: Vec<RecordId>) -> Vec<Effect> {
        if ids.is_empty() {
            return Vec::new();
        }
        let job = Job::PlanErase { ids: ids.clone(), strategy: Strategy::Delete };
        let labels = self.labels(&ids);
        self.open_form(Form::Erase(Box::new(EraseForm::new(ids, labels))));
        vec![Effect::Job(job)]
    }

    /// Who records are, for the erase dialog: the first few names and source ids.
    pub(crate) fn labels(&self, ids: &[RecordId]) -> Vec<String> {
        match &self.data {
            Some(d) => ids
                .iter()
                .take(5)
                .filter_map(|id| d.records.binary_search_by(|r| r.id.cmp(id)).ok().map(|i| &d.records[i]))
                .map(|r| format!("{} ({}:{})", r.display_name(), r.provenance.source, r.source_id))
                .collect(),
            None => Vec::new(),
        }
    }

    pub(crate) fn undo_merge(&mut self) -> Vec<Effect> {
        match self.last_merge.take() {
            Some(m) => self.job("undoing", Job::Undo { merge: m }),
            None => {
                self.error = Some(
                    "nothing to undo: the last change was not a merge, edit, redaction or field drop (steward undo \
                     --list shows older ones)"
                        .into(),
                );
                Vec::new()
            }
        }
    }

    fn on_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        if k.kind != KeyEventKind::Press {
            return Vec::new();
        }
        self.idle = 0;
        if self.locked.is_some() {
            return self.on_locked_key(&k);
        }
        let effects = self.on_key_inner(k);
        // A revealed record stays revealed only while the cursor is on it.
        if let Some(r) = &self.revealed
            && (self.screen != Screen::Records || self.selected_record().map(|x| x.id) != Some(r.id))
        {
            self.revealed = None;
        }
        effects
    }

    fn on_key_inner(&mut self, k: KeyEvent) -> Vec<Effect> {
        self.error = None;
        if self.form.is_some() {
            return self.on_form_key(&k);
        }
        match self.mode {
            Mode::Help => {
                match actions::lookup(Mode::Help, &k) {
                    Some(Action::CloseHelp) => self.mode = Mode::Global,
                    _ => match k.code {
                        KeyCode::Down | KeyCode::Char('j') => self.help_scroll = self.help_scroll.saturating_add(1),
                        KeyCode::Up | KeyCode::Char('k') => self.help_scroll = self.help_scroll.saturating_sub(1),
                        _ => {}
                    },
                }
                Vec::new()
            }
            Mode::Search => self.on_search_key(k),
            _ => {
                if let Some(a) = actions::lookup(Mode::Global, &k) {
                    return self.global(a);
                }
                if self.screen == Screen::Records
                    && let Some(a) = actions::lookup(Mode::Records, &k)
                {
                    return if self.may(a) { super::screens::records::on_action(self, a) } else { Vec::new() };
                }
                if self.screen == Screen::Findings
                    && let Some(a) = actions::lookup(Mode::Findings, &k)
                {
                    return if self.may(a) { super::screens::findings::on_action(self, a) } else { Vec::new() };
                }
                if self.screen == Screen::Audit
                    && let Some(a) = actions::lookup(Mode::Audit, &k)
                {
                    if a == Action::ShowReceipt {
                        let entry = self.audit.visible().get(self.audit.selected).map(|e| (*e).clone());
                        let receipt = entry.as_ref().and_then(|e| {
                            e.detail.as_deref().and_then(|d| d.split([' ', ':', ',']).find(|w| w.starts_with("rcpt-")))
                        });
                        return match receipt {
                            Some(id) => self.job("reading the receipt", Job::Receipt { id: id.to_owned() }),
                            None => {
                                self.error = Some("this entry has no receipt (erasures have one)".into());
                                Vec::new()
                            }
                        };
                    }
                    if a == Action::AuditVerify {
                        return if self.may(a) {
                            self.job("verifying the audit trail", Job::AuditVerify)
                        } else {
                            Vec::new()
                        };
                    }
                    super::screens::audit::on_action(self, a);
                }
                if self.screen == Screen::Requests
                    && let Some(a) = actions::lookup(Mode::Requests, &k)
                {
                    return if self.may(a) { super::screens::requests::on_action(self, a) } else { Vec::new() };
                }
                if self.screen == Screen::Sources
                    && let Some(a) = actions::lookup(Mode::Sources, &k)
                {
                    return if self.may(a) { super::screens::sources::on_action(self, a) } else { Vec::new() };
                }
                if self.screen == Screen::Breaches
                    && let Some(a) = actions::lookup(Mode::Breaches, &k)
                {
                    return if self.may(a) { super::screens::breaches::on_action(self, a) } else { Vec::new() };
                }
                Vec::new()
            }
        }
    }

    fn global(&mut self, a: Action) -> Vec<Effect> {
        match a {
            Action::Quit => self.quit = true,
            Action::Help => {
                self.mode = Mode::Help;
                // Open at the keys of the screen in use.
                let section = match self.screen {
                    Screen::Records => Mode::Records,
                    Screen::Findings => Mode::Findings,
                    Screen::Requests => Mode::Requests,
                    Screen::Audit => Mode::Audit,
                    Screen::Sources => Mode::Sources,
                    Screen::Breaches => Mode::Breaches,
                    _ => Mode::Global,
                };
                self.help_scroll = super::popups::help::section_start(self, section);
            }
            Action::Search => {
                self.screen = Screen::Records;
                self.mode = Mode::Search;
                self.notice = None;
            }
            Action::NextScreen => self.screen = Screen::ALL[(self.screen.index() + 1) % Screen::ALL.len()],
            Action::PrevScreen => {
                self.screen = Screen::ALL[(self.screen.index() + Screen::ALL.len() - 1) % Screen::ALL.len()]
            }
            Action::Dashboard => self.screen = Screen::Dashboard,
            Action::Records => self.screen = Screen::Records,
            Action::Findings => self.screen = Screen::Findings,
            Action::Requests => self.screen = Screen::Requests,
            Action::Audit => self.screen = Screen::Audit,
            Action::Sources => self.screen = Screen::Sources,
            Action::Breaches => self.screen = Screen::Breaches,
            Action::Housekeeping => {
                if !self.may(a) {
                    return Vec::new();
                }
                let (Some(report), Some(data)) = (&self.report, &self.data) else {
                    self.error = Some("wait for the findings: housekeeping erases the expired ones".into());
                    return Vec::new();
                };
                let ids: Vec<RecordId> = report
                    .findings
                    .iter()
                    .filter(|f| f.kind == Kind::Expired)
                    .filter_map(|f| f.records.first().and_then(|&i| data.records.get(i as usize)).map(|r| r.id))
                    .collect();
                if ids.is_empty() {
                    self.notice = Some("housekeeping: no record is past retention".into());
                    return Vec::new();
                }
                return self.open_erase(ids);
            }
            _ => {}
        }
        self.entered()
    }

    pub(crate) fn move_by(&mut self, delta: isize) {
        let n = self.row_count();
        if n == 0 {
            self.table.selected = 0;
            return;
        }
        let cur = self.table.selected as isize;
        self.table.selected = (cur + delta).clamp(0, n as isize - 1) as usize;
    }

    pub(crate) fn start_sort(&mut self) -> Vec<Effect> {
        self.table.sort_generation += 1;
        self.table.selected = 0;
        if self.table.sort == SortKey::Imported {
            self.table.order = None;
            return Vec::new();
        }
        vec![Effect::Sort { generation: self.table.sort_generation, key: self.table.sort, descending: false }]
    }

    pub(crate) fn clear_search(&mut self) {
        self.search.query.clear();
        self.search.hits = None;
        self.search.pending = false;
        self.search.generation += 1;
        self.table.selected = 0;
        self.table.offset.set(0);
        self.refilter();
    }

    fn on_search_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        match actions::lookup(Mode::Search, &k) {
            Some(Action::SearchAccept) => {
                self.mode = Mode::Global;
                return Vec::new();
            }
            Some(Action::SearchCancel) => {
                self.clear_search();
                self.mode = Mode::Global;
                return Vec::new();
            }
            Some(Action::SearchDelete) => {
                self.search.query.pop();
            }
            Some(Action::SearchClear) => self.search.query.clear(),
            Some(Action::SearchDown) => {
                self.move_by(1);
                return Vec::new();
            }
            Some(Action::SearchUp) => {
                self.move_by(-1);
                return Vec::new();
            }
            _ => match k.code {
                KeyCode::Char(c) if !k.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) => {
                    if self.search.query.chars().count() < 128 && !c.is_control() {
                        self.search.query.push(c);
                    }
                }
                _ => return Vec::new(),
            },
        }
        self.start_search()
    }

    /// Starts a search for the current query (or clears the filter).
    fn start_search(&mut self) -> Vec<Effect> {
        self.search.generation += 1;
        if self.search.query.trim().is_empty() {
            self.search.hits = None;
            self.search.pending = false;
            return Vec::new();
        }
        if self.data.is_none() {
            self.search.pending = true;
            return Vec::new();
        }
        self.search.pending = true;
        // Extending the query can only narrow the results: search within them.
        let within = self
            .search
            .last
            .as_ref()
            .filter(|(q, _)| !q.trim().is_empty() && self.search.query.starts_with(q.as_str()))
            .map(|(_, h)| h.clone());
        vec![Effect::Search { generation: self.search.generation, query: self.search.query.clone(), within }]
    }
}

/// Moves a list's cursor for a navigation action (`n` rows, `page` per
/// screen); false when `a` is not one.
pub(crate) fn step(selected: &mut usize, n: usize, page: usize, a: Action) -> bool {
    let last = n.saturating_sub(1);
    let page = page.max(1);
    *selected = match a {
        Action::Down => (*selected + 1).min(last),
        Action::Up => selected.saturating_sub(1),
        Action::PageDown => (*selected + page).min(last),
        Action::PageUp => selected.saturating_sub(page),
        Action::Top => 0,
        Action::Bottom => last,
        _ => return false,
    };
    true
}

/// True for the keys that only move a cursor.
pub(crate) fn is_navigation(a: Action) -> bool {
    matches!(a, Action::Down | Action::Up | Action::PageDown | Action::PageUp | Action::Top | Action::Bottom)
}

/// Computes a sort order (run on a worker thread).
pub fn sort_order(data: &Data, key: SortKey) -> Vec<u32> {
    use rayon::prelude::*;
    let recs = &data.records;
    let mut order: Vec<u32> = (0..recs.len() as u32).collect();
    let text = |i: u32| -> String {
        let r = &recs[i as usize];
        match key {
            SortKey::Name => format!(
                "{}\u{0}{}",
                r.family_name.as_deref().unwrap_or("\u{10ffff}").to_lowercase(),
                r.given_name.as_deref().unwrap_or("").to_lowercase()
            ),
            SortKey::Email => r.email.as_deref().unwrap_or("\u{10ffff}").to_lowercase(),
            SortKey::Country => r.address.country.clone().unwrap_or_else(|| "\u{10ffff}".into()),
            SortKey::SourceId => r.source_id.clone(),
            SortKey::Updated | SortKey::Imported => String::new(),
        }
    };
    match key {
        SortKey::Imported => {}
        SortKey::Updated => order.par_sort_by_key(|&i| std::cmp::Reverse(recs[i as usize].times.updated)),
        _ => order.par_sort_by_cached_key(|&i| text(i)),
    }
    order
}

/// Runs an effect synchronously (used by tests and as the worker's body).
pub fn run_effect(data: &Data, effect: Effect, generation: &std::sync::atomic::AtomicU64) -> Option<Event> {
    match effect {
        Effect::Search { generation: g, query, within } => {
            let hits = data.index.search(&query, within.as_deref().map(|v| &v[..]), generation, g).ok()?;
            Some(Event::SearchDone { generation: g, query, hits: Arc::new(hits) })
        }
        Effect::Sort { generation, key, .. } => {
            Some(Event::SortDone { generation, order: Arc::new(sort_order(data, key)) })
        }
        Effect::Job(_) | Effect::Reload | Effect::Forget => None,
    }
}
