//! Requests: the data-subject request queue, most urgent first, with days
//! left; overdue and due-soon requests carry a badge (`!`, `~`) as well as a
//! colour. The selected request's details below. Requester details are
//! masked for roles that see masked data (the service does that).
//!
//! Enter opens a request's page: its details and history, the next step to
//! take, and the records that may be the requester's (scored by the
//! duplicate engine), which the officer links before fulfilling.

use crate::model::RecordId;
use crate::service::actions::Strategy;
use crate::tui::actions::Action;
use crate::tui::app::{App, Effect, Job, not_ready, step};
use crate::tui::forms::{self, EraseForm, ExportForm, Form, NoteForm, NotePurpose};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Wrap};

use crate::model::request::Status;
use crate::model::text::fit;
use crate::service::requests::RequestView;

/// `(badge, "N days left" | "N days overdue" | status, style slot)`.
pub fn urgency(v: &RequestView) -> (&'static str, String, &'static str) {
    if !v.status.is_open() {
        (" ", v.status.name().to_owned(), "ui.text.dim")
    } else if v.overdue {
        ("!", format!("{} overdue", days(-v.days_left)), "finding.danger")
    } else if v.due_soon {
        ("~", format!("{} left", days(v.days_left)), "finding.warning")
    } else {
        (" ", format!("{} left", days(v.days_left)), "ui")
    }
}

