//! Findings, for work: grouped by kind with counts (a kind's header folds
//! and unfolds it; `f` shows one kind only; over-collected fields are
//! counted per field), an opened finding (a duplicate cluster side by side
//! with a field-by-field explanation, personal data in free text masked,
//! or the record and its reasons), marks within a kind, and each kind's
//! remedy on one key with a preview of what will change.
//!
//! The screen owns its state ([`FindingsState`]), its keys ([`on_action`])
//! and its drawing ([`draw`]); the remedies themselves are the service's.

use std::cell::Cell as StdCell;
use std::collections::BTreeSet;
use std::ops::Range;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

use crate::findings::{Finding, Kind, Report, Severity, pii};
use crate::model::text::fit;
use crate::model::{Record, RecordId};
use crate::service::Role;
use crate::tui::actions::Action;
use crate::tui::app::{App, Effect, Job, Screen};
use crate::tui::forms::{Form, MergeForm, NoteForm, NotePurpose, Remedy, RemedyForm, TextInput};
use crate::tui::ui::fmt_count;

/// The Findings screen's state.
#[derive(Default)]
pub struct FindingsState {
    /// The row under the cursor (a kind's header is a row too).
    pub selected: usize,
    pub offset: StdCell<usize>,
    pub page: StdCell<usize>,
    /// The finding under the cursor is open.
    pub open: bool,
    /// Kinds whose findings are listed under their header.
    pub expanded: BTreeSet<Kind>,
    /// Only this kind is shown (`f`).
    pub only: Option<Kind>,
    /// Findings marked with Space (indices into the report), of one kind.
    pub marked: BTreeSet<usize>,
    /// The first report has been seen (the most urgent kind is unfolded once).
    primed: bool,
}

/// One row of the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListRow {
    /// A kind's header: its findings are `range` of the report's.
    Group(Kind, Range<usize>),
    /// A finding (index into the report's findings).
    Item(usize),
}

/// The findings of each kind: contiguous ranges, most urgent kind first
/// (the report is sorted that way).
pub fn groups(report: &Report) -> Vec<(Kind, Range<usize>)> {
    let f = &report.findings;
    let mut out = Vec::new();
    for k in Kind::ALL {
        let r = crate::findings::rank(k);
        let start = f.partition_point(|x| crate::findings::rank(x.kind) < r);
        let end = f.partition_point(|x| crate::findings::rank(x.kind) <= r);
        if end > start {
            out.push((k, start..end));
        }
    }
    out
}

impl FindingsState {
    /// After a scan: the first time, the most urgent kind is unfolded with
    /// the cursor on its first finding; later, marks that may point at
    /// other findings now are dropped and the cursor stays in range.
    pub fn rescanned(&mut self, report: &Report) {
        self.marked.clear();
        self.open = false;
        if !self.primed {
            self.primed = true;
            if let Some((k, _)) = groups(report).first() {
                self.expanded.insert(*k);
                self.selected = 1;
            }
        }
        let n = self.row_count(report);
        self.selected = self.selected.min(n.saturating_sub(1));
    }

    fn shown(&self, report: &Report) -> Vec<(Kind, Range<usize>)> {
        groups(report).into_iter().filter(|(k, _)| self.only.is_none_or(|o| o == *k)).collect()
    }

    pub fn row_count(&self, report: &Report) -> usize {
        self.shown(report).iter().map(|(k, r)| 1 + if self.expanded.contains(k) { r.len() } else { 0 }).sum()
    }

    /// The row at `row`.
    pub fn row_at(&self, report: &Report, mut row: usize) -> Option<ListRow> {
        for (k, r) in self.shown(report) {
            if row == 0 {
                return Some(ListRow::Group(k, r));
            }
            row -= 1;
            if self.expanded.contains(&k) {
                if row < r.len() {
                    return Some(ListRow::Item(r.start + row));
                }
                row -= r.len();
            }
        }
        None
    }

    /// The row of kind `kind`'s header.
    fn header_row(&self, report: &Report, kind: Kind) -> usize {
        let mut row = 0;
        for (k, r) in self.shown(report) {
            if k == kind {
                return row;
            }
            row += 1 + if self.expanded.contains(&k) { r.len() } else { 0 };
        }
        0
    }

    /// The finding under the cursor (none on a header).
    pub fn current(&self, report: &Report) -> Option<usize> {
        match self.row_at(report, self.selected)? {
            ListRow::Item(i) => Some(i),
            ListRow::Group(..) => None,
        }
    }

    /// The kind under the cursor, and whether the cursor is on its header.
    pub fn current_kind(&self, report: &Report) -> Option<(Kind, bool)> {
        match self.row_at(report, self.selected)? {
            ListRow::Item(i) => report.findings.get(i).map(|f| (f.kind, false)),
            ListRow::Group(k, _) => Some((k, true)),
        }
    }

