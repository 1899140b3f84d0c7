//! Drawing of the dialogs that change data: edit form with live validation
//! and diff preview, merge table with the merged preview, erase summary with
//! type-to-confirm, export prompt. Values are customer data: every one goes
//! through `fit` (sanitised, cut to width).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::model::text::fit;
use crate::service::actions::Strategy;
use crate::tui::app::App;
use crate::tui::forms::{EditForm, EraseForm, ExportForm, Form, MergeForm, NotePurpose, Remedy, RemedyForm, TextInput};

/// A centred dialog box over `area`; returns its inner area.
fn dialog(f: &mut Frame, app: &App, area: Rect, width: u16, title: &str) -> Option<Rect> {
    let w = width.min(area.width.saturating_sub(2));
    let h = area.height.saturating_sub(2);
    if w < 20 || h < 4 {
        app.form_hidden.set(true);
        return None;
    }
    app.form_hidden.set(false);
    let popup = Rect { x: area.x + (area.width - w) / 2, y: area.y + 1, width: w, height: h };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.style("ui.border.focused"))
        .title(fit(title, w.saturating_sub(2) as usize))
        .title_style(app.theme.style("ui.title"));
    let inner = block.inner(popup);
    f.render_widget(Clear, popup);
    f.render_widget(block, popup);
    Some(inner)
}

/// Draws `lines` in `inner`, or, when they do not fit, asks for a larger
/// terminal (never a dialog whose input lines cannot be seen).
fn show(f: &mut Frame, app: &App, inner: Rect, lines: Vec<Line<'static>>) {
    if lines.len() > inner.height as usize {
        // Not seen, so it takes no keys but Esc (see `App::on_form_key`).
        app.form_hidden.set(true);
        let msg = format!("Enlarge the terminal: this dialog needs {} rows (Esc cancels)", lines.len() + 4);
        f.render_widget(Paragraph::new(msg).style(app.theme.style("ui.warning")).wrap(Wrap { trim: true }), inner);
    } else {
        f.render_widget(Paragraph::new(lines), inner);
    }
}

