//! Audit: the trail newest first, filtered by action, user or record; the
//! selected entry in full below. Entries hold no personal data, but reasons
//! are typed by people, so they are sanitised like everything else.

use crate::tui::actions::Action;
use crate::tui::app::{App, step};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Wrap};

use crate::model::text::fit;
use crate::service::AuditOutcome as Outcome;
use crate::tui::ui::fmt_count;

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let au = &app.audit;
    let Some(all) = &au.entries else {
        let block = Block::default().borders(Borders::ALL).title(" Audit ").title_style(app.theme.style("ui.title"));
        f.render_widget(
            Paragraph::new("loading the audit trail…").style(app.theme.style("ui.text.dim")).block(block),
            area,
        );
        return;
    };
    let visible = au.visible();
    let mut filters = Vec::new();
    if let Some(a) = &au.action {
        filters.push(format!("action {a}"));
    }
    if let Some(u) = &au.user {
        filters.push(format!("user {}", fit(u, 24)));
    }
    if let Some(r) = &au.record {
        filters.push(format!("record …{}", &r[r.len().saturating_sub(6)..]));
    }
    let title = if filters.is_empty() {
        format!(" Audit · {} entries, newest first · a action · w user · r record ", fmt_count(all.len()))
    } else {
        format!(
            " Audit · {} of {} · {} · Esc clears ",
            fmt_count(visible.len()),
            fmt_count(all.len()),
            filters.join(" · ")
        )
    };
    let detail_h = if area.height >= 16 { 6 } else { 0 };
    let [top, bottom] = Layout::vertical([Constraint::Min(3), Constraint::Length(detail_h)]).areas(area);
    let Some(inner) = super::focused_frame(f, app, top, &title) else { return };
    let body = (inner.height - 1) as usize;
    au.page.set(body);
    let n = visible.len();
    let sel = au.selected.min(n.saturating_sub(1));
    let offset = crate::tui::ui::keep_in_view(sel, &au.offset, body, n);
    let wide = inner.width >= 100;
    let widths: Vec<Constraint> = if wide {
        vec![
            Constraint::Length(6),
            Constraint::Length(16),
            Constraint::Length(10),
            Constraint::Length(11),
            Constraint::Length(7),
            Constraint::Min(10),
        ]
    } else {
        vec![
            Constraint::Length(5),
            Constraint::Length(11),
            Constraint::Length(10),
            Constraint::Length(7),
            Constraint::Min(6),
        ]
    };
    let header: Vec<&str> = if wide {
        vec!["#", "time (UTC)", "user", "action", "outcome", "records · detail"]
    } else {
        vec!["#", "time", "action", "outcome", "detail"]
    };
    let rows: Vec<Row> = visible
        .iter()
        .enumerate()
        .skip(offset)
        .take(body)
        .map(|(i, e)| {
            let outcome_style = match e.outcome {
                Outcome::Ok => app.theme.style("ui.ok"),
                Outcome::Denied => app.theme.style("finding.warning"),
                Outcome::Failed => app.theme.style("ui.error"),
            };
            let what = match e.records.len() {
                0 => e.detail.clone().unwrap_or_default(),
                1 => format!("{} · {}", e.records[0], e.detail.clone().unwrap_or_default()),
                k => format!("{} (+{}) · {}", e.records[0], k - 1, e.detail.clone().unwrap_or_default()),
            };
            let mut cells = vec![Cell::from(e.seq.to_string())];
            if wide {
                cells.push(Cell::from(e.time.format("%Y-%m-%d %H:%M").to_string()));
                cells.push(Cell::from(fit(&e.user, 10)));
            } else {
                cells.push(Cell::from(e.time.format("%m-%d %H:%M").to_string()));
            }
            cells.push(Cell::from(fit(&e.action, 11)));
            cells.push(Cell::from(Span::styled(e.outcome.name(), outcome_style)));
            cells.push(Cell::from(fit(&what, inner.width as usize)));
            super::list_row(app, cells, i == sel)
        })
        .collect();
    let empty = rows.is_empty();
    super::draw_list(f, app, inner, header, widths, rows);
    if empty {
        let at = Rect { y: inner.y + 1, height: 1, ..inner };
        f.render_widget(
            Paragraph::new("no entries match; Esc clears the filters").style(app.theme.style("ui.text.dim")),
            at,
        );
    }
    if detail_h > 0
        && let Some(e) = visible.get(sel)
    {
        let dim = app.theme.style("ui.text.dim");
        let text = app.theme.style("ui");
        let kv = |k: &str, v: String| Line::from(vec![Span::styled(format!("{k:<8} "), dim), Span::styled(v, text)]);
        let w = bottom.width.saturating_sub(12) as usize;
        let lines = vec![
            kv(
                "who",
                fit(&format!("{} (OS user {}) at {}", e.user, e.os_user, e.time.format("%Y-%m-%d %H:%M:%S UTC")), w),
            ),
            kv(
                "why",
                fit(
                    &format!(
                        "{}{}",
                        e.reason.as_deref().unwrap_or("—"),
                        e.request.as_ref().map(|r| format!(" · request {r}")).unwrap_or_default()
                    ),
                    w,
                ),
            ),
            kv("records", fit(&if e.records.is_empty() { "—".to_owned() } else { e.records.join(", ") }, w)),
            kv(
                "state",
                fit(
                    &format!(
                        "before {} · after {}",
                        e.before.as_deref().unwrap_or("—"),
                        e.after.as_deref().unwrap_or("—")
                    ),
                    w,
                ),
            ),
        ];
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(app.theme.style("ui.border"))
            .title(format!(" Entry {} ", e.seq))
            .title_style(app.theme.style("ui.title"));
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(block), bottom);
    }
}

// ---------------------------------------------------------------- keys

pub fn on_action(app: &mut App, a: Action) {
    let n = app.audit.visible().len();
    if step(&mut app.audit.selected, n, app.audit.page.get(), a) {
        return;
    }
    let au = &mut app.audit;
    match a {
        Action::AuditFilterAction => au.action = au.cycle(&au.action, |e| e.action.as_str()),
        Action::AuditFilterUser => au.user = au.cycle(&au.user, |e| e.user.as_str()),
        Action::AuditFilterRecord => {
            let id = app.selected_record().map(|r| r.id.to_string());
            let au = &mut app.audit;
            au.record = if au.record.is_some() { None } else { id };
        }
        Action::AuditClear => {
            au.action = None;
            au.user = None;
            au.record = None;
        }
        _ => {}
    }
    let n = app.audit.visible().len();
    app.audit.selected = app.audit.selected.min(n.saturating_sub(1));
}