    /// What a remedy acts on: the marked findings, else the one under the
    /// cursor, else (on a header) every finding of the kind.
    pub fn targets(&self, report: &Report) -> Vec<usize> {
        if !self.marked.is_empty() {
            return self.marked.iter().copied().collect();
        }
        match self.row_at(report, self.selected) {
            Some(ListRow::Item(i)) => vec![i],
            Some(ListRow::Group(_, r)) => r.collect(),
            None => Vec::new(),
        }
    }
}

/// True when `a` applies to the row under the cursor (of `kind`, on its
/// header or not): the help and the status bar offer only those keys.
pub fn applies(a: Action, kind: Option<Kind>, header: bool) -> bool {
    let Some(k) = kind else {
        return matches!(a, Action::FilterKind | Action::UndoMerge) || !is_remedy(a);
    };
    match a {
        Action::Merge | Action::NotSamePerson => k == Kind::Duplicate && !header,
        Action::BulkMerge => k == Kind::Duplicate,
        Action::DropField | Action::DeclarePurpose => k == Kind::Overcollected && !header,
        Action::Redact => k == Kind::Pii,
        Action::ClearValue => k == Kind::Invalid && !header,
        Action::MarkVerified | Action::ReverifyList => k == Kind::Stale,
        Action::RecordConsent => k == Kind::Consent && !header,
        Action::Restrict => k == Kind::Consent,
        Action::Edit => !header && !matches!(k, Kind::Duplicate | Kind::Suspect),
        Action::JumpToRecord => !header,
        Action::Erase => k != Kind::Duplicate,
        Action::Select => !header,
        _ => true,
    }
}

fn is_remedy(a: Action) -> bool {
    matches!(
        a,
        Action::Merge
            | Action::NotSamePerson
            | Action::BulkMerge
            | Action::DropField
            | Action::DeclarePurpose
            | Action::Redact
            | Action::ClearValue
            | Action::MarkVerified
            | Action::ReverifyList
            | Action::RecordConsent
            | Action::Restrict
            | Action::Edit
            | Action::Erase
            | Action::JumpToRecord
            | Action::Select
            | Action::SelectAll
    )
}

/// The kind under the cursor of the app's Findings screen.
pub fn cursor_kind(app: &App) -> (Option<Kind>, bool) {
    match app.report.as_ref().and_then(|r| app.findings.current_kind(r)) {
        Some((k, h)) => (Some(k), h),
        None => (None, false),
    }
}

/// The records of findings `idx`, deduplicated, in order.
fn records_of(app: &App, idx: &[usize]) -> Vec<RecordId> {
    let (Some(report), Some(data)) = (&app.report, &app.data) else { return Vec::new() };
    let mut seen = BTreeSet::new();
    idx.iter()
        .filter_map(|&i| report.findings.get(i))
        .flat_map(|f| f.records.iter())
        .filter_map(|&r| data.records.get(r as usize).map(|r| r.id))
        .filter(|id| seen.insert(*id))
        .collect()
}

/// How many findings of `kind` among `idx` (what a remedy promises to clear).
fn count_of(app: &App, idx: &[usize], keep: impl Fn(&Finding) -> bool) -> usize {
    let Some(report) = &app.report else { return 0 };
    idx.iter().filter_map(|&i| report.findings.get(i)).filter(|f| keep(f)).count()
}

