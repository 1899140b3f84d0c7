//! Requests: the data-subject request queue, most urgent first, with days
//! left; overdue and due-soon requests carry a badge (`!`, `~`) as well as a
//! colour. The selected request's details below. Requester details are
//! masked for roles that see masked data (the service does that).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

use crate::model::text::fit;
use crate::service::requests::RequestView;
use crate::tui::app::App;

/// `(badge, "N days left" | "N days overdue" | status, style slot)`.
pub fn urgency(v: &RequestView) -> (&'static str, String, &'static str) {
    if !v.status.is_open() {
        (" ", v.status.name().to_owned(), "ui.text.dim")
    } else if v.overdue {
        ("!", format!("{} days overdue", -v.days_left), "finding.danger")
    } else if v.due_soon {
        ("~", format!("{} days left", v.days_left), "finding.warning")
    } else {
        (" ", format!("{} days left", v.days_left), "ui")
    }
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let Some(list) = &app.requests.list else {
        let block = Block::default().borders(Borders::ALL).title(" Requests ").title_style(app.theme.style("ui.title"));
        f.render_widget(
            Paragraph::new("loading the request queue…").style(app.theme.style("ui.text.dim")).block(block),
            area,
        );
        return;
    };
    let open = list.iter().filter(|v| v.status.is_open()).count();
    let overdue = list.iter().filter(|v| v.overdue).count();
    let soon = list.iter().filter(|v| v.due_soon).count();
    let title = format!(" Requests · {open} open · {overdue} overdue · {soon} due within 7 days ");
    let detail_h = if area.height >= 18 { 8 } else { 0 };
    let [top, bottom] = Layout::vertical([Constraint::Min(3), Constraint::Length(detail_h)]).areas(area);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.style("ui.border.focused"))
        .title(fit(&title, area.width.saturating_sub(2) as usize))
        .title_style(app.theme.style("ui.title"));
    let inner = block.inner(top);
    f.render_widget(block, top);
    if inner.height < 2 {
        return;
    }
    let body = (inner.height - 1) as usize;
    app.requests.page.set(body);
    let sel = app.requests.selected.min(list.len().saturating_sub(1));
    let offset = crate::tui::ui::keep_in_view(sel, &app.requests.offset, body, list.len());
    let wide = inner.width >= 90;
    let widths: Vec<Constraint> = if wide {
        vec![
            Constraint::Length(1),
            Constraint::Length(14),
            Constraint::Length(13),
            Constraint::Length(5),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(17),
            Constraint::Min(8),
        ]
    } else {
        vec![
            Constraint::Length(1),
            Constraint::Length(13),
            Constraint::Length(11),
            Constraint::Length(16),
            Constraint::Min(6),
        ]
    };
    let header: Vec<&str> = if wide {
        vec!["", "ref", "type", "law", "received", "due", "days", "status"]
    } else {
        vec!["", "ref", "type", "days", "status"]
    };
    let rows: Vec<Row> = list
        .iter()
        .enumerate()
        .skip(offset)
        .take(body)
        .map(|(i, v)| {
            let (badge, left, slot) = urgency(v);
            let mut cells = vec![
                Cell::from(Span::styled(badge, app.theme.style(slot))),
                Cell::from(fit(&v.reference, 14)),
                Cell::from(v.kind.name()),
            ];
            if wide {
                cells.push(Cell::from(v.jurisdiction.clone()));
                cells.push(Cell::from(v.received.to_string()));
                cells.push(Cell::from(v.due.to_string()));
            }
            cells.push(Cell::from(Span::styled(left, app.theme.style(slot))));
            cells.push(Cell::from(v.status.name()));
            let style = if i == sel { app.theme.style("ui.selection") } else { Style::default() };
            Row::new(cells).style(style)
        })
        .collect();
    f.render_widget(
        Table::new(rows, widths)
            .header(Row::new(header.into_iter().map(Cell::from)).style(app.theme.style("ui.header")))
            .column_spacing(1),
        inner,
    );
    if detail_h > 0
        && let Some(v) = list.get(sel)
    {
        let dim = app.theme.style("ui.text.dim");
        let w = bottom.width.saturating_sub(14) as usize;
        let kv =
            |k: &str, val: String| Line::from(vec![Span::styled(format!("{k:<11} "), dim), Span::raw(fit(&val, w))]);
        let q = &v.requester;
        let who = [q.name.as_deref(), q.email.as_deref(), q.phone.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ");
        let mut lines = vec![
            kv("requester", who),
            kv(
                "received",
                format!("{} by {} · due {} ({})", v.received, v.channel, v.due, v.jurisdiction.to_uppercase()),
            ),
            kv(
                "identity",
                format!(
                    "{}{}",
                    v.verification.status,
                    v.verification.method.as_ref().map(|m| format!(" ({m})")).unwrap_or_default()
                ),
            ),
        ];
        if let Some(a) = v.acknowledge_by {
            lines.push(kv("acknowledge", format!("by {a}")));
        }
        if let Some(e) = v.extension_notice_by.filter(|_| v.status.is_open()) {
            lines.push(kv("extension", format!("must be notified by {e}")));
        }
        let history: Vec<String> =
            v.history.iter().map(|h| format!("{} {} ({})", h.time.format("%m-%d"), h.what, h.user)).collect();
        lines.push(kv("history", history.join(" → ")));
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(app.theme.style("ui.border"))
            .title(format!(" {} ", fit(&v.reference, 30)))
            .title_style(app.theme.style("ui.title"));
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(block), bottom);
    }
}
