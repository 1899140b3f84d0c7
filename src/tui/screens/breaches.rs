//! Breaches: the breach register with the GDPR Art. 33 clock counting down
//! (72 hours from discovery to tell the authority), the risk and whether
//! the people must be told (Art. 34), and the selected incident's counts
//! per category and jurisdiction and its timeline. `o` opens an incident
//! (over the records in view on the Records screen, or all), `n` adds a
//! note, `a` records that the authority was told, `p` that the people were
//! (admins). `steward breach open` takes every scope filter. Holds no personal data:
//! references, counts, categories and the admins' words.

use std::cell::Cell;
use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::model::breach::{Breach, Clock, Risk};
use crate::model::text::{fit, sanitize};
use crate::tui::actions::Action;
use crate::tui::app::{App, Effect, step};
use crate::tui::forms::{self, Form, NoteForm, NotePurpose};

/// The screen's state.
#[derive(Default)]
pub struct BreachesState {
    /// The register, newest first (each without its list of records).
    pub list: Option<Arc<Vec<Breach>>>,
    pub selected: usize,
    pub offset: Cell<usize>,
    pub page: Cell<usize>,
    /// Reload on the next visit.
    pub stale: bool,
}

impl BreachesState {
    pub fn current(&self) -> Option<&Breach> {
        self.list.as_ref().and_then(|l| l.get(self.selected))
    }
}

/// The style of a clock: red when overdue or under 12 hours, amber while it runs.
fn clock_style(c: &Clock) -> &'static str {
    match c {
        Clock::Overdue { .. } => "finding.danger",
        Clock::Running { seconds_left, .. } if *seconds_left < 12 * 3600 => "finding.danger",
        Clock::Running { .. } => "finding.warning",
        Clock::Notified { within_deadline: false, .. } => "finding.warning",
        _ => "ui.text.dim",
    }
}