/// A key on the Findings screen.
pub fn on_action(app: &mut App, a: Action) -> Vec<Effect> {
    let Some(report) = app.report.clone() else {
        if crate::tui::app::is_navigation(a) {
            return Vec::new();
        }
        app.error = Some("wait for the findings: the scan is still running".into());
        return Vec::new();
    };
    let n = app.findings.row_count(&report);
    if !app.findings.open && crate::tui::app::step(&mut app.findings.selected, n, app.findings.page.get(), a) {
        return Vec::new();
    }
    let (kind, header) = match app.findings.current_kind(&report) {
        Some((k, h)) => (Some(k), h),
        None => (None, false),
    };
    if is_remedy(a) && !applies(a, kind, header) {
        app.error = Some(match (a, kind) {
            (_, None) => "no finding here".into(),
            (
                Action::Merge
                | Action::NotSamePerson
                | Action::ClearValue
                | Action::RecordConsent
                | Action::Edit
                | Action::DropField
                | Action::DeclarePurpose,
                _,
            ) if header => "open the kind (Enter) and choose a finding first".into(),
            (_, Some(k)) => format!("that key does not apply to a {} finding (? lists what does)", k.name()),
        });
        return Vec::new();
    }
    let fs = &mut app.findings;
    match a {
        Action::OpenFinding => match fs.row_at(&report, fs.selected) {
            Some(ListRow::Group(k, _)) if !fs.expanded.remove(&k) => {
                fs.expanded.insert(k);
            }
            Some(ListRow::Group(..)) => {}
            Some(ListRow::Item(_)) => fs.open = true,
            None => {}
        },
        Action::CloseFinding => {
            if fs.open {
                fs.open = false;
            } else if !fs.marked.is_empty() {
                fs.marked.clear();
            } else if let Some(k) = kind {
                fs.expanded.remove(&k);
                fs.selected = fs.header_row(&report, k);
            }
        }
        Action::FilterKind => {
            let present: Vec<Kind> = groups(&report).into_iter().map(|(k, _)| k).collect();
            fs.only = match fs.only {
                None => present.first().copied(),
                Some(cur) => present.iter().skip_while(|k| **k != cur).nth(1).copied(),
            };
            if let Some(k) = fs.only {
                fs.expanded.insert(k);
            }
            fs.selected = 0;
            fs.open = false;
            fs.marked.clear();
        }
        Action::Select => {
            if let Some(i) = fs.current(&report) {
                let k = report.findings[i].kind;
                if fs.marked.iter().any(|&m| report.findings[m].kind != k) {
                    fs.marked.clear();
                    app.notice = Some("marks are kept within one kind: the earlier marks were dropped".into());
                }
                let fs = &mut app.findings;
                if !fs.marked.remove(&i) {
                    fs.marked.insert(i);
                }
                fs.selected = (fs.selected + 1).min(n.saturating_sub(1));
            }
        }
        Action::SelectAll => {
            if !fs.marked.is_empty() {
                fs.marked.clear();
            } else if let Some(k) = kind
                && let Some((_, r)) = groups(&report).into_iter().find(|(g, _)| *g == k)
            {
                fs.marked = r.collect();
                app.notice = Some(format!("{} {} finding(s) marked", fmt_count(app.findings.marked.len()), k.name()));
            }
        }
        Action::JumpToRecord => return jump_to_record(app, &report),
        Action::UndoMerge => return app.undo_merge(),
        Action::Merge => return merge(app, &report),
        Action::NotSamePerson => {
            let ids = records_of(app, &app.findings.targets(&report)[..1.min(app.findings.targets(&report).len())]);
            app.open_form(Form::Note(Box::new(NoteForm {
                purpose: NotePurpose::Distinct(ids),
                text: TextInput::default(),
                failed: false,
            })));
        }
        Action::Erase => {
            let ids = records_of(app, &app.findings.targets(&report));
            return app.open_erase(ids);
        }
        Action::Edit => {
            let ids = records_of(app, &app.findings.targets(&report));
            if let Some(id) = ids.first().copied() {
                return app.job("opening the record", Job::PrepareEdit { id, request: None });
            }
        }
        _ => return remedy(app, &report, a),
    }
    Vec::new()
}

fn jump_to_record(app: &mut App, report: &Report) -> Vec<Effect> {
    let Some(i) = app.findings.current(report) else { return Vec::new() };
    let Some(&index) = report.findings[i].records.first() else { return Vec::new() };
    // The record in the table as imported, with its details open.
    app.clear_search();
    app.filter = None;
    app.filtered = None;
    app.table.order = None;
    app.table.sort = crate::tui::app::SortKey::Imported;
    app.table.descending = false;
    app.table.selected = index as usize;
    app.table.detail = true;
    app.screen = Screen::Records;
    let more = report.findings[i].records.len().saturating_sub(1);
    app.notice = Some(if more > 0 {
        format!("the finding's first record ({more} more: Enter on the finding shows them all)")
    } else {
        "the finding's record".into()
    });
    Vec::new()
}

fn merge(app: &mut App, report: &Report) -> Vec<Effect> {
    let Some(i) = app.findings.current(report) else { return Vec::new() };
    let records: Vec<Record> = match &app.data {
        Some(d) => report.findings[i].records.iter().filter_map(|&r| d.records.get(r as usize).cloned()).collect(),
        None => return Vec::new(),
    };
    if records.len() < 2 {
        app.error = Some("only a duplicate finding can be merged".into());
        return Vec::new();
    }
    if app.role() < Role::Admin {
        // The screens hold masked data: fetch the records themselves.
        let ids = records.iter().map(|r| r.id).collect();
        return app.job("opening the records", Job::PrepareMerge { ids });
    }
    app.open_form(Form::Merge(Box::new(MergeForm::new(crate::service::actions::MergePlan::new(records, None)))));
    Vec::new()
}

