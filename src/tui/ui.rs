//! Top-level drawing: tab bar, the current screen, status bar, overlays.
//! Draws state only; never changes it beyond the table's viewport cells.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::actions::{self, ACTIONS, Mode};
use super::app::{App, Screen};
use super::{popups, screens};
use crate::model::text::fit;

/// Smallest area the full UI is drawn in.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 8;

/// Draws the whole UI.
pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    // Until a dialog is drawn whole, it is not seen: it takes no keys.
    app.form_hidden.set(true);
    if area.width == 0 || area.height == 0 {
        return;
    }
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let (w, h) = (area.width, area.height);
        let msg = [
            format!("Terminal too small ({w}x{h}); need {MIN_WIDTH}x{MIN_HEIGHT}"),
            format!("Too small: {w}x{h} < {MIN_WIDTH}x{MIN_HEIGHT}"),
            "Too small".to_owned(),
            "!".to_owned(),
        ]
        .into_iter()
        .find(|m| crate::model::text::width(m) <= w as usize)
        .unwrap_or_default();
        let y = area.y + area.height / 2;
        let line = Rect { x: area.x, y, width: area.width, height: 1 };
        f.render_widget(
            Paragraph::new(fit(&msg, area.width as usize))
                .style(app.theme.style("ui.warning"))
                .alignment(Alignment::Center),
            line,
        );
        return;
    }
    if let Some(why) = &app.ended {
        let lines = [
            "This read-only view has ended:".to_owned(),
            why.clone(),
            "Its data was dropped from memory and its copy deleted.".to_owned(),
            String::new(),
            "q quits; open `--read-only` again for the current snapshot.".to_owned(),
        ];
        // Wrapped to the width, centred as a block.
        let width = usize::from(area.width.max(1));
        let rows: u16 = lines.iter().map(|l| l.chars().count().div_ceil(width).max(1) as u16).sum();
        let top = area.y + area.height.saturating_sub(rows) / 2;
        let text: Vec<ratatui::text::Line> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let style = app.theme.style(if i == 0 { "ui.warning" } else { "ui.text" });
                ratatui::text::Line::styled(l.clone(), style)
            })
            .collect();
        f.render_widget(
            Paragraph::new(text).alignment(Alignment::Center).wrap(ratatui::widgets::Wrap { trim: true }),
            Rect { x: area.x, y: top, width: area.width, height: area.height.saturating_sub(top - area.y) },
        );
        return;
    }
    if let Some(l) = &app.locked {
        let view = super::login::LoginView {
            store: app.info.store.clone(),
            user: app.info.user.clone(),
            message: Some(
                l.message.clone().unwrap_or_else(|| "Locked while idle; decrypted data dropped. Passphrase:".into()),
            ),
            busy: l.busy,
            typed: !l.secret.is_empty(),
        };
        super::login::draw(f, &app.theme, &view);
        return;
    }
    let [tabs, body, status] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1), Constraint::Length(1)]).areas(area);
    draw_tabs(f, app, tabs);
    match app.screen {
        Screen::Dashboard => screens::dashboard::draw(f, app, body),
        Screen::Records => screens::records::draw(f, app, body),
        Screen::Findings => screens::findings::draw(f, app, body),
        Screen::Requests => screens::requests::draw(f, app, body),
        Screen::Audit => screens::audit::draw(f, app, body),
        Screen::Sources => screens::sources::draw(f, app, body),
        Screen::Breaches => screens::breaches::draw(f, app, body),
    }
    draw_status(f, app, status);
    if app.form.is_some() {
        popups::forms::draw(f, app, body);
    }
    if app.mode == Mode::Help {
        popups::help::draw(f, app, body);
    }
}

fn draw_tabs(f: &mut Frame, app: &App, area: Rect) {
    let ro = app.info.read_only.as_ref().map(|t| format!("READ-ONLY snapshot {t} · ")).unwrap_or_default();
    let others = match app.others.len() {
        0 => String::new(),
        1 => format!("also here: {} · ", crate::model::text::fit(&app.others[0], 24)),
        n => format!("also here: {} +{} · ", crate::model::text::fit(&app.others[0], 16), n - 1),
    };
    let who = format!("{}{} · {} ", if app.info.demo { "DEMO · " } else { "" }, app.info.user, app.info.role);
    // Who else is working: named, else counted, else (no room) left out.
    let compact_tabs: usize = Screen::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| if *s == app.screen { format!(" {} {} ", i + 1, s.title()).len() } else { 3 })
        .sum();
    let counted = match app.others.len() {
        0 => String::new(),
        n => format!("+{n} here · "),
    };
    let right = [format!("{ro}{others}{who}"), format!("{ro}{counted}{who}"), format!("{ro}{who}")]
        .into_iter()
        .find(|r| compact_tabs + crate::model::text::width(r) < area.width as usize)
        .unwrap_or_else(|| format!("{ro}{who}"));
    let full: usize = Screen::ALL.iter().enumerate().map(|(i, s)| format!(" {} {} ", i + 1, s.title()).len()).sum();
    let room = area.width as usize;
    // Full titles when they fit beside the user; else only the active title.
    let compact = full + crate::model::text::width(&right) >= room;
    let mut spans = Vec::new();
    for (i, s) in Screen::ALL.iter().enumerate() {
        let active = *s == app.screen;
        let style = if active { app.theme.style("ui.tab.active") } else { app.theme.style("ui.tab") };
        let text = if compact && !active { format!(" {} ", i + 1) } else { format!(" {} {} ", i + 1, s.title()) };
        spans.push(Span::styled(text, style));
    }
    let used: usize = spans.iter().map(|s| s.width()).sum();
    f.render_widget(Paragraph::new(Line::from(spans)), area);
    let rest = room.saturating_sub(used);
    let rw = crate::model::text::width(&right);
    if rw <= rest {
        let r = Rect { x: area.x + (room - rw) as u16, width: rw as u16, ..area };
        let style = if app.info.read_only.is_some() { "ui.warning" } else { "ui.text.dim" };
        f.render_widget(Paragraph::new(right).style(app.theme.style(style)), r);
    }
}