fn people(b: &Breach) -> (&'static str, &'static str) {
    match (b.people_notified, b.risk) {
        (Some(_), _) => ("told", "ui.text.dim"),
        (None, Risk::High) => ("MUST BE TOLD", "finding.danger"),
        (None, Risk::Unassessed) => ("if high risk", "ui.text.dim"),
        (None, _) => ("not required", "ui.text.dim"),
    }
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let st = &app.breaches;
    let Some(list) = &st.list else {
        let block = Block::default().borders(Borders::ALL).title(" Breaches ").title_style(app.theme.style("ui.title"));
        let msg = if app.acting_role() < crate::service::Role::Steward {
            "stewards and admins see the breach register"
        } else {
            "loading the breach register…"
        };
        f.render_widget(Paragraph::new(msg).style(app.theme.style("ui.text.dim")).block(block), area);
        return;
    };
    let now = app.now;
    let open = list.iter().filter(|b| b.is_open()).count();
    let next = list
        .iter()
        .filter(|b| b.is_open())
        .filter_map(|b| match b.clock(now) {
            c @ (Clock::Running { .. } | Clock::Overdue { .. }) => Some(c),
            _ => None,
        })
        .min_by_key(|c| match c {
            Clock::Running { seconds_left, .. } => *seconds_left,
            Clock::Overdue { seconds_over, .. } => -seconds_over,
            _ => i64::MAX,
        });
    let title = match &next {
        Some(c) => format!(" Breaches · {open} open · authority: {} ", c.short()),
        None => format!(" Breaches · {open} open "),
    };
    let detail_h = if area.height >= 16 { area.height / 2 } else { 0 };
    let [top, bottom] = Layout::vertical([Constraint::Min(3), Constraint::Length(detail_h)]).areas(area);
    let Some(inner) = super::focused_frame(f, app, top, &title) else { return };
    let body = (inner.height - 1) as usize;
    st.page.set(body);
    let n = list.len();
    let sel = st.selected.min(n.saturating_sub(1));
    let offset = crate::tui::ui::keep_in_view(sel, &st.offset, body, n);
    let wide = inner.width >= 100;
    let narrow = inner.width < 60;
    let mut header = vec!["ref", "discovered", "records", "authority (Art. 33)", "people"];
    let mut widths = vec![
        Constraint::Length(13),
        Constraint::Length(if wide { 17 } else { 11 }),
        Constraint::Length(8),
        Constraint::Min(16),
        Constraint::Length(13),
    ];
    if wide {
        header.push("risk");
        widths.push(Constraint::Length(28));
    }
    if narrow {
        // The reference, the clock and the people: what matters at 2 a.m.
        header = vec!["ref", "authority", "people"];
        widths = vec![Constraint::Length(12), Constraint::Min(10), Constraint::Length(12)];
    }
    let rows = list
        .iter()
        .enumerate()
        .skip(offset)
        .take(body)
        .map(|(i, b)| {
            let clock = b.clock(now);
            let (who, style) = people(b);
            let discovered =
                if wide { b.discovered.format("%Y-%m-%d %H:%M") } else { b.discovered.format("%m-%d %H:%M") };
            let mut cells: Vec<ratatui::widgets::Cell> = vec![
                fit(&sanitize(&b.reference), 13).into(),
                discovered.to_string().into(),
                crate::tui::ui::fmt_count(b.figures.records).into(),
                if b.is_open() {
                    Span::styled(clock.short(), app.theme.style(clock_style(&clock))).into()
                } else {
                    Span::styled("closed", app.theme.style("ui.text.dim")).into()
                },
                Span::styled(who, app.theme.style(if b.is_open() { style } else { "ui.text.dim" })).into(),
            ];
            if wide {
                cells.push(b.risk.name().into());
            }
            if narrow {
                cells.remove(2);
                cells.remove(1);
            }
            super::list_row(app, cells, i == sel)
        })
        .collect();
    super::draw_list(f, app, inner, header, widths, rows);
    if n == 0 {
        let at = Rect { y: inner.y + 1, height: 1, ..inner };
        f.render_widget(
            Paragraph::new(fit(
                "no breach recorded · o opens one (or `steward breach open --discovered TIME --what TEXT ...`)",
                at.width as usize,
            ))
            .style(app.theme.style("ui.text.dim")),
            at,
        );
    }
    if detail_h > 0
        && let Some(b) = list.get(sel)
    {
        draw_detail(f, app, b, bottom);
    }
}