/// `label  value▏` with the focus shown by a marker and a cursor.
fn input_line(app: &App, label: &str, input: &TextInput, focused: bool, lw: usize, width: usize) -> Line<'static> {
    let vw = width.saturating_sub(lw + 4).max(1);
    let value = fit(&input.value, vw.saturating_sub(1));
    let style = if focused { app.theme.style("ui.search.input") } else { app.theme.style("ui") };
    Line::from(vec![
        Span::styled(if focused { "› ".to_owned() } else { "  ".to_owned() }, app.theme.style("ui.statusbar.key")),
        Span::styled(format!("{:<lw$} ", fit(label, lw)), app.theme.style("ui.text.dim")),
        Span::styled(value, style),
        Span::styled(if focused { "▏" } else { "" }.to_owned(), style),
    ])
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    app.form_hidden.set(true);
    match &app.form {
        Some(Form::Remedy(form)) => draw_remedy(f, app, form, area),
        Some(Form::Receipt(form)) => {
            let title = format!(" Receipt {} · j/k scroll · Esc close ", form.id);
            let Some(inner) = dialog(f, app, area, 100, &title) else { return };
            let width = inner.width as usize;
            let lines: Vec<Line<'static>> = form.lines.iter().map(|l| Line::raw(fit(l, width))).collect();
            f.render_widget(Paragraph::new(lines).scroll((form.scroll, 0)), inner);
        }
        Some(Form::Edit(form)) => draw_edit(f, app, form, area),
        Some(Form::Merge(form)) => draw_merge(f, app, form, area),
        Some(Form::Erase(form)) => draw_erase(f, app, form, area),
        Some(Form::Export(form)) => draw_export(f, app, form, area),
        Some(Form::Breach(form)) => {
            let Some(inner) = dialog(f, app, area, 90, " Open a breach · Enter next/open · Esc cancel ") else {
                return;
            };
            let w = inner.width as usize;
            let dim = app.theme.style("ui.text.dim");
            let scope = if form.ids.is_empty() {
                "Scope: every record (a source narrows it)".to_owned()
            } else {
                format!("Scope: the {} record(s) in view on the Records screen (a source narrows it)", form.ids.len())
            };
            let lines = vec![
                Line::styled(
                    fit("The 72-hour clock (GDPR Art. 33) starts at the discovery time: now, 30h ago,", w),
                    dim,
                ),
                Line::styled(fit("2026-11-28 14:30 (UTC). What happened goes into the authority's report.", w), dim),
                Line::styled(fit(&scope, w), dim),
                Line::from(""),
                input_line(app, "Discovered", &form.discovered, form.focus == 0, 12, w),
                input_line(app, "What", &form.what, form.focus == 1, 12, w),
                input_line(app, "Source", &form.source, form.focus == 2, 12, w),
                Line::styled(
                    fit("             optional: crm, webshop … (`steward breach open --help` for more filters)", w),
                    dim,
                ),
            ];
            show(f, app, inner, lines);
        }
        Some(Form::Note(form)) => {
            let (title, help, label) = match &form.purpose {
                NotePurpose::Verify(r) => (
                    format!(
                        " {r}: record the identity check as {} · Ctrl-t: {} instead · Enter records · Esc cancel ",
                        if form.failed { "FAILED" } else { "verified" },
                        if form.failed { "verified" } else { "failed" }
                    ),
                    "How was the requester's identity checked? (e.g. replied from the email on file)",
                    "Method",
                ),
                NotePurpose::Complete(r) => (
                    format!(" Complete {r} · Enter completes · Esc cancel "),
                    "What answered the request? (e.g. marketing opt-out set, letter sent)",
                    "Answer",
                ),
                NotePurpose::Extend(r) => (
                    format!(" Extend {r} · Enter extends · Esc cancel "),
                    "Why more time is needed; the requester must be told today (recorded as the notice date).",
                    "Reason",
                ),
                NotePurpose::Note(r) => (
                    format!(" Note for {r} · Enter adds it · Esc cancel "),
                    "A note for the file (a call, a letter sent, what was agreed); erased with the requester.",
                    "Note",
                ),
                NotePurpose::Reject(r) => (
                    format!(" Reject {r} · Enter rejects · Esc cancel "),
                    "Why the request is rejected (e.g. identity could not be verified); tell the requester.",
                    "Reason",
                ),
                NotePurpose::BreachNote(r) => (
                    format!(" {r}: add to the timeline · Enter adds it · Esc cancel "),
                    "What was done or learned (contained, passwords reset, processor told ...). No customer data: \
                     the timeline goes into the authority's report.",
                    "Step",
                ),
                NotePurpose::BreachAuthority(r) => (
                    format!(" {r}: the authority was told now · Enter records it · Esc cancel "),
                    "How: the authority's portal reference, the email sent. Stops the 72-hour clock.",
                    "How",
                ),
                NotePurpose::BreachPeople(r) => (
                    format!(" {r}: the affected people were told now · Enter records it · Esc cancel "),
                    "How: the mailing sent from the notification list (`steward breach notify-list`).",
                    "How",
                ),
                NotePurpose::BreachRisk(r, level) => (
                    format!(
                        " {r}: risk {} · Ctrl-t next · Enter records · Esc cancel ",
                        match level {
                            crate::model::breach::Risk::High => "HIGH",
                            crate::model::breach::Risk::Risk => "yes",
                            _ => "unlikely",
                        }
                    ),
                    "Why (Art. 33(5)). HIGH: the people must be told. No customer data.",
                    "Why",
                ),
                NotePurpose::BreachReport(r) => (
                    format!(" {r}: the report for the authority · Enter writes it · Esc cancel "),
                    "Markdown (Art. 33(3)): the figures and your words, no personal data. A new file.",
                    "File",
                ),
                NotePurpose::BreachClose(r) => (
                    format!(" Close {r} · Enter closes · Esc cancel "),
                    "Why it is over (contained, everyone told). Refused while a notification is due.",
                    "Why",
                ),
                NotePurpose::Distinct(ids) => (
                    format!(" Not the same person: {} records · Enter records it · Esc cancel ", ids.len()),
                    "Why these are different people (e.g. father and son, different birth dates); the scan and \
                     request matching keep them apart from now on, and it is audited.",
                    "Reason",
                ),
            };
            let Some(inner) = dialog(f, app, area, 80, &title) else { return };
            let w = inner.width as usize;
            let mut lines = vec![Line::styled(fit(help, w), app.theme.style("ui.text.dim"))];
            // Completing with proposed records left unlinked says they are not the requester's.
            let unlinked = app.requests.candidates().iter().filter(|c| c.proposed && !c.linked).count();
            if matches!(form.purpose, NotePurpose::Complete(_)) && unlinked > 0 {
                lines.push(Line::styled(
                    fit(&format!("{unlinked} proposed record(s) are not linked: completing says they are not the requester's."), w),
                    app.theme.style("ui.warning"),
                ));
            }
            lines.push(Line::from(""));
            lines.push(input_line(app, label, &form.text, true, 8, w));
            show(f, app, inner, lines);
        }
        Some(Form::Reveal(form)) => {
            let Some(inner) = dialog(f, app, area, 80, " Reveal personal data · Enter reveals · Esc cancel ") else {
                return;
            };
            let w = inner.width as usize;
            let lines = vec![
                Line::styled(
                    fit("The record is shown unmasked until you move on; the reveal and its reason", w),
                    app.theme.style("ui.text.dim"),
                ),
                Line::styled(fit("go into the audit trail.", w), app.theme.style("ui.text.dim")),
                Line::from(""),
                input_line(app, "Reason", &form.reason, true, 8, w),
            ];
            f.render_widget(Paragraph::new(lines), inner);
        }
        None => {}
    }
}

