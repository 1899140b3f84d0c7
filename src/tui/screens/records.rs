//! Records: a virtualised table (only visible rows are built, so it stays
//! instant at a million records), search highlighting, and a detail pane.

use crate::tui::actions::Action;
use crate::tui::app::{App, Effect, Job};
use crate::tui::forms::{self, EditForm, ExportForm, Form};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

use crate::model::text::fit;
use crate::model::{Field, Record};
use crate::search::match_positions;
use crate::tui::app::SortKey;
use crate::tui::ui::fmt_count;

/// Text with the chars at `positions` highlighted, cut to `width`.
fn highlighted(text: &str, query: &str, width: usize, base: Style, hl: Style) -> Line<'static> {
    let shown = fit(text, width);
    if query.trim().is_empty() {
        return Line::from(Span::styled(shown, base));
    }
    let pos = match_positions(&shown, query);
    if pos.is_empty() {
        return Line::from(Span::styled(shown, base));
    }
    let mut spans = Vec::new();
    let mut cur = String::new();
    let mut cur_hl = false;
    for (i, c) in shown.chars().enumerate() {
        let h = pos.binary_search(&i).is_ok();
        if h != cur_hl && !cur.is_empty() {
            spans.push(Span::styled(std::mem::take(&mut cur), if cur_hl { hl } else { base }));
        }
        cur_hl = h;
        cur.push(c);
    }
    if !cur.is_empty() {
        spans.push(Span::styled(cur, if cur_hl { hl } else { base }));
    }
    Line::from(spans)
}