/// Status-bar hints for the current mode, from the action registry.
pub fn hints(app: &App) -> Vec<(String, &'static str)> {
    let modes: &[Mode] = match (app.key_mode(), app.screen) {
        (Mode::Search, _) => &[Mode::Search],
        (Mode::Help, _) => &[Mode::Help],
        (Mode::Form, _) => &[Mode::Form],
        (Mode::Merge, _) => &[Mode::Merge],
        (_, Screen::Records) => &[Mode::Records, Mode::Global],
        (_, Screen::Findings) => &[Mode::Findings, Mode::Global],
        (_, Screen::Audit) => &[Mode::Audit, Mode::Global],
        (_, Screen::Sources) => &[Mode::Sources, Mode::Global],
        (_, Screen::Breaches) => &[Mode::Breaches, Mode::Global],
        (_, Screen::Requests) => &[Mode::Requests, Mode::Global],
        _ => &[Mode::Global],
    };
    modes
        .iter()
        .flat_map(|m| ACTIONS.iter().filter(move |a| a.mode == *m && app.offers(a.action, a.mode)))
        .filter_map(|a| Some((actions::key_label(a.keys.first()?), a.hint?)))
        .collect()
}

fn draw_status(f: &mut Frame, app: &App, area: Rect) {
    f.render_widget(Clear, area);
    let bar = app.theme.style("ui.statusbar");
    let key = app.theme.style("ui.statusbar.key");
    let mut spans: Vec<Span> = Vec::new();
    if let Some(e) = &app.error {
        spans.push(Span::styled(fit(e, area.width as usize), app.theme.style("ui.error")));
    } else if let Some(b) = app.busy.as_ref().filter(|_| app.mode != Mode::Search) {
        spans.push(Span::styled(fit(&format!("{b}…"), area.width as usize), app.theme.style("ui.warning")));
    } else if let Some(n) = app.notice.as_ref().filter(|_| app.form.is_none() && app.mode != Mode::Search) {
        spans.push(Span::styled(fit(n, area.width as usize), app.theme.style("ui.ok")));
    } else if app.mode == Mode::Search || !app.search.query.is_empty() {
        let input = app.theme.style("ui.search.input");
        spans.push(Span::styled("/", key));
        let q = fit(&app.search.query, (area.width as usize).saturating_sub(24).max(1));
        spans.push(Span::styled(q, input));
        if app.mode == Mode::Search {
            spans.push(Span::styled("▏", input));
        }
        let count = if app.search.pending {
            "  searching…".to_owned()
        } else {
            match &app.search.hits {
                Some(h) => format!("  {} match{}", fmt_count(h.len()), if h.len() == 1 { "" } else { "es" }),
                None => String::new(),
            }
        };
        spans.push(Span::styled(count, bar));
    }
    if spans.is_empty() || app.mode != Mode::Search {
        let mut used: usize = spans.iter().map(|s| s.width()).sum();
        if used > 0 {
            spans.push(Span::styled("  ", bar));
            used += 2;
        }
        for (k, label) in hints(app) {
            let w = k.chars().count() + label.chars().count() + 3;
            if used + w > area.width as usize {
                break;
            }
            spans.push(Span::styled(format!(" {k}"), key));
            spans.push(Span::styled(format!(" {label} "), bar));
            used += w;
        }
    }
    f.render_widget(Paragraph::new(Line::from(spans)).style(bar), area);
}

/// `1234567` → `1,234,567`.
pub fn fmt_count(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Scrolls a list so that row `sel` is visible in `rows` rows; returns and
/// remembers the first visible row. (Drawing only moves the viewport.)
pub fn keep_in_view(sel: usize, offset: &std::cell::Cell<usize>, rows: usize, len: usize) -> usize {
    let mut first = offset.get();
    if sel < first {
        first = sel;
    } else if sel >= first + rows {
        first = sel + 1 - rows;
    }
    first = first.min(len.saturating_sub(rows));
    offset.set(first);
    first
}