fn draw_edit(f: &mut Frame, app: &App, form: &EditForm, area: Rect) {
    let title = if form.preview {
        " Save these changes? Enter saves · Esc goes back ".to_owned()
    } else {
        format!(" Edit {} · Enter next/preview · Esc cancel ", form.original.id)
    };
    let Some(inner) = dialog(f, app, area, 96, &title) else { return };
    let width = inner.width as usize;
    let (diffs, problems) = form.shown_diff();
    let mut lines = Vec::new();
    if form.preview {
        lines.push(Line::styled(format!("{} change(s):", diffs.len()), app.theme.style("ui.header")));
        let half = width.saturating_sub(22) / 2;
        for d in &diffs {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<16} ", fit(&d.field, 16)), app.theme.style("ui.text.dim")),
                Span::styled(fit(d.before.as_deref().unwrap_or("(empty)"), half), app.theme.style("finding.warning")),
                Span::styled(" → ", app.theme.style("ui.text.dim")),
                Span::styled(fit(d.after.as_deref().unwrap_or("(empty)"), half), app.theme.style("ui.ok")),
            ]));
        }
        lines.push(Line::from(""));
        lines.push(Line::from(vec![
            Span::styled("  Reason: ", app.theme.style("ui.text.dim")),
            Span::styled(fit(form.reason.trimmed(), width.saturating_sub(10)), app.theme.style("ui")),
        ]));
        f.render_widget(Paragraph::new(lines), inner);
        return;
    }
    let lw = 18;
    // Scroll so the cursor's line stays visible (fields + reason + status).
    let rows = inner.height.saturating_sub(4).max(1) as usize;
    let first = form.cursor.min(form.fields.len().saturating_sub(1)).saturating_sub(rows - 1);
    for (i, (name, input)) in form.fields.iter().enumerate().skip(first).take(rows) {
        let label = match name {
            crate::service::actions::FieldName::Core(c) => c.label().to_owned(),
            crate::service::actions::FieldName::Extra(n) => n.clone(),
        };
        let mut line = input_line(app, &label, input, i == form.cursor, lw, width);
        if let Some(p) = problems.iter().find(|p| p.field == name.name()) {
            let room = width.saturating_sub(line.width() + 3);
            if room > 4 {
                line.spans.push(Span::styled(format!("  ✗ {}", fit(&p.problem, room)), app.theme.style("ui.error")));
            }
        } else if diffs.iter().any(|d| d.field == name.name()) {
            line.spans.push(Span::styled("  ✎", app.theme.style("ui.ok")));
        }
        lines.push(line);
    }
    lines.push(input_line(app, "Reason (audit)", &form.reason, form.cursor == form.fields.len(), lw, width));
    let status = if !problems.is_empty() {
        Span::styled(format!("{} problem(s): fix them to save", problems.len()), app.theme.style("ui.error"))
    } else if diffs.is_empty() {
        Span::styled("no changes yet", app.theme.style("ui.text.dim"))
    } else if form.reason.trimmed().is_empty() {
        Span::styled(
            format!("{} change(s); give a reason on the last line to preview", diffs.len()),
            app.theme.style("ui.warning"),
        )
    } else {
        Span::styled(format!("{} change(s); Enter on the reason shows the diff", diffs.len()), app.theme.style("ui.ok"))
    };
    lines.push(Line::from(""));
    lines.push(Line::from(status));
    f.render_widget(Paragraph::new(lines), inner);
}