/// Opens a remedy's dialog (and asks the service for its plan when it
/// needs one).
fn remedy(app: &mut App, report: &Report, a: Action) -> Vec<Effect> {
    let targets = app.findings.targets(report);
    if targets.is_empty() {
        return Vec::new();
    }
    let ids = records_of(app, &targets);
    let first = &report.findings[targets[0]];
    let who = app.labels(&ids[..ids.len().min(1)]).first().cloned().unwrap_or_default();
    let reason = || ("Reason", TextInput::default());
    let today = crate::model::now().date_naive().to_string();
    let (form, plan) = match a {
        Action::BulkMerge => {
            let clusters: Vec<(Vec<RecordId>, f64)> = groups(report)
                .into_iter()
                .filter(|(k, _)| *k == Kind::Duplicate)
                .flat_map(|(_, r)| r)
                .filter(|i| app.findings.marked.is_empty() || app.findings.marked.contains(i))
                .map(|i| (records_of(app, &[i]), report.findings[i].score.unwrap_or(0.0)))
                .collect();
            let f = RemedyForm::new(
                Remedy::BulkMerge { clusters, plan: None },
                "Merge every duplicate cluster above a probability".into(),
                vec![("Lowest probability", TextInput::new("0.95")), reason()],
            );
            (f, None)
        }
        Action::DropField => {
            let field = first.field.clone().unwrap_or_default();
            // Every finding for this field, or the marked ones.
            let of: Vec<usize> = if app.findings.marked.is_empty() {
                groups(report)
                    .into_iter()
                    .filter(|(k, _)| *k == Kind::Overcollected)
                    .flat_map(|(_, r)| r)
                    .filter(|&i| report.findings[i].field.as_deref() == Some(field.as_str()))
                    .collect()
            } else {
                targets
                    .iter()
                    .copied()
                    .filter(|&i| report.findings[i].field.as_deref() == Some(field.as_str()))
                    .collect()
            };
            let ids = records_of(app, &of);
            let mut f = RemedyForm::new(
                Remedy::DropField { field: field.clone(), ids: ids.clone(), plan: None },
                format!("Drop `{}` from {} record(s)", fit(&field, 30), ids.len()),
                vec![reason()],
            );
            f.promise = Some((Kind::Overcollected, of.len()));
            let plan = Job::PlanRemedy(Box::new(Remedy::DropField { field, ids, plan: None }));
            (f, Some(plan))
        }
        Action::DeclarePurpose => {
            let field = first.field.clone().unwrap_or_default();
            let of = groups(report)
                .into_iter()
                .filter(|(k, _)| *k == Kind::Overcollected)
                .flat_map(|(_, r)| r)
                .filter(|&i| report.findings[i].field.as_deref() == Some(field.as_str()))
                .count();
            let mut f = RemedyForm::new(
                Remedy::Declare { field: field.clone() },
                format!("Declare why `{}` is held", fit(&field, 30)),
                vec![
                    ("Purpose", TextInput::default()),
                    ("Legal basis", TextInput::default()),
                    ("Retention days", TextInput::default()),
                    ("Category", TextInput::new("user")),
                ],
            );
            f.preview = vec![
                format!("`{field}` is added to the policy under a purpose: a new policy revision (audited)."),
                "An existing purpose (orders, support, ...) keeps its legal basis and retention; a new one".into(),
                "needs its legal basis (contract, legal_obligation, legitimate_interest, ...) and retention.".into(),
                "Only if the business truly needs it: otherwise D drops the field.".into(),
            ];
            if first.reasons.first().is_some_and(|r| r.contains("serves no declared purpose")) {
                f.promise = Some((Kind::Overcollected, of));
            }
            (f, None)
        }
        Action::Redact => {
            let of: Vec<usize> = targets.iter().copied().filter(|&i| report.findings[i].kind == Kind::Pii).collect();
            // Every pii finding of those records goes (all their free text is redacted).
            let set: BTreeSet<u32> = of.iter().flat_map(|&i| report.findings[i].records.iter().copied()).collect();
            let promised = groups(report)
                .into_iter()
                .filter(|(k, _)| *k == Kind::Pii)
                .flat_map(|(_, r)| r)
                .filter(|&i| report.findings[i].records.iter().all(|r| set.contains(r)))
                .count();
            let mut f = RemedyForm::new(
                Remedy::Redact { ids: ids.clone(), plan: None },
                format!("Redact personal data in the free text of {} record(s)", ids.len()),
                vec![reason()],
            );
            f.promise = Some((Kind::Pii, promised));
            (f, Some(Job::PlanRemedy(Box::new(Remedy::Redact { ids, plan: None }))))
        }
        Action::ClearValue => {
            let field = first.field.clone().unwrap_or_default();
            let id = ids[0];
            let mut f = RemedyForm::new(
                Remedy::ClearValue { id, field: field.clone() },
                format!("Clear the invalid `{}` of {}", fit(&field, 20), fit(&who, 30)),
                vec![reason()],
            );
            f.preview = vec![
                format!("`{field}` of {who} is cleared: {}", first.reasons.first().cloned().unwrap_or_default()),
                "The field stays empty until someone corrects it (e edits the record instead).".into(),
                "Undo (u) restores the value until the next key rotation.".into(),
            ];
            let same = |g: &Finding| g.kind == Kind::Invalid && g.field == first.field && g.records == first.records;
            f.promise = Some((Kind::Invalid, count_of(app, &targets, same)));
            (f, None)
        }
        Action::MarkVerified => {
            let mut f = RemedyForm::new(
                Remedy::Verified { ids: ids.clone() },
                format!("Mark {} record(s) verified", ids.len()),
                vec![("How", TextInput::default()), reason()],
            );
            f.preview = vec![
                format!(
                    "{} customer(s) confirmed their details today: {who}{}",
                    ids.len(),
                    if ids.len() > 1 { ", …" } else { "" }
                ),
                "How: reply, call, order, … (kept on the record and in the audit trail).".into(),
            ];
            f.promise = Some((Kind::Stale, count_of(app, &targets, |g| g.kind == Kind::Stale)));
            (f, None)
        }
        Action::ReverifyList => {
            let stamp = crate::model::now().format("%Y%m%d-%H%M%S");
            let dir = std::env::current_dir().unwrap_or_default();
            let file = dir.join(format!("steward-reverify-{stamp}.age"));
            let mut f = RemedyForm::new(
                Remedy::Reverify { ids: ids.clone() },
                format!("Re-verification list of {} stale customer(s)", ids.len()),
                vec![("Recipient", TextInput::default()), ("File", TextInput::new(&file.to_string_lossy()))],
            );
            f.preview = vec![
                format!("The contact details of {} customer(s), as CSV, age-encrypted to the recipient:", ids.len()),
                "id, names, email, phone, address, last verified — restricted and unreachable ones left out.".into(),
                "Mark those who reply with v; after a grace period, housekeeping (H) erases what has expired.".into(),
            ];
            (f, None)
        }
        Action::RecordConsent => {
            let purpose = first.reasons.first().and_then(|r| r.split('`').nth(1)).unwrap_or("").to_owned();
            let mut f = RemedyForm::new(
                Remedy::Consent { id: ids[0] },
                format!("Record consent for {}", fit(&who, 30)),
                vec![
                    ("Purpose", TextInput::new(&purpose)),
                    ("Date", TextInput::new(&today)),
                    ("Source", TextInput::default()),
                    reason(),
                ],
            );
            f.focus = 2;
            f.preview = vec![
                format!("{who}: consent for the purpose, on the date (YYYY-MM-DD), from the source (form, call)."),
                "Kept as a history (the proof); the purpose's consent field says given or withdrawn.".into(),
            ];
            f.promise = Some((Kind::Consent, count_of(app, &targets, |g| g.kind == Kind::Consent)));
            (f, None)
        }
        Action::Restrict => {
            let mut f = RemedyForm::new(
                Remedy::Restrict { ids: ids.clone() },
                format!("Restrict processing of {} record(s)", ids.len()),
                vec![reason()],
            );
            f.preview = vec![
                format!(
                    "{} record(s) are kept but used for no purpose: {who}{}",
                    ids.len(),
                    if ids.len() > 1 { ", …" } else { "" }
                ),
                "(GDPR Art. 18: while accuracy or an objection is being settled.) Their consent findings go.".into(),
            ];
            let restricted: BTreeSet<RecordId> = ids.iter().copied().collect();
            let data = app.data.clone();
            let promised = groups(report)
                .into_iter()
                .filter(|(k, _)| *k == Kind::Consent)
                .flat_map(|(_, r)| r)
                .filter(|&i| {
                    report.findings[i].records.iter().all(|&r| {
                        data.as_ref()
                            .and_then(|d| d.records.get(r as usize))
                            .is_some_and(|r| restricted.contains(&r.id))
                    })
                })
                .count();
            f.promise = Some((Kind::Consent, promised));
            (f, None)
        }
        _ => return Vec::new(),
    };
    app.open_form(Form::Remedy(Box::new(form)));
    match plan {
        Some(job) => vec![Effect::Job(job)],
        None => Vec::new(),
    }
}