fn draw_detail(f: &mut Frame, app: &App, b: &Breach, area: Rect) {
    let dim = app.theme.style("ui.text.dim");
    let text = app.theme.style("ui");
    let w = area.width.saturating_sub(13) as usize;
    let kv = |k: &str, v: String, style| {
        Line::from(vec![Span::styled(format!("{k:<10} "), dim), Span::styled(fit(&v, w), style)])
    };
    let clock = b.clock(app.now);
    let f_ = &b.figures;
    let cats: Vec<String> = {
        let mut v: Vec<(&String, &usize)> = f_.by_category.iter().collect();
        v.sort_by(|a, b| {
            f_.high_risk_categories.contains(b.0).cmp(&f_.high_risk_categories.contains(a.0)).then(b.1.cmp(a.1))
        });
        v.iter()
            .map(|(c, n)| {
                let short = c.strip_prefix("user.").unwrap_or(c);
                if f_.high_risk_categories.contains(c) {
                    format!("{short} {n} (HIGH RISK)")
                } else {
                    format!("{short} {n}")
                }
            })
            .collect()
    };
    let juris: Vec<String> = f_.by_jurisdiction.iter().map(|(j, n)| format!("{j} {n}")).collect();
    let mut lines = vec![
        kv("what", sanitize(&b.what), text),
        kv(
            "scope",
            format!("{} · {} record(s), about {} people", sanitize(&b.scope.describe()), f_.records, f_.people),
            text,
        ),
        kv("authority", crate::service::breach::clock_words(&clock), app.theme.style(clock_style(&clock))),
        kv(
            "risk",
            match (b.risk, b.suggested_risk()) {
                (Risk::Unassessed, Risk::High) => {
                    "not assessed: the data suggests a HIGH risk (Art. 34: tell the people)".into()
                }
                (r, _) => format!(
                    "{}{}",
                    r.name(),
                    b.risk_reason.as_deref().map(|x| format!(" — {}", sanitize(x))).unwrap_or_default()
                ),
            },
            if b.people_due() { app.theme.style("finding.danger") } else { text },
        ),
        kv("data", cats.join(" · "), text),
        kv("law", juris.join(" · "), text),
    ];
    let room = area.height.saturating_sub(2) as usize;
    let keys = if app.acting_role() >= crate::service::Role::Admin {
        "o open · n note · r risk · a authority told · L list · p people told · W report · c close"
    } else {
        "an admin records notes and notifications · `steward breach report REF` for the authority"
    };
    let steps = room.saturating_sub(lines.len() + 1);
    for s in b.timeline.iter().rev().take(steps).rev() {
        lines.push(kv(
            &s.time.format("%m-%d %H:%M").to_string(),
            format!("{}: {}", sanitize(&s.by), sanitize(&s.what)),
            text,
        ));
    }
    lines.truncate(room.saturating_sub(1));
    lines.push(Line::styled(fit(keys, area.width.saturating_sub(2) as usize), dim));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.style("ui.border"))
        .title(format!(" {} · discovered {} ", sanitize(&b.reference), b.discovered.format("%Y-%m-%d %H:%M UTC")))
        .title_style(app.theme.style("ui.title"));
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(block), area);
}

// ---------------------------------------------------------------- keys

pub fn on_action(app: &mut App, a: Action) -> Vec<Effect> {
    let n = app.breaches.list.as_ref().map_or(0, |l| l.len());
    if step(&mut app.breaches.selected, n, app.breaches.page.get(), a) {
        return Vec::new();
    }
    if a == Action::BreachOpen {
        // The records in view on the Records screen when it is narrowed
        // (a selection, a search, a filter); else every record.
        let narrowed = !app.selection.is_empty() || app.search.hits.is_some() || app.filter.is_some();
        let ids = if narrowed { app.selected_or_in_view() } else { Vec::new() };
        if narrowed && ids.is_empty() {
            app.error =
                Some("no record in view on the Records screen: clear the search (Esc there) to scope all".into());
            return Vec::new();
        }
        app.open_form(Form::Breach(Box::new(forms::BreachForm::new(ids))));
        return Vec::new();
    }
    let Some(b) = app.breaches.current() else { return Vec::new() };
    if !b.is_open() && a != Action::BreachReport {
        app.error = Some(format!("{} is closed", sanitize(&b.reference)));
        return Vec::new();
    }
    let reference = b.reference.clone();
    let purpose = match a {
        Action::BreachNote => NotePurpose::BreachNote(reference),
        Action::BreachAuthority => NotePurpose::BreachAuthority(reference),
        Action::BreachPeople => NotePurpose::BreachPeople(reference),
        Action::BreachRisk => NotePurpose::BreachRisk(reference, b.suggested_risk()),
        Action::BreachClose => NotePurpose::BreachClose(reference),
        Action::BreachList => {
            app.open_form(Form::Export(Box::new(forms::ExportForm::breach_list(&reference))));
            return Vec::new();
        }
        Action::BreachReport => {
            let dir = std::env::current_dir().unwrap_or_default();
            let file = dir.join(format!("{reference}-report.md")).to_string_lossy().into_owned();
            app.open_form(Form::Note(Box::new(NoteForm {
                purpose: NotePurpose::BreachReport(reference),
                text: forms::TextInput::new(&file),
                failed: false,
            })));
            return Vec::new();
        }
        _ => return Vec::new(),
    };
    app.open_form(Form::Note(Box::new(NoteForm { purpose, text: forms::TextInput::default(), failed: false })));
    Vec::new()
}