fn draw_merge(f: &mut Frame, app: &App, form: &MergeForm, area: Rect) {
    let plan = &form.plan;
    let title = if form.confirming {
        " Merge: give a reason · Enter merges · Esc goes back "
    } else {
        " Merge · ←/→ choose value · s survivor · Enter continue · Esc cancel "
    };
    let Some(inner) = dialog(f, app, area, area.width, title) else { return };
    let width = inner.width as usize;
    let n = plan.records.len();
    let lw = 14;
    // Columns: each record, then the merged result.
    let col = (width.saturating_sub(lw + 1) / (n + 1)).max(4);
    let merged = plan.merged();
    let mut lines = Vec::new();
    let mut head = vec![Span::styled(format!("{:<lw$} ", "field"), app.theme.style("ui.header"))];
    for (i, r) in plan.records.iter().enumerate() {
        let tag = if i == plan.survivor { "★ survives" } else { "merged away" };
        let text = format!("{} {}", &r.id.to_string()[20..], tag);
        head.push(Span::styled(format!("{:<col$}", fit(&text, col.saturating_sub(1))), app.theme.style("ui.header")));
    }
    head.push(Span::styled(fit("= merged", col), app.theme.style("ui.header")));
    lines.push(Line::from(head));
    let rows = inner.height.saturating_sub(5) as usize;
    let first = form.cursor.saturating_sub(rows.saturating_sub(1));
    for (fi, (field, pick)) in plan.choice.iter().enumerate().skip(first).take(rows) {
        let mut spans = vec![Span::styled(
            format!("{:<lw$} ", fit(field.name(), lw)),
            if fi == form.cursor { app.theme.style("ui.selection") } else { app.theme.style("ui.text.dim") },
        )];
        for (i, r) in plan.records.iter().enumerate() {
            let v = field.get(r).unwrap_or_default();
            let chosen = *pick == Some(i);
            let style = if chosen { app.theme.style("ui.ok") } else { app.theme.style("ui.text.dim") };
            let mark = if chosen { "● " } else { "  " };
            spans.push(Span::styled(format!("{mark}{:<w$}", fit(&v, col.saturating_sub(3)), w = col - 2), style));
        }
        spans.push(Span::styled(fit(&field.get(&merged).unwrap_or_default(), col), app.theme.style("ui")));
        lines.push(Line::from(spans));
    }
    let secondary: Vec<String> =
        merged.extra.iter().filter(|(k, _)| k.starts_with("secondary_")).map(|(k, _)| k.clone()).collect();
    lines.push(Line::from(""));
    lines.push(Line::styled(
        fit(
            &if plan.keep_secondary {
                format!(
                    "Kept as secondary contacts: {} (c drops them)",
                    if secondary.is_empty() { "none needed".into() } else { secondary.join(", ") }
                )
            } else {
                "Losing emails and phones are dropped (c keeps them)".into()
            },
            width,
        ),
        app.theme.style("ui.text.dim"),
    ));
    if form.confirming {
        lines.push(input_line(app, "Reason (audit)", &form.reason, true, lw, width));
    } else {
        lines.push(Line::styled(
            fit(
                &format!("{n} records become one; the others redirect to the survivor. u undoes it right after."),
                width,
            ),
            app.theme.style("ui.text.dim"),
        ));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn draw_erase(f: &mut Frame, app: &App, form: &EraseForm, area: Rect) {
    let title = format!(
        " {}Erase {} record(s) · Ctrl-t {} · Enter next/confirm · Esc cancel ",
        form.for_request.as_ref().map(|r| format!("Answer {r}: ")).unwrap_or_default(),
        form.ids.len(),
        match form.strategy {
            Strategy::Delete => "anonymize instead",
            Strategy::Anonymize => "delete instead",
        }
    );
    let Some(inner) = dialog(f, app, area, 96, &title) else { return };
    let width = inner.width as usize;
    let dim = app.theme.style("ui.text.dim");
    let warn = app.theme.style("ui.warning");
    let mut lines = vec![Line::from(vec![
        Span::styled("Strategy: ", dim),
        Span::styled(
            match form.strategy {
                Strategy::Delete => "delete — everything goes",
                Strategy::Anonymize => "anonymize — personal data goes; country and sign-up month stay",
            },
            app.theme.style("ui.header"),
        ),
    ])];
    match &form.plan {
        None => lines.push(Line::styled("working out what will go…", dim)),
        Some(p) => {
            lines.push(Line::styled("This will erase:", app.theme.style("ui.header")));
            let item = |s: String| Line::styled(fit(&format!("  • {s}"), width), app.theme.style("ui"));
            lines.push(item(format!("{} record(s) and their record keys (crypto-shredding):", p.records.len())));
            for l in &form.labels {
                lines.push(Line::styled(fit(&format!("      {l}"), width), app.theme.style("ui")));
            }
            if form.ids.len() > form.labels.len() {
                lines.push(Line::styled(format!("      and {} more", form.ids.len() - form.labels.len()), dim));
            }
            if !p.redirects.is_empty() {
                lines.push(item(format!("{} record(s) merged into them earlier (redirects)", p.redirects.len())));
            }
            if !p.snapshots.is_empty() {
                lines.push(item(format!("{} merge history / undo snapshot(s)", p.snapshots.len())));
            }
            if p.request_entries > 0 {
                lines.push(item(format!("the requester's details in {} request(s)", p.request_entries)));
            }
            if !p.categories.is_empty() {
                lines.push(Line::styled(fit(&format!("  categories: {}", p.categories.join(", ")), width), dim));
            }
            for k in &p.kept {
                lines.push(Line::styled(
                    fit(&format!("  kept: {} on {} record(s) — {}", k.field, k.records, k.why), width),
                    warn,
                ));
            }
            lines.push(Line::styled(
                fit("  then the data key is rotated, so copies left on disk cannot be decrypted", width),
                dim,
            ));
            lines.push(Line::styled(
                fit("  encrypted backups made earlier keep the data until they expire", width),
                dim,
            ));
        }
    }
    lines.push(Line::from(""));
    let lw = 22;
    lines.push(input_line(app, "Reason (required)", &form.reason, form.focus == 0, lw, width));
    let label = if form.for_request.is_some() { "Then completes" } else { "Request ref (optional)" };
    lines.push(input_line(app, label, &form.request, form.focus == 1, lw, width));
    lines.push(input_line(app, "Type erase to confirm", &form.confirm, form.focus == 2, lw, width));
    lines.push(Line::from(""));
    let (msg, style): (&str, Style) = if form.ready() {
        ("Enter erases. This cannot be undone.", app.theme.style("ui.error"))
    } else {
        ("Give a reason and type the word erase; Enter then erases.", dim)
    };
    lines.push(Line::styled(msg, style));
    show(f, app, inner, lines);
}

fn draw_export(f: &mut Frame, app: &App, form: &ExportForm, area: Rect) {
    let title = match (&form.for_request, &form.purpose) {
        _ if form.breach.is_some() => format!(
            " {}: the notification list, age-encrypted · Enter next/write · Esc cancel ",
            form.breach.as_deref().unwrap_or_default()
        ),
        (_, Some(_)) => format!(
            " Extract for a purpose from {} record(s) in view · Enter next/extract · Esc cancel ",
            form.ids.len()
        ),
        (Some(r), None) => format!(
            " Answer {r}: export {} linked record(s) with age · Enter next/export · Esc cancel ",
            form.ids.len()
        ),
        (None, None) => {
            format!(" Encrypt-export {} record(s) with age · Enter next/export · Esc cancel ", form.ids.len())
        }
    };
    let Some(inner) = dialog(f, app, area, 96, &title) else { return };
    let width = inner.width as usize;
    let lw = 12;
    let dim = app.theme.style("ui.text.dim");
    let then =
        if form.for_request.is_some() { "The request is then completed, with the file name attached." } else { "" };
    let focus = form.focused();
    let mut lines = match &form.purpose {
        _ if form.breach.is_some() => vec![
            Line::styled(
                fit("Who to tell, how to reach them, which of their data was involved: CSV, one row", width),
                dim,
            ),
            Line::styled(
                fit("per person, for the mailing. Erased and unreachable records are counted, left out.", width),
                dim,
            ),
            Line::from(""),
        ],
        Some(p) => vec![
            Line::styled(
                fit(
                    "Only the records the purpose may use (consent given, within its retention, not restricted,",
                    width,
                ),
                dim,
            ),
            Line::styled(
                fit("no objection), and only its fields, as CSV. Audited with the purpose and the count.", width),
                dim,
            ),
            Line::from(""),
            input_line(app, "Purpose", p, focus == 0, lw, width),
        ],
        None => vec![
            Line::styled(
                fit("Everything held about them (fields, sources, purposes, consents, actions) as JSON.", width),
                dim,
            ),
            Line::styled(fit(then, width), dim),
            Line::from(""),
        ],
    };
    lines.extend([
        input_line(app, "Recipient", &form.recipient, focus == 1, lw, width),
        Line::styled(fit("             age1…, ssh-ed25519 … or ssh-rsa … public key", width), dim),
        input_line(app, "File", &form.file, focus == 2, lw, width),
        Line::styled(fit("             written whole or not at all; plaintext never touches the disk", width), dim),
    ]);
    show(f, app, inner, lines);
}

/// A remedy: the preview of exactly what changes (scrolled to fit: the
/// count first, then as many lines as there is room for), what the
/// findings will do, and the inputs. Enter applies once the plan is in.
fn draw_remedy(f: &mut Frame, app: &App, form: &RemedyForm, area: Rect) {
    let title = format!(" {} · Enter next/apply · Esc cancel ", form.title);
    let Some(inner) = dialog(f, app, area, 100, &title) else { return };
    let width = inner.width as usize;
    let lw = 20;
    let dim = app.theme.style("ui.text.dim");
    let mut tail: Vec<Line<'static>> = Vec::new();
    if let Some((kind, n)) = form.promise {
        let text = match &form.remedy {
            Remedy::Consent { .. } if !form.given => {
                "Findings: consent withdrawn while data is held stays a finding (restrict, or erase)".to_owned()
            }
            _ => format!("Findings: {n} {} finding(s) go.", kind.name()),
        };
        tail.push(Line::styled(fit(&text, width), app.theme.style("ui.ok")));
    }
    if let Remedy::Consent { .. } = form.remedy {
        let which = if form.given { "GIVEN" } else { "WITHDRAWN" };
        tail.push(Line::styled(
            fit(&format!("Records consent {which} · Ctrl-t switches"), width),
            app.theme.style("ui.warning"),
        ));
    }
    tail.push(Line::from(""));
    for (i, (label, input)) in form.inputs.iter().enumerate() {
        tail.push(input_line(app, label, input, form.focus == i, lw, width));
    }
    let waiting = form.remedy.needs_plan() || form.preview.is_empty();
    let mut lines: Vec<Line<'static>> = Vec::new();
    if waiting {
        let msg = match form.remedy {
            Remedy::BulkMerge { plan: None, .. } => {
                "Type the lowest probability to merge, then Enter: the clusters are listed here."
            }
            _ => "Working out exactly what will change…",
        };
        lines.push(Line::styled(fit(msg, width), dim));
    }
    // The preview takes what room the inputs leave; its first line (the
    // count) always shows.
    let room = (inner.height as usize).saturating_sub(tail.len() + lines.len());
    // The first line (the count) stays; the rest scroll (PgDn/PgUp).
    let shown: Vec<&String> = form.preview.iter().take(1).chain(form.preview.iter().skip(1 + form.scroll)).collect();
    let n = shown.len();
    for (i, p) in shown.iter().enumerate() {
        if i + 1 >= room && i + 1 < n {
            let more = format!("… {} more line(s): PgDn shows them (PgUp back)", n - i);
            lines.push(Line::styled(fit(&more, width), dim));
            break;
        }
        let style = if i == 0 { app.theme.style("ui.header") } else { app.theme.style("ui") };
        lines.push(Line::styled(fit(p, width), style));
    }
    lines.extend(tail);
    show(f, app, inner, lines);
}