fn block<'a>(app: &App, title: String) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.style("ui.border.focused"))
        .title(title)
        .title_style(app.theme.style("ui.title"))
}

/// Theme slot of a finding's severity.
pub fn severity_style(app: &App, s: Severity) -> Style {
    match s {
        Severity::Danger => app.theme.style("finding.danger"),
        Severity::Warning => app.theme.style("finding.warning"),
        Severity::Info => app.theme.style("finding.info"),
    }
}

/// Who a finding is about, short: names (or source ids) of its records.
fn who(records: &[Record], f: &Finding) -> String {
    let names: Vec<String> = f
        .records
        .iter()
        .take(3)
        .filter_map(|&i| records.get(i as usize))
        .map(|r| {
            let n = r.display_name();
            if n.is_empty() { r.source_id.clone() } else { n }
        })
        .collect();
    let more = f.records.len().saturating_sub(3);
    if more > 0 { format!("{} +{more}", names.join(", ")) } else { names.join(", ") }
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let (Some(data), Some(report)) = (&app.data, &app.report) else {
        let msg = match (&app.data, &app.scan_stage) {
            (None, _) => "Decrypting records…".to_owned(),
            (Some(_), Some(stage)) => format!("Scanning… {stage}"),
            (Some(_), None) => "Scanning…".to_owned(),
        };
        f.render_widget(
            Paragraph::new(fit(&msg, area.width.saturating_sub(2) as usize))
                .style(app.theme.style("ui.placeholder"))
                .block(block(app, " Findings ".into())),
            area,
        );
        return;
    };
    if report.findings.is_empty() {
        f.render_widget(
            Paragraph::new("No findings: nothing stale, duplicated, over-collected or invalid.")
                .style(app.theme.style("ui.ok"))
                .block(block(app, " Findings ".into())),
            area,
        );
        return;
    }
    let total_rows = app.findings.row_count(report);
    let sel = app.findings.selected.min(total_rows.saturating_sub(1));
    if app.findings.open
        && let Some(i) = app.findings.current(report)
    {
        draw_open(f, app, &data.records, &report.findings[i], area);
        return;
    }
    let marked = if app.findings.marked.is_empty() {
        String::new()
    } else {
        format!(" · {} marked", fmt_count(app.findings.marked.len()))
    };
    let only = app.findings.only.map(|k| format!(" · only {} (f: next)", k.name())).unwrap_or_default();
    let title = format!(
        " Findings · {} · data quality {:.1}/100{}{only}{marked} ",
        fmt_count(report.findings.len()),
        report.quality(),
        if report.policy_is_default { " · default policy" } else { "" }
    );
    let b = block(app, title);
    let inner = b.inner(area);
    f.render_widget(b, area);
    if inner.height < 2 || inner.width < 10 {
        return;
    }
    let rows_h = inner.height as usize;
    app.findings.page.set(rows_h);
    let offset = crate::tui::ui::keep_in_view(sel, &app.findings.offset, rows_h, total_rows);
    let w = inner.width as usize;
    let kind_w = 3usize;
    let who_w = (w.saturating_sub(kind_w + 2) / 3).clamp(8, 40);
    let reason_w = w.saturating_sub(kind_w + who_w + 2);
    let lines: Vec<Line> = (offset..(offset + rows_h).min(total_rows))
        .filter_map(|row| app.findings.row_at(report, row).map(|r| (row, r)))
        .map(|(row, r)| {
            let base = if row == sel { app.theme.style("ui.selection") } else { Style::default() };
            match r {
                ListRow::Group(k, range) => {
                    let open = app.findings.expanded.contains(&k);
                    let worst =
                        report.findings[range.clone()].iter().map(|x| x.severity).max().unwrap_or(Severity::Info);
                    let mut text = format!(
                        "{} {} {}  {}",
                        if open { "▾" } else { "▸" },
                        k.badge(),
                        k.name(),
                        fmt_count(range.len())
                    );
                    if k == Kind::Overcollected {
                        text.push_str(&format!("  D drops a field: {}", per_field(&report.findings[range])));
                    } else {
                        text.push_str(&format!("  {}", remedy_hint(k)));
                    }
                    Line::from(Span::styled(
                        fit(&text, w),
                        severity_style(app, worst).patch(app.theme.style("ui.header")).patch(base),
                    ))
                }
                ListRow::Item(i) => {
                    let fd = &report.findings[i];
                    let mark = if app.findings.marked.contains(&i) { " ● " } else { "   " };
                    let reason = match &fd.field {
                        Some(field) if fd.kind != Kind::Pii => {
                            format!("[{field}] {}", fd.reasons.first().cloned().unwrap_or_default())
                        }
                        _ => fd.reasons.first().cloned().unwrap_or_default(),
                    };
                    Line::from(vec![
                        Span::styled(mark.to_owned(), severity_style(app, fd.severity).patch(base)),
                        Span::styled(
                            format!("{:<who_w$} ", fit(&who(&data.records, fd), who_w)),
                            app.theme.style("ui").patch(base),
                        ),
                        Span::styled(fit(&reason, reason_w), app.theme.style("ui.text.dim").patch(base)),
                    ])
                }
            }
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

/// `fax 155 · pager 120 · …`: over-collected findings per field, most first.
fn per_field(findings: &[Box<Finding>]) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for f in findings {
        *counts.entry(f.field.as_deref().unwrap_or("?")).or_default() += 1;
    }
    let mut v: Vec<(&str, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.iter().map(|(f, n)| format!("{f} {}", fmt_count(*n))).collect::<Vec<_>>().join(" · ")
}

/// The remedy keys of a kind, for its header.
fn remedy_hint(k: Kind) -> &'static str {
    match k {
        Kind::Duplicate => "m merge · M merge all above p · n not the same person",
        Kind::Pii => "R redact (one, marked, or all from here)",
        Kind::Expired => "H housekeeping erases them",
        Kind::Overcollected => "D drop the field · y declare why it is held",
        Kind::Invalid => "c clear · e edit",
        Kind::Suspect => "x erase after review",
        Kind::Consent => "C record consent · P restrict",
        Kind::Incomplete => "e complete · x erase",
        Kind::Stale => "v verified · L re-verification list",
    }
}

fn draw_open(f: &mut Frame, app: &App, records: &[Record], fd: &Finding, area: Rect) {
    let title = format!(" {} {} · Esc back ", fd.kind.badge(), fd.kind.name());
    let b = block(app, title);
    let inner = b.inner(area);
    f.render_widget(b, area);
    if inner.height < 3 || inner.width < 20 {
        return;
    }
    let reasons: Vec<Line> =
        fd.reasons.iter().map(|r| Line::from(Span::styled(r.clone(), app.theme.style("ui.text.dim")))).collect();
    let reasons_h = (reasons.len() as u16 + 1).min(inner.height / 3).max(1);
    let [top, bottom] = Layout::vertical([Constraint::Min(3), Constraint::Length(reasons_h)]).areas(inner);
    match fd.kind {
        Kind::Duplicate => draw_side_by_side(f, app, records, fd, top),
        Kind::Pii => draw_pii(f, app, records, fd, top),
        _ => draw_side_by_side(f, app, records, fd, top),
    }
    f.render_widget(Paragraph::new(reasons).wrap(Wrap { trim: true }), bottom);
}

/// Rows of the comparison: label and how to read the field.
const ROWS: [(&str, &str); 10] = [
    ("source id", ""),
    ("given name", "given_name"),
    ("family name", "family_name"),
    ("date of birth", "date_of_birth"),
    ("email", "email"),
    ("phone", "phone"),
    ("street no.", "street_number"),
    ("street", "address_1"),
    ("locality", "locality"),
    ("postcode", "postcode"),
];

fn value(r: &Record, field: &str) -> String {
    match field {
        "" => r.source_id.clone(),
        "given_name" => r.given_name.clone().unwrap_or_default(),
        "family_name" => r.family_name.clone().unwrap_or_default(),
        "date_of_birth" => r.date_of_birth.map(|d| d.to_string()).unwrap_or_default(),
        "email" => r.email.clone().unwrap_or_default(),
        "phone" => r.phone.clone().unwrap_or_default(),
        "street_number" => r.address.street_number.clone().unwrap_or_default(),
        "address_1" => r.address.line1.clone().unwrap_or_default(),
        "locality" => r.address.locality.clone().unwrap_or_default(),
        "postcode" => r.address.postcode.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

/// The field of the duplicate model's explanation that a row's field is
/// part of, and whether this row carries its evidence (a field shown on two
/// rows carries it on the second).
fn model_field(field: &str) -> (&'static str, bool) {
    match field {
        "given_name" => ("given_name", true),
        "family_name" => ("family_name", true),
        "date_of_birth" => ("date_of_birth", true),
        "email" => ("email", true),
        "phone" => ("phone", true),
        "street_number" => ("street", false),
        "address_1" => ("street", true),
        "locality" => ("place", false),
        "postcode" => ("place", true),
        _ => ("", false),
    }
}

/// Probability from the explanation's bits (the prior's line included).
fn probability(bits: f64) -> f64 {
    1.0 / (1.0 + (-bits * std::f64::consts::LN_2).exp())
}

/// Records side by side, one column each; every field of the second and
/// later records says how it compares with the first (a non-colour cue:
/// `=` same, `≈` similar or close, `≠` different) and what it weighs in
/// bits (+ for one person, − for two), like a waterfall: the prior first,
/// the probability last.
fn draw_side_by_side(f: &mut Frame, app: &App, records: &[Record], fd: &Finding, area: Rect) {
    let recs: Vec<&Record> = fd.records.iter().filter_map(|&i| records.get(i as usize)).collect();
    if recs.is_empty() {
        return;
    }
    let label_w = 14u16;
    let cols = ((area.width.saturating_sub(label_w)) / 18).clamp(1, recs.len() as u16) as usize;
    let col_w = ((area.width.saturating_sub(label_w)) as usize / cols).saturating_sub(1).max(4);
    let mut widths = vec![Constraint::Length(label_w)];
    widths.extend(std::iter::repeat_n(Constraint::Length(col_w as u16), cols));
    let explanation = |k: usize| k.checked_sub(1).and_then(|e| fd.explanation.get(e));
    let dup = fd.kind == Kind::Duplicate && !fd.explanation.is_empty();
    let bits_cell = |text: String, bits: Option<f64>| {
        // The value, cut to leave room for the weight at the right.
        match bits.filter(|_| dup) {
            Some(b) => {
                let weight = format!(" {b:+.1}");
                let room = col_w.saturating_sub(weight.chars().count());
                format!("{:<room$}{weight}", fit(&text, room))
            }
            None => fit(&text, col_w),
        }
    };
    let mut rows: Vec<Row> = Vec::new();
    if dup {
        // The prior: how likely two such records are one person before
        // looking at their fields (two random records, or two sharing an
        // address, phone or email).
        let mut cells = vec![Cell::from(Span::styled("prior", app.theme.style("ui.text.dim")))];
        for k in 0..recs.len().min(cols) {
            let text = match explanation(k).and_then(|e| e.first()) {
                Some(p) if p.status == "shared household" => bits_cell("shared household".into(), Some(p.bits)),
                Some(p) => bits_cell("base rate".into(), Some(p.bits)),
                None => String::new(),
            };
            cells.push(Cell::from(Span::styled(text, app.theme.style("ui.text.dim"))));
        }
        rows.push(Row::new(cells));
    }
    for (label, field) in ROWS {
        let mut cells = vec![Cell::from(Span::styled(label, app.theme.style("ui.text.dim")))];
        for (k, r) in recs.iter().take(cols).enumerate() {
            let v = value(r, field);
            let (mf, carries) = model_field(field);
            // The explanation was computed by the scan (record k vs the first).
            let c = explanation(k).and_then(|fields| fields.iter().find(|c| c.field == mf));
            let (mark, style) = match (k, c.map(|c| c.status)) {
                (0, _) | (_, None) => ("", app.theme.style("ui")),
                (_, Some("same")) => ("= ", app.theme.style("ui.ok")),
                (_, Some("different")) => ("≠ ", app.theme.style("finding.danger")),
                (_, Some("missing")) => ("  ", app.theme.style("ui.text.dim")),
                (_, Some(_)) => ("≈ ", app.theme.style("finding.warning")),
            };
            let shown = if v.is_empty() { "—".to_owned() } else { v };
            let bits = c.filter(|c| carries && c.status != "missing").map(|c| c.bits);
            cells.push(Cell::from(Span::styled(bits_cell(format!("{mark}{shown}"), bits), style)));
        }
        rows.push(Row::new(cells));
    }
    if dup {
        let mut cells = vec![Cell::from(Span::styled("one person", app.theme.style("ui.header")))];
        for k in 0..recs.len().min(cols) {
            let text = match explanation(k) {
                Some(e) => format!("p = {:.3}", probability(e.iter().map(|c| c.bits).sum())),
                None => String::new(),
            };
            cells.push(Cell::from(Span::styled(fit(&text, col_w), app.theme.style("ui.header"))));
        }
        rows.push(Row::new(cells));
    }
    let header_cells: Vec<Cell> = std::iter::once(Cell::from(""))
        .chain(
            (0..cols)
                .map(|k| Cell::from(if k == 0 { "record 1".to_owned() } else { format!("record {} vs 1", k + 1) })),
        )
        .collect();
    let more = recs.len().saturating_sub(cols);
    let mut t =
        Table::new(rows, widths).header(Row::new(header_cells).style(app.theme.style("ui.header"))).column_spacing(1);
    if more > 0 {
        t = t.footer(Row::new(vec![Cell::from(format!("+{more} more (widen the terminal)"))]));
    }
    f.render_widget(t, area);
}

/// The free-text field with every sensitive part replaced by its mask.
fn draw_pii(f: &mut Frame, app: &App, records: &[Record], fd: &Finding, area: Rect) {
    let Some(r) = fd.records.first().and_then(|&i| records.get(i as usize)) else { return };
    let field = fd.field.clone().unwrap_or_default();
    let text = r.extra.get(&field).cloned().unwrap_or_default();
    let mut spans = Vec::new();
    let mut at = 0;
    for m in pii::scan(&text, r.address.country.as_deref()) {
        spans.push(Span::styled(crate::model::text::sanitize(&text[at..m.start]), app.theme.style("ui")));
        spans.push(Span::styled(format!("[{}: {}]", m.category.name(), m.masked), app.theme.style("finding.danger")));
        at = m.end;
    }
    spans.push(Span::styled(crate::model::text::sanitize(&text[at..]), app.theme.style("ui")));
    let lines = vec![
        Line::from(vec![
            Span::styled("record  ", app.theme.style("ui.text.dim")),
            Span::raw(fit(&format!("{} · {}", r.source_id, r.display_name()), area.width as usize)),
        ]),
        Line::from(vec![Span::styled("field   ", app.theme.style("ui.text.dim")), Span::raw(field)]),
        Line::from(""),
        Line::from(spans),
    ];
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}
