//! Application state and its transitions: keys and worker results in,
//! effects (work to run off the UI thread) out. No drawing, no terminal,
//! no threads here, so key flows are tested by feeding events.

use std::cell::Cell;
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::actions::{self, Action, Mode};
use super::theme::Theme;
use crate::findings::{Kind, Report};
use crate::model::Record;
use crate::search::{Hit, SearchIndex};
use crate::service::Stats;

/// The screens, in tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    Dashboard,
    Records,
    Findings,
    Requests,
    Audit,
}

impl Screen {
    pub const ALL: [Screen; 5] =
        [Screen::Dashboard, Screen::Records, Screen::Findings, Screen::Requests, Screen::Audit];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Dashboard => "Dashboard",
            Screen::Records => "Records",
            Screen::Findings => "Findings",
            Screen::Requests => "Requests",
            Screen::Audit => "Audit",
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

    fn next(self) -> SortKey {
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
pub struct Data {
    pub records: Vec<Record>,
    pub index: SearchIndex,
    pub stats: Stats,
    /// Records by months since last verified (0..=24, the last bucket "older").
    pub verified_age: Vec<u64>,
}

impl Data {
    pub fn build(records: Vec<Record>, now: chrono::DateTime<chrono::Utc>) -> Data {
        let index = SearchIndex::build(&records);
        let stats = Stats::of(&records);
        let mut verified_age = vec![0u64; 25];
        for r in &records {
            let t = r.times.last_verified.unwrap_or(r.times.updated);
            let months = ((now - t).num_days().max(0) / 30).min(24) as usize;
            verified_age[months] += 1;
        }
        Data { records, index, stats, verified_age }
    }
}

/// Work for the background threads.
#[derive(Clone)]
pub enum Effect {
    Search { generation: u64, query: String, within: Option<Arc<Vec<Hit>>> },
    Sort { generation: u64, key: SortKey, descending: bool },
}

/// What comes back from the background.
pub enum Event {
    Key(KeyEvent),
    Resize,
    LoadProgress { done: usize, total: usize },
    Loaded(Arc<Data>),
    LoadFailed(String),
    ScanProgress(String),
    Scanned(Arc<Report>),
    SearchDone { generation: u64, query: String, hits: Arc<Vec<Hit>> },
    SortDone { generation: u64, order: Arc<Vec<u32>> },
}

/// Static facts about the session, for the header and dashboard.
#[derive(Clone, Debug, Default)]
pub struct SessionInfo {
    pub store: String,
    pub user: String,
    pub role: String,
    pub size_on_disk: u64,
    pub demo: bool,
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

/// The findings screen's state.
#[derive(Default)]
pub struct FindingsState {
    pub selected: usize,
    pub offset: Cell<usize>,
    pub page: Cell<usize>,
    /// The selected finding is open (records side by side).
    pub open: bool,
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
    fn refilter(&mut self) {
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
    fn next_filter(&self) -> Option<Kind> {
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
        match event {
            Event::Key(k) => self.on_key(k),
            Event::Resize => Vec::new(),
            Event::LoadProgress { done, total } => {
                self.loading = Some((done, total));
                Vec::new()
            }
            Event::Loaded(data) => {
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
        }
    }

    fn on_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        if k.kind != KeyEventKind::Press {
            return Vec::new();
        }
        self.error = None;
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
                    return self.records_action(a);
                }
                if self.screen == Screen::Findings
                    && let Some(a) = actions::lookup(Mode::Findings, &k)
                {
                    self.findings_action(a);
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
                self.help_scroll = 0;
            }
            Action::Search => {
                self.screen = Screen::Records;
                self.mode = Mode::Search;
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
            _ => {}
        }
        Vec::new()
    }

    fn move_by(&mut self, delta: isize) {
        let n = self.row_count();
        if n == 0 {
            self.table.selected = 0;
            return;
        }
        let cur = self.table.selected as isize;
        self.table.selected = (cur + delta).clamp(0, n as isize - 1) as usize;
    }

    fn records_action(&mut self, a: Action) -> Vec<Effect> {
        let page = self.table.page.get().max(1) as isize;
        match a {
            Action::Down => self.move_by(1),
            Action::Up => self.move_by(-1),
            Action::PageDown => self.move_by(page),
            Action::PageUp => self.move_by(-page),
            Action::Top => self.table.selected = 0,
            Action::Bottom => self.table.selected = self.row_count().saturating_sub(1),
            Action::ToggleDetail => self.table.detail = !self.table.detail,
            Action::SortNext => {
                self.table.sort = self.table.sort.next();
                self.table.descending = false;
                return self.start_sort();
            }
            Action::SortReverse => {
                self.table.descending = !self.table.descending;
                self.table.selected = 0;
                self.refilter();
            }
            Action::FilterKind => {
                self.filter = self.next_filter();
                self.refilter();
                self.table.selected = 0;
            }
            Action::ClearSearch => {
                if self.search.hits.is_some() || !self.search.query.is_empty() || self.filter.is_some() {
                    self.clear_search();
                    self.filter = None;
                    self.filtered = None;
                } else {
                    self.table.detail = false;
                }
            }
            _ => {}
        }
        Vec::new()
    }

    fn findings_action(&mut self, a: Action) {
        let n = self.report.as_ref().map_or(0, |r| r.findings.len());
        let page = self.findings.page.get().max(1);
        let f = &mut self.findings;
        match a {
            Action::Down => f.selected = (f.selected + 1).min(n.saturating_sub(1)),
            Action::Up => f.selected = f.selected.saturating_sub(1),
            Action::PageDown => f.selected = (f.selected + page).min(n.saturating_sub(1)),
            Action::PageUp => f.selected = f.selected.saturating_sub(page),
            Action::Top => f.selected = 0,
            Action::Bottom => f.selected = n.saturating_sub(1),
            Action::OpenFinding => f.open = n > 0,
            Action::CloseFinding => f.open = false,
            _ => {}
        }
    }

    fn start_sort(&mut self) -> Vec<Effect> {
        self.table.sort_generation += 1;
        self.table.selected = 0;
        if self.table.sort == SortKey::Imported {
            self.table.order = None;
            return Vec::new();
        }
        vec![Effect::Sort { generation: self.table.sort_generation, key: self.table.sort, descending: false }]
    }

    fn clear_search(&mut self) {
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
    }
}