/// The finding badges of a record (a letter per kind — a cue that does not
/// depend on colour), coloured by the worst kind.
fn badges(app: &App, index: usize, width: usize) -> Cell<'static> {
    use crate::findings::Kind;
    let Some(bits) = app.report.as_ref().and_then(|r| r.kinds.get(index).copied()) else {
        return Cell::from("");
    };
    let kinds: Vec<Kind> = Kind::ALL.into_iter().filter(|k| bits & k.bit() != 0).collect();
    if kinds.is_empty() {
        return Cell::from("");
    }
    let text: String = kinds.iter().map(|k| k.badge()).collect();
    let danger = kinds.iter().any(|k| matches!(k, Kind::Duplicate | Kind::Pii | Kind::Expired));
    let slot = if danger {
        "finding.danger"
    } else if kinds.contains(&Kind::Stale) && kinds.len() == 1 {
        "record.stale"
    } else {
        "finding.warning"
    };
    Cell::from(Span::styled(fit(&text, width), app.theme.style(slot)))
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let Some(data) = &app.data else {
        super::dashboard::draw(f, app, area);
        return;
    };
    let (table_area, detail_area) = if app.table.detail {
        if area.width >= 110 {
            let [t, d] = Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(area);
            (t, Some(d))
        } else {
            let [t, d] = Layout::vertical([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(area);
            (t, Some(d))
        }
    } else {
        (area, None)
    };
    draw_table(f, app, data, table_area);
    if let Some(d) = detail_area
        && let Some(r) = app.selected_record()
    {
        match app.revealed.as_deref().filter(|x| x.id == r.id) {
            Some(real) => draw_detail(f, app, real, d),
            None => draw_detail(f, app, r, d),
        }
    }
}

fn draw_table(f: &mut Frame, app: &App, data: &crate::tui::app::Data, area: Rect) {
    let n = app.row_count();
    let sort = if app.table.sort == SortKey::Imported && !app.table.descending {
        String::new()
    } else {
        format!(" · sorted by {}{}", app.table.sort.label(), if app.table.descending { " ↓" } else { "" })
    };
    let filter = app.filter.map(|k| format!(" · only {} (f: next, Esc: all)", k.name())).unwrap_or_default();
    let selected = if app.selection.is_empty() {
        String::new()
    } else {
        format!(" · {} selected (x erase, E export, Esc unselect)", fmt_count(app.selection.len()))
    };
    let title = if app.search.hits.is_some() || app.filter.is_some() {
        format!(" Records · {} of {} match{}{}{} ", fmt_count(n), fmt_count(data.records.len()), sort, filter, selected)
    } else {
        format!(" Records · {}{}{} ", fmt_count(n), sort, selected)
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.style("ui.border.focused"))
        .title(title)
        .title_style(app.theme.style("ui.title"));
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height < 2 || inner.width < 4 {
        return;
    }
    let body_rows = (inner.height - 1) as usize;
    app.table.page.set(body_rows);
    let sel = app.table.selected.min(n.saturating_sub(1));
    let offset = crate::tui::ui::keep_in_view(sel, &app.table.offset, body_rows, n);

    let w = inner.width as usize;
    let widths = if w >= 100 {
        vec![
            Constraint::Length(4),
            Constraint::Length(26),
            Constraint::Length(30),
            Constraint::Length(18),
            Constraint::Length(4),
            Constraint::Min(8),
        ]
    } else {
        vec![Constraint::Length(3), Constraint::Percentage(34), Constraint::Percentage(40), Constraint::Percentage(26)]
    };
    let col_w: Vec<usize> = Layout::horizontal(widths.clone())
        .spacing(1)
        .split(Rect { x: 0, y: 0, width: inner.width, height: 1 })
        .iter()
        .map(|r| r.width as usize)
        .collect();
    let header_cells: &[&str] =
        if w >= 100 { &["!", "Name", "Email", "Phone", "Ctry", "Source id"] } else { &["!", "Name", "Email", "Phone"] };
    let header = Row::new(header_cells.iter().map(|h| Cell::from(*h))).style(app.theme.style("ui.header"));
    let base = app.theme.style("ui");
    let hl = app.theme.style("ui.search.match");
    let q = &app.search.query;
    let rows: Vec<Row> = (offset..(offset + body_rows).min(n))
        .filter_map(|row| {
            let r = &data.records[app.record_at(row)?];
            let mut name = r.display_name();
            if name.is_empty() {
                name = "—".into();
            }
            if app.selection.contains(&r.id) {
                name = format!("● {name}");
            }
            let index = app.record_at(row)?;
            let mut cells = vec![
                badges(app, index, col_w[0]),
                Cell::from(highlighted(&name, q, col_w[1], base, hl)),
                Cell::from(highlighted(r.email.as_deref().unwrap_or(""), q, col_w[2], base, hl)),
                Cell::from(highlighted(r.phone.as_deref().unwrap_or(""), q, col_w[3], base, hl)),
            ];
            if col_w.len() > 4 {
                cells.push(Cell::from(fit(r.address.country.as_deref().unwrap_or(""), col_w[4])));
                cells.push(Cell::from(highlighted(&r.source_id, q, col_w[5], base, hl)));
            }
            let style = if row == sel { app.theme.style("ui.selection") } else { Style::default() };
            Some(Row::new(cells).style(style))
        })
        .collect();
    let empty = rows.is_empty();
    f.render_widget(Table::new(rows, widths).header(header).column_spacing(1), inner);
    if empty {
        let msg = if app.search.pending {
            "searching…"
        } else if app.search.hits.is_some() {
            "no record matches; Esc clears the search"
        } else {
            "no records yet: import some with `steward import FILE`"
        };
        let at = Rect { y: inner.y + 2.min(inner.height - 1), height: 1, ..inner };
        f.render_widget(Paragraph::new(fit(msg, w)).style(app.theme.style("ui.text.dim")), at);
    }
}

fn draw_detail(f: &mut Frame, app: &App, r: &Record, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.style("ui.border"))
        .title(if app.role() >= crate::service::Role::Admin {
            " Details "
        } else if app.revealed.as_deref().is_some_and(|x| x.id == r.id) {
            " Details · revealed (audited) "
        } else if app.role() >= crate::service::Role::Steward {
            " Details · masked · r reveals "
        } else {
            " Details · masked "
        })
        .title_style(app.theme.style("ui.title"));
    let label = app.theme.style("ui.text.dim");
    let value = app.theme.style("ui");
    // Wide enough: room for extra-field names such as `marketing_consent`.
    let lw = if area.width >= 70 { 20 } else { 15 };
    let vw = (area.width as usize).saturating_sub(2 + lw + 1).max(1);
    let row = |k: String, v: String| {
        Line::from(vec![Span::styled(format!("{:<lw$} ", fit(&k, lw)), label), Span::styled(fit(&v, vw), value)])
    };
    let mut lines = vec![
        row("id".into(), r.id.to_string()),
        row("source".into(), format!("{} · {}", r.provenance.source, r.source_id)),
    ];
    let name = r.display_name();
    if !name.is_empty() {
        lines.push(row("name".into(), name));
    }
    for (label, value) in [("email", &r.email), ("phone", &r.phone)] {
        if let Some(v) = value {
            lines.push(row(label.into(), v.clone()));
        }
    }
    let a = &r.address;
    let street = [a.street_number.as_deref(), a.line1.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let address: Vec<&str> = [
        Some(street.as_str()),
        a.line2.as_deref(),
        a.locality.as_deref(),
        a.region.as_deref(),
        a.postcode.as_deref(),
        a.country.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.is_empty())
    .collect();
    if !address.is_empty() {
        lines.push(row("address".into(), address.join(", ")));
    }
    if let Some(d) = r.date_of_birth {
        lines.push(row(Field::DateOfBirth.name().replace('_', " "), d.to_string()));
    }
    let ts = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "never".into())
    };
    lines.push(row("created".into(), format!("{} · updated {}", ts(Some(r.times.created)), ts(Some(r.times.updated)))));
    lines.push(row("verified".into(), format!("{} · active {}", ts(r.times.last_verified), ts(r.times.last_activity))));
    for (k, v) in &r.extra {
        // Card numbers are never shown whole.
        lines.push(row(format!("+ {k}"), crate::findings::pii::mask_cards(v).into_owned()));
    }
    f.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }), area);
}