fn days(n: i64) -> String {
    if n == 1 { "1 day".into() } else { format!("{n} days") }
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    if app.requests.open.is_some()
        && let Some(v) = app.requests.current()
    {
        draw_page(f, app, v, area);
        return;
    }
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
    let Some(inner) = super::focused_frame(f, app, top, &title) else { return };
    let body = (inner.height - 1) as usize;
    app.requests.page.set(body);
    let sel = app.requests.selected.min(list.len().saturating_sub(1));
    let offset = crate::tui::ui::keep_in_view(sel, &app.requests.offset, body, list.len());
    let wide = inner.width >= 90;
    // Narrow: the reference and the days left matter most; status goes.
    let narrow = inner.width < 60;
    let widths: Vec<Constraint> = if narrow {
        vec![Constraint::Length(1), Constraint::Length(13), Constraint::Length(16), Constraint::Min(4)]
    } else if wide {
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
    let header: Vec<&str> = if narrow {
        vec!["", "ref", "days", "type"]
    } else if wide {
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
            if narrow {
                let cells = vec![
                    Cell::from(Span::styled(badge, app.theme.style(slot))),
                    Cell::from(fit(&v.reference, 13)),
                    Cell::from(Span::styled(left, app.theme.style(slot))),
                    Cell::from(v.kind.name()),
                ];
                return super::list_row(app, cells, i == sel);
            }
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
            super::list_row(app, cells, i == sel)
        })
        .collect();
    super::draw_list(f, app, inner, header, widths, rows);
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
        match (v.acknowledged, v.acknowledge_by.filter(|_| v.status.is_open())) {
            (Some(d), _) => lines.push(kv("acknowledged", d.to_string())),
            (None, Some(a)) => lines.push(kv("acknowledge", format!("by {a}"))),
            _ => {}
        }
        if let Some(e) =
            v.extension_notice_by.filter(|_| v.status.is_open() && !matches!(v.status, Status::Extended { .. }))
        {
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

/// What to do next with a request, in words.
fn next_step(v: &RequestView, candidates: Option<usize>) -> String {
    use crate::model::request::RequestKind as K;
    if !v.status.is_open() {
        return format!("nothing: the request is {}", v.status.name());
    }
    use crate::service::requests::Missing;
    match v.missing() {
        Some(Missing::Verification) => return "verify the requester's identity (v)".into(),
        Some(Missing::Records) => {
            return if candidates.is_none() {
                "match the requester to the records (m)".into()
            } else if candidates > Some(0) {
                "link the records that are theirs (Space, or L for every proposed one)".into()
            } else {
                "no record matches what the requester gave: ask them for more, or complete saying so (c)".into()
            };
        }
        None => {}
    }
    match v.kind {
        K::Erasure => format!("erase the {} linked record(s) and complete the request (x)", v.records.len()),
        K::Access | K::Portability => {
            format!("export the {} linked record(s) to the requester's age key and complete (E)", v.records.len())
        }
        K::Rectification => "correct the record under the cursor (e), then complete (c)".into(),
        K::Restriction | K::Objection => "apply it (e, or outside steward), then complete saying how (c)".into(),
    }
}

fn draw_page(f: &mut Frame, app: &App, v: &RequestView, area: Rect) {
    let dim = app.theme.style("ui.text.dim");
    let (badge, left, slot) = urgency(v);
    let cands = app.requests.candidates();
    let today = app.now.date_naive();
    let handles = app.role() >= crate::service::Role::Steward;
    let matched = app.requests.matches.as_ref().is_some_and(|(r, _)| *r == v.reference);
    let matching = !matched && app.busy.is_some();
    let detail_h = if area.height >= 20 { 11 } else { area.height.saturating_sub(6).clamp(3, 11) };
    let [top, bottom] = Layout::vertical([Constraint::Length(detail_h), Constraint::Min(3)]).areas(area);
    let title = format!(
        " {} · {} · {} · {}{} ",
        v.reference,
        v.kind.name(),
        v.jurisdiction.to_uppercase(),
        if badge.trim().is_empty() { String::new() } else { format!("{badge} ") },
        left
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.style(if v.overdue { "finding.danger" } else { "ui.border" }))
        .title(fit(&title, area.width.saturating_sub(2) as usize))
        .title_style(app.theme.style(slot));
    let w = top.width.saturating_sub(14) as usize;
    let kv = |k: &str, val: String| Line::from(vec![Span::styled(format!("{k:<11} "), dim), Span::raw(fit(&val, w))]);
    let q = &v.requester;
    let who = match &v.requester_erased {
        Some(r) => format!("(details erased with the records, {r})"),
        None => {
            let labelled = [
                (q.customer_number.as_deref(), "customer "),
                (q.date_of_birth.as_deref(), "born "),
                (q.postcode.as_deref(), ""),
                (q.address.as_deref(), ""),
            ];
            [q.name.as_deref(), q.email.as_deref(), q.phone.as_deref()]
                .into_iter()
                .flatten()
                .map(str::to_owned)
                .chain(labelled.into_iter().filter_map(|(v, l)| v.map(|v| format!("{l}{v}"))))
                .collect::<Vec<_>>()
                .join(" · ")
        }
    };
    let mut lines = vec![
        kv("requester", who),
        kv(
            "received",
            format!(
                "{} by {} · due {}{}{}",
                v.received,
                v.channel,
                v.due,
                // Deadlines that still mean something: acknowledgement and
                // the extension notice while open, and not yet passed.
                match (v.acknowledged, v.acknowledge_by.filter(|_| v.status.is_open())) {
                    (Some(d), _) => format!(" · acknowledged {d}"),
                    (None, Some(a)) if a < today => format!(" · acknowledgement was due {a} (a)"),
                    (None, Some(a)) => format!(" · acknowledge by {a} (a)"),
                    _ => String::new(),
                },
                v.extension_notice_by
                    .filter(|e| v.status.is_open() && !matches!(v.status, Status::Extended { .. }) && *e >= today)
                    .map(|e| format!(" · extend (X) by {e}"))
                    .unwrap_or_default()
            ),
        ),
        kv(
            "identity",
            format!(
                "{}{}",
                v.verification.status,
                v.verification.method.as_ref().map(|m| format!(" ({m})")).unwrap_or_default()
            ),
        ),
        kv(
            "status",
            format!(
                "{}{} · {} record(s) {}",
                v.status.name(),
                match &v.status {
                    Status::Rejected { reason } => format!(": {reason}"),
                    Status::Extended { reason, notified } => format!(": {reason} (told {notified})"),
                    _ => String::new(),
                },
                v.records.len(),
                if v.status.is_open() { "linked" } else { "were linked" }
            ),
        ),
    ];
    // The next step right under the requester: it must show even when little else fits.
    lines.insert(
        1,
        Line::from(vec![
            Span::styled(format!("{:<11} ", "next"), dim),
            Span::styled(
                fit(
                    &if handles {
                        next_step(v, matched.then_some(cands.len()))
                    } else {
                        "a steward or admin handles requests".into()
                    },
                    w,
                ),
                app.theme.style("ui.header"),
            ),
        ]),
    );
    if !v.answers.is_empty() {
        lines.push(kv("answered", v.answers.join(", ")));
    }
    if let Some(n) = v.notes.last() {
        let more = if v.notes.len() > 1 { format!(" (+{} earlier)", v.notes.len() - 1) } else { String::new() };
        lines.push(kv("note", format!("{n}{more}")));
    }
    for (i, h) in v.history.iter().rev().enumerate() {
        let label = if i == 0 { "history" } else { "" };
        lines.push(kv(label, format!("{} {} ({})", h.time.format("%Y-%m-%d %H:%M"), h.what, h.user)));
    }
    f.render_widget(Paragraph::new(lines).block(block), top);

    let proposed = cands.iter().filter(|c| c.proposed && !c.linked).count();
    let linked = cands.iter().filter(|c| c.linked).count();
    let title = if matching {
        " Matching the requester to records… ".to_owned()
    } else if !handles || !matched {
        " Records that may be the requester's ".to_owned()
    } else {
        format!(" Records that may be the requester's · {linked} linked · {proposed} proposed · Space links ")
    };
    let Some(inner) = super::focused_frame(f, app, bottom, &title) else { return };
    if cands.is_empty() {
        let closed;
        let msg = if matching {
            "comparing the requester's details with every record…"
        } else if !handles {
            "matching requesters to records needs the steward or admin role"
        } else if v.requester_erased.is_some() || !v.status.is_open() {
            closed = format!(
                "the request is {}; linked: {}",
                v.status.name(),
                if v.records.is_empty() {
                    "none".to_owned()
                } else {
                    v.records.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                }
            );
            &closed
        } else if !matched {
            "not matched yet: m compares the requester's details with every record"
        } else if let Some(a) = &app.requests.advice {
            a
        } else {
            "no record matches the requester's details"
        };
        f.render_widget(Paragraph::new(msg).style(dim).wrap(Wrap { trim: true }), inner);
        return;
    }
    // The last lines explain the candidate under the cursor: every
    // field's evidence, for and against (three lines where there is room,
    // so that what counts against shows at 80 columns too).
    let why_rows = if inner.height >= 9 { 3 } else { 1 };
    let [inner, why_line] = Layout::vertical([Constraint::Min(1), Constraint::Length(why_rows)]).areas(inner);
    let body = (inner.height.saturating_sub(1)).max(1) as usize;
    app.requests.cand_page.set(body);
    let sel = app.requests.cand.min(cands.len() - 1);
    let offset = crate::tui::ui::keep_in_view(sel, &app.requests.cand_offset, body, cands.len());
    // Always: who (name), where and when born (place, country, birth
    // year), and what agrees (evidence); contacts when there is room.
    let contacts = inner.width >= 110;
    let name_w: u16 = if inner.width >= 100 { 20 } else { 16 };
    let place_w: u16 = if inner.width >= 100 { 22 } else { 16 };
    let mut widths = vec![
        Constraint::Length(3),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(name_w),
        Constraint::Length(place_w),
        Constraint::Min(8),
    ];
    let mut header = vec!["", "id", "score", "", "name", "place, born", "agrees on"];
    if contacts {
        widths[6] = Constraint::Length(18);
        widths.push(Constraint::Length(24));
        widths.push(Constraint::Min(10));
        header.push("email");
        header.push("phone");
    }
    // Room to spare: the reasons beside each row, not only the cursor's.
    let reasons = inner.width >= 160;
    if reasons {
        widths.pop();
        widths.push(Constraint::Length(16));
        widths.push(Constraint::Min(20));
        header.push("why");
    }
    let rows: Vec<Row> = cands
        .iter()
        .enumerate()
        .skip(offset)
        .take(body)
        .map(|(i, c)| {
            let tag = if c.linked {
                "linked"
            } else if c.proposed {
                "proposed"
            } else {
                "possible"
            };
            let tag_style = app.theme.style(if c.proposed || c.linked { "ui.ok" } else { "ui.text.dim" });
            let id = c.id.to_string();
            let place = [c.locality.clone(), c.country.clone(), c.birth_year.map(|y| y.to_string())]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            let evidence = if c.via.is_some() {
                "near-duplicate".to_owned()
            } else if c.evidence.is_empty() {
                "—".to_owned()
            } else {
                c.evidence.join("+")
            };
            let mut cells = vec![
                Cell::from(if c.linked { "[x]" } else { "[ ]" }),
                Cell::from(format!("…{}", &id[id.len().saturating_sub(4)..])),
                Cell::from(format!("{:.3}", c.score)),
                Cell::from(Span::styled(tag, tag_style)),
                Cell::from(fit(&c.name, name_w as usize)),
                Cell::from(fit(if place.is_empty() { "—" } else { &place }, place_w as usize)),
                Cell::from(fit(&evidence, 40)),
            ];
            if contacts {
                cells.push(Cell::from(fit(c.email.as_deref().unwrap_or("—"), 24)));
                cells.push(Cell::from(fit(c.phone.as_deref().unwrap_or("—"), 16)));
            }
            if reasons {
                cells.push(Cell::from(fit(&c.reasons.join(", "), 200)));
            }
            super::list_row(app, cells, i == sel)
        })
        .collect();
    super::draw_list(f, app, inner, header, widths, rows);
    if let Some(c) = cands.get(sel) {
        let id = c.id.to_string();
        let why = format!("…{} why: {}", &id[id.len().saturating_sub(4)..], c.reasons.join(", "));
        let why = fit(&why, why_line.width as usize * why_line.height as usize);
        f.render_widget(Paragraph::new(why).style(dim).wrap(Wrap { trim: true }), why_line);
    }
}

// ---------------------------------------------------------------- keys

/// An action on the Requests screen: the queue, or the open request's page.
pub fn on_action(app: &mut App, a: Action) -> Vec<Effect> {
    if app.requests.open.is_some() {
        let n = app.requests.candidates().len();
        if step(&mut app.requests.cand, n, app.requests.cand_page.get(), a) {
            return Vec::new();
        }
    } else {
        let n = app.requests.list.as_ref().map_or(0, |l| l.len());
        if step(&mut app.requests.selected, n, app.requests.page.get(), a) {
            return Vec::new();
        }
    }
    let Some(v) = app.requests.current().cloned() else { return Vec::new() };
    let reference = v.reference.clone();
    let cand = app.requests.candidates().get(app.requests.cand).cloned();
    let open_only = |app: &mut App| {
        if app.requests.open.is_none() {
            app.error = Some("open the request first (Enter): its matching records are listed there".into());
            true
        } else {
            false
        }
    };
    // On this screen, what needs more than a viewer acts on the request.
    let changes = a.min_role() > crate::service::Role::Viewer;
    if changes && !v.status.is_open() {
        app.error = Some(format!("{reference} is {}: nothing more to do", v.status.name()));
        return Vec::new();
    }
    match a {
        Action::OpenRequest => {
            app.requests.open = Some(reference.clone());
            app.requests.cand = 0;
            let matched = app.requests.matches.as_ref().is_some_and(|(r, _)| *r == reference);
            if !matched
                && v.status.is_open()
                && v.requester_erased.is_none()
                && app.role() >= Action::Link.min_role()
                && app.info.read_only.is_none()
            {
                return app.job("matching the requester to records", Job::MatchRequest { reference });
            }
        }
        Action::CloseRequest => app.requests.open = None,
        Action::AcknowledgeRequest => {
            return app.job("recording the acknowledgement", Job::AcknowledgeRequest { reference });
        }
        Action::MatchRequest => {
            if open_only(app) {
                return Vec::new();
            }
            return app.job("matching the requester to records", Job::MatchRequest { reference });
        }
        Action::Link => {
            if open_only(app) {
                return Vec::new();
            }
            if let Some(c) = cand {
                let job = Job::LinkRecords { reference, ids: vec![c.id], link: !c.linked };
                return app.job(if c.linked { "unlinking" } else { "linking" }, job);
            }
        }
        Action::LinkProposed => {
            if open_only(app) {
                return Vec::new();
            }
            let ids: Vec<RecordId> =
                app.requests.candidates().iter().filter(|c| c.proposed && !c.linked).map(|c| c.id).collect();
            if ids.is_empty() {
                app.notice = Some("every proposed record is linked already".into());
                return Vec::new();
            }
            return app.job("linking", Job::LinkRecords { reference, ids, link: true });
        }
        Action::VerifyIdentity => {
            let text = forms::TextInput::new(v.verification.method.as_deref().unwrap_or(""));
            let failed = v.verification.status == "failed";
            app.open_form(Form::Note(Box::new(NoteForm { purpose: NotePurpose::Verify(reference), text, failed })));
        }
        Action::CompleteRequest | Action::ExtendRequest | Action::RejectRequest | Action::NoteRequest => {
            let purpose = match a {
                Action::ExtendRequest => NotePurpose::Extend(reference),
                Action::RejectRequest => NotePurpose::Reject(reference),
                Action::NoteRequest => NotePurpose::Note(reference),
                _ => NotePurpose::Complete(reference),
            };
            let text = forms::TextInput::default();
            app.open_form(Form::Note(Box::new(NoteForm { purpose, text, failed: false })));
        }
        Action::Erase => {
            if v.kind != crate::model::request::RequestKind::Erasure {
                let a = crate::service::fulfil::a_kind(v.kind);
                app.error = Some(format!("{reference} is {a} request: E exports (access, portability), c completes"));
                return Vec::new();
            }
            if let Some(why) = not_ready(&v) {
                app.error = Some(why);
                return Vec::new();
            }
            app.open_form(Form::Erase(Box::new(EraseForm::for_request(&reference))));
            return vec![Effect::Job(Job::PlanRequestErase { reference, strategy: Strategy::Delete })];
        }
        Action::Export => {
            use crate::model::request::RequestKind;
            if !matches!(v.kind, RequestKind::Access | RequestKind::Portability) {
                let a = crate::service::fulfil::a_kind(v.kind);
                let key = if v.kind == RequestKind::Erasure { "x erases" } else { "c completes" };
                app.error = Some(format!("{reference} is {a} request: exports answer access and portability; {key}"));
                return Vec::new();
            }
            if let Some(why) = not_ready(&v) {
                app.error = Some(why);
                return Vec::new();
            }
            app.open_form(Form::Export(Box::new(ExportForm::for_request(&reference, v.records.clone()))));
        }
        Action::Edit => {
            if open_only(app) {
                return Vec::new();
            }
            // A rectification answers a verified requester, on a record
            // linked to the request, and the audit entry names it.
            if v.kind != crate::model::request::RequestKind::Rectification {
                app.error = Some(format!("{reference} is not a rectification request: e edits for those"));
                return Vec::new();
            }
            if let Some(why) = not_ready(&v) {
                app.error = Some(why);
                return Vec::new();
            }
            if let Some(c) = cand {
                if !c.linked {
                    app.error = Some("link the record first (Space): only a linked record is rectified".into());
                    return Vec::new();
                }
                let job = Job::PrepareEdit { id: c.id, request: Some(reference.clone()) };
                return app.job("opening the record", job);
            }
        }
        _ => {}
    }
    Vec::new()
}
