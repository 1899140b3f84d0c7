//! Findings: the list grouped by kind, and an opened finding — a duplicate
//! cluster side by side with a field-by-field explanation, personal data in
//! free text with the sensitive part masked, or the record and its reasons.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

use crate::findings::{Finding, Kind, Severity, pii};
use crate::model::Record;
use crate::model::text::fit;
use crate::tui::app::App;
use crate::tui::ui::fmt_count;

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
    let sel = app.findings.selected.min(report.findings.len() - 1);
    if app.findings.open {
        draw_open(f, app, &data.records, &report.findings[sel], area);
        return;
    }
    let title = format!(
        " Findings · {} · data quality {:.1}/100{} ",
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
    let offset = crate::tui::ui::keep_in_view(sel, &app.findings.offset, rows_h, report.findings.len());
    let w = inner.width as usize;
    let kind_w = 14usize;
    let who_w = (w.saturating_sub(kind_w + 2) / 3).clamp(8, 40);
    let reason_w = w.saturating_sub(kind_w + who_w + 2);
    let lines: Vec<Line> = report.findings[offset..(offset + rows_h).min(report.findings.len())]
        .iter()
        .enumerate()
        .map(|(k, fd)| {
            let i = offset + k;
            // The kind is written on the first row of its group only.
            let first = i == 0 || report.findings[i - 1].kind != fd.kind;
            let kind = if first { format!("{} {}", fd.kind.badge(), fd.kind.name()) } else { String::new() };
            let reason = match &fd.field {
                Some(field) if fd.kind != Kind::Pii => {
                    format!("[{field}] {}", fd.reasons.first().cloned().unwrap_or_default())
                }
                _ => fd.reasons.first().cloned().unwrap_or_default(),
            };
            let base = if i == sel { app.theme.style("ui.selection") } else { Style::default() };
            Line::from(vec![
                Span::styled(format!("{:<kind_w$}", fit(&kind, kind_w)), severity_style(app, fd.severity).patch(base)),
                Span::styled(
                    format!(" {:<who_w$} ", fit(&who(&data.records, fd), who_w)),
                    app.theme.style("ui").patch(base),
                ),
                Span::styled(fit(&reason, reason_w), app.theme.style("ui.text.dim").patch(base)),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
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
