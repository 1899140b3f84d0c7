//! Sources: the systems the records come from — per source its kind, last
//! sync, rows read, changes waiting for it and rows suppressed — with `S`
//! to sync a database source and `P` to push its pending changes, each
//! previewed (a dry run) before it runs. Holds no personal data: names of
//! sources, counts and times.

use std::cell::Cell;
use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::model::text::{fit, sanitize};
use crate::service::feed::SourceRow;
use crate::tui::actions::Action;
use crate::tui::app::{App, Effect, step};
use crate::tui::forms::Remedy;

/// The screen's state.
#[derive(Default)]
pub struct SourcesState {
    pub list: Option<Arc<Vec<SourceRow>>>,
    pub selected: usize,
    pub offset: Cell<usize>,
    pub page: Cell<usize>,
    /// Reload on the next visit (a change may have added to a feed).
    pub stale: bool,
}

impl SourcesState {
    pub fn current(&self) -> Option<&SourceRow> {
        self.list.as_ref().and_then(|l| l.get(self.selected))
    }
}

/// Fills in how many of the loaded records each source holds.
pub fn count_held(list: &mut [SourceRow], data: &crate::tui::app::Data) {
    let mut held: std::collections::HashMap<&str, usize> = Default::default();
    for r in &data.records {
        *held.entry(r.provenance.source.as_str()).or_default() += 1;
    }
    for s in list {
        s.held = Some(held.get(s.name.as_str()).copied().unwrap_or(0));
    }
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>, wide: bool) -> String {
    match t {
        Some(t) if wide => t.format("%Y-%m-%d %H:%M").to_string(),
        Some(t) => t.format("%m-%d %H:%M").to_string(),
        None => "never".into(),
    }
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let st = &app.sources;
    let Some(list) = &st.list else {
        let block = Block::default().borders(Borders::ALL).title(" Sources ").title_style(app.theme.style("ui.title"));
        f.render_widget(
            Paragraph::new("loading the sources…").style(app.theme.style("ui.text.dim")).block(block),
            area,
        );
        return;
    };
    let pending: usize = list.iter().map(|s| s.pending).sum();
    let title = format!(" Sources · {} · {} change(s) waiting to be passed on ", list.len(), pending);
    let detail_h = if area.height >= 14 { 6 } else { 0 };
    let [top, bottom] = Layout::vertical([Constraint::Min(3), Constraint::Length(detail_h)]).areas(area);
    let Some(inner) = super::focused_frame(f, app, top, &title) else { return };
    let body = (inner.height - 1) as usize;
    st.page.set(body);
    let n = list.len();
    let sel = st.selected.min(n.saturating_sub(1));
    let offset = crate::tui::ui::keep_in_view(sel, &st.offset, body, n);
    let wide = inner.width >= 100;
    let mut widths = vec![
        Constraint::Min(8),
        Constraint::Length(8),
        Constraint::Length(if wide { 16 } else { 11 }),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(if wide { 16 } else { 11 }),
    ];
    let mut header = vec![
        "source",
        "kind",
        "last sync",
        "records",
        "pending",
        "suppressed",
        if wide { "last applied" } else { "applied" },
    ];
    if wide {
        widths.insert(4, Constraint::Length(9));
        header.insert(4, "last read");
    }
    let rows = list
        .iter()
        .enumerate()
        .skip(offset)
        .take(body)
        .map(|(i, s)| {
            let pending = if s.pending > 0 {
                Span::styled(crate::tui::ui::fmt_count(s.pending), app.theme.style("finding.warning"))
            } else {
                Span::raw("0")
            };
            let mut cells: Vec<ratatui::widgets::Cell> = vec![
                fit(&sanitize(&s.name), 24).into(),
                s.kind.into(),
                when(s.last_sync, wide).into(),
                s.held.map_or_else(|| "…".to_owned(), crate::tui::ui::fmt_count).into(),
                pending.into(),
                crate::tui::ui::fmt_count(s.suppressed as usize).into(),
                when(s.last_push, wide).into(),
            ];
            if wide {
                cells.insert(4, crate::tui::ui::fmt_count(s.rows as usize).into());
            }
            super::list_row(app, cells, i == sel)
        })
        .collect();
    super::draw_list(f, app, inner, header, widths, rows);
    if n == 0 {
        let at = Rect { y: inner.y + 1, height: 1, ..inner };
        f.render_widget(
            Paragraph::new("no source yet: import a file, or connect a table with `steward source add`")
                .style(app.theme.style("ui.text.dim")),
            at,
        );
    }
    if detail_h > 0
        && let Some(s) = list.get(sel)
    {
        let dim = app.theme.style("ui.text.dim");
        let text = app.theme.style("ui");
        let w = bottom.width.saturating_sub(12) as usize;
        let kv = |k: &str, v: String| {
            Line::from(vec![Span::styled(format!("{k:<8} "), dim), Span::styled(fit(&v, w), text)])
        };
        let lines = match &s.table {
            Some(table) => vec![
                kv(
                    "table",
                    format!(
                        "{} · {}",
                        sanitize(table),
                        if s.incremental {
                            "syncs read rows changed since the last"
                        } else {
                            "syncs read the whole table"
                        }
                    ),
                ),
                kv(
                    "feed",
                    format!("{} waiting · {} applied in all · last sync read {} row(s)", s.pending, s.applied, s.rows),
                ),
                if app.acting_role() >= crate::service::Role::Steward {
                    kv(
                        "keys",
                        "S syncs (new and changed rows) · P pushes the waiting changes · both previewed first".into(),
                    )
                } else {
                    kv("keys", "a steward syncs and pushes".into())
                },
            ],
            None => vec![
                kv("file", "imported by hand: `steward import FILE --source NAME`".into()),
                kv(
                    "feed",
                    format!(
                        "{} waiting · {} acknowledged in all · last import read {} row(s)",
                        s.pending, s.applied, s.rows
                    ),
                ),
                kv("hand", "to its team: `steward changes NAME --recipient KEY -o FILE`, then `--ack N`".into()),
            ],
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(app.theme.style("ui.border"))
            .title(format!(" {} ", fit(&sanitize(&s.name), 40)))
            .title_style(app.theme.style("ui.title"));
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(block), bottom);
    }
}

// ---------------------------------------------------------------- keys

pub fn on_action(app: &mut App, a: Action) -> Vec<Effect> {
    let n = app.sources.list.as_ref().map_or(0, |l| l.len());
    if step(&mut app.sources.selected, n, app.sources.page.get(), a) {
        return Vec::new();
    }
    let Some(s) = app.sources.current().cloned() else { return Vec::new() };
    match a {
        Action::SourceSync | Action::SourcePush if s.kind != "postgres" => {
            app.error = Some(format!(
                "{} is a file source: {}",
                fit(&sanitize(&s.name), 24),
                if a == Action::SourceSync {
                    "import its next export with `steward import FILE --source NAME`"
                } else {
                    "hand its changes to its team with `steward changes NAME --recipient KEY -o FILE`"
                }
            ));
            Vec::new()
        }
        Action::SourceSync => app.open_remedy(Remedy::Sync { source: s.name.clone(), planned: false }),
        Action::SourcePush if s.pending == 0 => {
            app.notice = Some(format!("{}: nothing to push", fit(&sanitize(&s.name), 24)));
            Vec::new()
        }
        Action::SourcePush => app.open_remedy(Remedy::Push { source: s.name.clone(), planned: false }),
        _ => Vec::new(),
    }
}