// ---------------------------------------------------------------- keys

pub fn on_action(app: &mut App, a: Action) -> Vec<Effect> {
    let page = app.table.page.get().max(1) as isize;
    match a {
        Action::Down => app.move_by(1),
        Action::Up => app.move_by(-1),
        Action::PageDown => app.move_by(page),
        Action::PageUp => app.move_by(-page),
        Action::Top => app.table.selected = 0,
        Action::Bottom => app.table.selected = app.row_count().saturating_sub(1),
        Action::ToggleDetail => app.table.detail = !app.table.detail,
        Action::SortNext => {
            app.table.sort = app.table.sort.next();
            app.table.descending = false;
            return app.start_sort();
        }
        Action::SortReverse => {
            app.table.descending = !app.table.descending;
            app.table.selected = 0;
            app.refilter();
        }
        Action::FilterKind => {
            app.filter = app.next_filter();
            app.refilter();
            app.table.selected = 0;
        }
        Action::Edit => {
            if let Some(r) = app.selected_record() {
                if app.role() < crate::service::Role::Admin {
                    // The screens hold masked data: fetch the record itself.
                    let id = r.id;
                    return app.job("opening the record", Job::PrepareEdit { id, request: None });
                }
                let form = EditForm::new(r);
                app.open_form(Form::Edit(Box::new(form)));
            }
        }
        Action::Reveal => {
            if let Some(r) = app.selected_record() {
                let form = forms::RevealForm { id: r.id, reason: forms::TextInput::default() };
                app.open_form(Form::Reveal(Box::new(form)));
            }
        }
        Action::Select => {
            if let Some(r) = app.selected_record() {
                let id = r.id;
                if !app.selection.remove(&id) {
                    app.selection.insert(id);
                }
                app.move_by(1);
            }
        }
        Action::SelectAll => {
            if app.selection.is_empty() {
                let ids = app.ids_in_view();
                app.selection.extend(ids);
            } else {
                app.selection.clear();
            }
        }
        Action::Erase => {
            let ids = app.targets();
            return app.open_erase(ids);
        }
        Action::Export => {
            let ids = app.targets();
            if !ids.is_empty() {
                app.open_form(Form::Export(Box::new(ExportForm::new(ids))));
            }
        }
        Action::Extract => {
            let ids = app.selected_or_in_view();
            if !ids.is_empty() {
                app.open_form(Form::Export(Box::new(ExportForm::extract(ids))));
            }
        }
        Action::UndoMerge => return app.undo_merge(),
        Action::ClearSearch => {
            if !app.selection.is_empty() {
                app.selection.clear();
            } else if app.search.hits.is_some() || !app.search.query.is_empty() || app.filter.is_some() {
                app.clear_search();
                app.filter = None;
                app.filtered = None;
            } else {
                app.table.detail = false;
            }
        }
        _ => {}
    }
    Vec::new()
}
