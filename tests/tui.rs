//! The dashboard on ratatui's TestBackend: snapshots of every screen at
//! 80x24 and a small size, key flows fed to the app, tiny sizes, and hostile
//! customer data rendered inert.

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use chrono::{TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use steward::import::{self, Format, Options};
use steward::model::{Record, RecordId};
use steward::tui::app::{App, Data, Event, Screen, SessionInfo, run_effect};
use steward::tui::theme::{ColorDepth, Theme};
use steward::tui::ui;

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).single().expect("date")
}

/// The demo records with deterministic ids.
fn demo_records() -> Vec<Record> {
    let opts = Options { format: Format::Csv, id_column: None, source: "crm".into(), now: now() };
    let parsed = import::parse(steward::service::demo::DEMO_CSV.as_bytes(), &opts, &mut |_| {});
    assert!(parsed.errors.is_empty());
    parsed
        .rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let mut r = row.record;
            r.id = RecordId::from_bytes(((1u128 << 120) + i as u128).to_be_bytes());
            r
        })
        .collect()
}

fn app_with(records: Vec<Record>) -> App {
    let theme = Theme::load("default", ColorDepth::None).expect("theme");
    let info = SessionInfo {
        store: "/srv/steward/store".into(),
        user: "tester".into(),
        role: "admin".into(),
        size_on_disk: 2_310_144,
        demo: false,
        read_only: None,
        idle_lock: None,
    };
    let mut app = App::new(info, theme);
    app.now = now();
    let data = Arc::new(Data::build(records, now()));
    app.update(Event::Loaded(data.clone()));
    let policy = steward::policy::Policy::from_toml(steward::service::demo::DEMO_POLICY).expect("policy");
    let report = steward::findings::scan(&data.records, &policy, steward::synth::as_of(), &|_| {});
    app.update(Event::Scanned(Arc::new(report)));
    app.update(Event::RequestsLoaded(Arc::new(request_views())));
    app.update(Event::OverviewLoaded(Arc::new(overview())));
    app
}

fn app() -> App {
    app_with(demo_records())
}

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

/// A small audit trail with fixed times.
fn audit_entries() -> Vec<steward::store::audit::Entry> {
    use steward::store::audit::{Draft, Head, Outcome};
    let mut head = Head::EMPTY;
    let key = steward::crypto::Key::from_slice(&[7u8; 32]).expect("key");
    let mut out = Vec::new();
    let rec = RecordId::from_bytes((1u128 << 120).to_be_bytes()).to_string();
    let drafts = [
        ("import", vec![], None, Outcome::Ok, "2000 new, 0 updated, 0 rejected, source crm"),
        ("update", vec![rec.clone()], Some("customer called"), Outcome::Ok, "fields: email"),
        ("erase", vec![rec.clone()], None, Outcome::Denied, "your role viewer cannot erase"),
        ("merge", vec![rec.clone(), rec], Some("same person"), Outcome::Ok, "merge-1: 1 record(s) into it"),
    ];
    for (i, (action, records, reason, outcome, detail)) in drafts.into_iter().enumerate() {
        let d = Draft {
            os_user: "ops".into(),
            user: "tester".into(),
            action: action.into(),
            records,
            reason: reason.map(Into::into),
            outcome: Some(outcome),
            detail: Some(detail.into()),
            ..Draft::default()
        };
        let e = d.into_entry(head, now() + chrono::Duration::minutes(i as i64 * 7));
        head = e.head(&key);
        out.push(e);
    }
    out
}

/// A small request queue, as of `now()`.
fn request_views() -> Vec<steward::service::requests::RequestView> {
    use steward::model::request::{Request, RequestKind, Requester, Status, Step, Verification};
    let today = now().date_naive();
    let mk = |reference: &str, kind, jurisdiction: &str, days_ago: u64, status: Status| Request {
        reference: reference.into(),
        kind,
        jurisdiction: jurisdiction.into(),
        received: today - chrono::Days::new(days_ago),
        channel: "email".into(),
        requester: Requester {
            name: Some("N. H.".into()),
            email: Some("n***@example.com".into()),
            ..Default::default()
        },
        verification: Verification { status: "unverified".into(), method: None },
        records: vec![],
        status,
        notes: vec![],
        history: vec![Step { time: now(), user: "tester".into(), what: "received".into() }],
        answers: vec![],
        requester_erased: None,
    };
    let mut v: Vec<_> = [
        mk("REQ-2026-0001", RequestKind::Erasure, "gdpr", 40, Status::New),
        mk("REQ-2026-0002", RequestKind::Access, "gdpr", 27, Status::InProgress),
        mk("REQ-2026-0003", RequestKind::Portability, "ccpa", 10, Status::Verifying),
        mk("REQ-2026-0004", RequestKind::Erasure, "gdpr", 60, Status::Completed),
    ]
    .into_iter()
    .map(|r| steward::service::requests::view(r, today).expect("view"))
    .collect();
    v.sort_by_key(|x| (!x.status.is_open(), x.due));
    v
}

/// The dashboard's overview figures, fixed.
/// A file source and a database source with changes waiting (fixed).
fn source_rows() -> Vec<steward::service::feed::SourceRow> {
    let at = now() - chrono::Duration::hours(3);
    vec![
        steward::service::feed::SourceRow {
            name: "crm".into(),
            kind: "file",
            table: None,
            incremental: false,
            last_sync: Some(at),
            rows: 2000,
            held: Some(2000),
            pending: 0,
            suppressed: 0,
            applied: 0,
            last_push: None,
        },
        steward::service::feed::SourceRow {
            name: "shop".into(),
            kind: "postgres",
            table: Some("public.customers".into()),
            incremental: true,
            last_sync: Some(at),
            rows: 12,
            held: Some(0),
            pending: 3,
            suppressed: 1,
            applied: 5,
            last_push: Some(at),
        },
    ]
}

fn overview() -> steward::service::report::Overview {
    use steward::service::report::{LastVerification, Overview, RequestFigures, UserRole};
    let requests = RequestFigures::of(&request_views());
    Overview {
        requests: RequestFigures { median_days_to_complete: Some(12.0), ..requests },
        users: vec![
            UserRole { name: "tester".into(), role: "admin".into() },
            UserRole { name: "vic".into(), role: "viewer".into() },
        ],
        audit_entries: 4,
        last_verification: Some(LastVerification {
            time: now(),
            user: "tester".into(),
            intact: true,
            detail: "4 entries intact".into(),
        }),
        alerts: vec![],
        breaches: vec![],
    }
}

/// The breach register as of `now()`: one open for 30 hours (high-risk data,
/// not assessed), one closed.
fn breach_list() -> Vec<steward::model::breach::Breach> {
    use steward::model::breach::{Breach, Figures, Risk, Scope, Step};
    let mut figures = Figures { records: 167, people: 165, under_72h_clock: 85, ..Figures::default() };
    for (c, n) in [("user.contact.email", 165), ("user.name.first", 167), ("user.government_id", 9)] {
        figures.by_category.insert(c.into(), n);
    }
    for (j, n) in [("GDPR (EU/EEA)", 62), ("UK GDPR", 23), ("US state breach laws", 36), ("PIPEDA (Canada)", 46)] {
        figures.by_jurisdiction.insert(j.into(), n);
    }
    figures.high_risk_categories = vec!["user.government_id".into()];
    let open = Breach {
        reference: "BR-2026-0002".into(),
        discovered: now() - chrono::Duration::hours(30),
        opened: now() - chrono::Duration::hours(2),
        opened_by: "tester".into(),
        what: "the web shop's export sat in a public bucket \u{1b}[31mfor 9 days".into(),
        scope: Scope { sources: vec!["webshop".into()], ..Scope::default() },
        figures: figures.clone(),
        timeline: vec![Step {
            time: now() - chrono::Duration::hours(2),
            by: "tester".into(),
            what: "incident opened in steward".into(),
        }],
        ..Breach::default()
    };
    let closed = Breach {
        reference: "BR-2026-0001".into(),
        discovered: now() - chrono::Duration::days(40),
        opened: now() - chrono::Duration::days(40),
        risk: Risk::Unlikely,
        risk_reason: Some("an encrypted laptop".into()),
        closed: Some(now() - chrono::Duration::days(38)),
        figures: Figures { records: 12, people: 12, ..Figures::default() },
        ..open.clone()
    };
    vec![open, closed]
}

/// Three records of the loaded data as match candidates: two proposed (one
/// found as a near-duplicate), one possible.
fn candidates(app: &App) -> Vec<steward::service::fulfil::Candidate> {
    let data = app.data.as_ref().expect("data");
    data.records
        .iter()
        .take(3)
        .enumerate()
        .map(|(i, r)| steward::service::fulfil::Candidate {
            id: r.id,
            score: [0.99, 0.93, 0.31][i],
            proposed: i < 2,
            linked: i == 0,
            via: (i == 1).then(|| data.records[0].id),
            reasons: match i {
                0 => vec![
                    "prior -10.8".into(),
                    "given_name same +5.8".into(),
                    "family_name same +7.0".into(),
                    "email same +21.6".into(),
                ],
                1 => vec![
                    "given_name similar +6.7".into(),
                    format!("near-duplicate of {} (cluster 0.980)", data.records[0].id),
                ],
                _ => vec!["family_name similar +2.1".into()],
            },
            evidence: match i {
                0 => vec!["name", "email"],
                1 => vec!["name"],
                _ => vec![],
            },
            name: r.display_name(),
            email: r.email.clone(),
            phone: r.phone.clone(),
            locality: r.address.locality.clone(),
            country: r.address.country.clone(),
            birth_year: r.date_of_birth.map(|d| d.year),
            source: r.provenance.source.clone(),
        })
        .collect()
}

/// Feeds a key and runs the effects it asks for, as the worker would
/// (service jobs: only loading the audit trail and the requests, fixed).
fn press(app: &mut App, k: KeyEvent) {
    let effects = app.update(Event::Key(k));
    for e in effects {
        if let steward::tui::app::Effect::Job(job) = &e {
            if matches!(job, steward::tui::app::Job::LoadAudit) {
                app.update(Event::AuditLoaded(Arc::new(audit_entries())));
            }
            if matches!(job, steward::tui::app::Job::LoadBreaches) {
                app.update(Event::BreachesLoaded(Arc::new(breach_list())));
            }
            if matches!(job, steward::tui::app::Job::LoadSources) {
                app.update(Event::SourcesLoaded(Arc::new(source_rows())));
            }
            if matches!(job, steward::tui::app::Job::LoadRequests) {
                app.update(Event::RequestsLoaded(Arc::new(request_views())));
                app.update(Event::OverviewLoaded(Arc::new(overview())));
            }
            if let steward::tui::app::Job::MatchRequest { reference } = job {
                let candidates = Arc::new(candidates(app));
                app.update(Event::Matched { reference: reference.clone(), candidates, advice: None });
            }
            continue;
        }
        let data = app.data.clone().expect("data loaded");
        let generation = AtomicU64::new(app.search.generation);
        if let Some(ev) = run_effect(&data, e, &generation) {
            app.update(ev);
        }
    }
}

fn type_str(app: &mut App, s: &str) {
    for c in s.chars() {
        press(app, key(KeyCode::Char(c)));
    }
}

fn render(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| ui::draw(f, app)).expect("draw");
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        for x in 0..w {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[test]
fn snapshot_every_screen() {
    for (w, h) in [(80u16, 24u16), (44, 12)] {
        let mut a = app();
        insta::assert_snapshot!(format!("dashboard_{w}x{h}"), render(&a, w, h));
        for (n, name) in [
            ('2', "records"),
            ('3', "findings"),
            ('4', "requests"),
            ('5', "audit"),
            ('6', "sources"),
            ('7', "breaches"),
        ] {
            press(&mut a, key(KeyCode::Char(n)));
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(&a, w, h));
        }
        press(&mut a, key(KeyCode::Char('2')));
        press(&mut a, key(KeyCode::Down));
        press(&mut a, key(KeyCode::Enter));
        insta::assert_snapshot!(format!("records_detail_{w}x{h}"), render(&a, w, h));
        press(&mut a, key(KeyCode::Char('?')));
        insta::assert_snapshot!(format!("help_{w}x{h}"), render(&a, w, h));
        press(&mut a, key(KeyCode::Esc));
        press(&mut a, key(KeyCode::Char('/')));
        type_str(&mut a, "harr");
        insta::assert_snapshot!(format!("search_{w}x{h}"), render(&a, w, h));
    }
}

#[test]
fn snapshot_wide_records_and_loading() {
    let mut a = app();
    press(&mut a, key(KeyCode::Char('2')));
    press(&mut a, key(KeyCode::Enter));
    insta::assert_snapshot!("records_detail_140x30", render(&a, 140, 30));
    let theme = Theme::load("default", ColorDepth::None).expect("theme");
    let mut loading = App::new(SessionInfo::default(), theme);
    loading.update(Event::LoadProgress { done: 40_000, total: 100_000 });
    insta::assert_snapshot!("loading_80x24", render(&loading, 80, 24));
}

#[test]
fn snapshot_findings_screens() {
    let mut a = app();
    press(&mut a, key(KeyCode::Char('3')));
    insta::assert_snapshot!("findings_list_80x24", render(&a, 80, 24));
    press(&mut a, key(KeyCode::Enter));
    insta::assert_snapshot!("findings_duplicate_80x24", render(&a, 80, 24));
    insta::assert_snapshot!("findings_duplicate_120x30", render(&a, 120, 30));
    press(&mut a, key(KeyCode::Esc));
    // The first pii finding.
    let report = a.report.clone().expect("report");
    let first_pii = report.findings.iter().position(|f| f.kind == steward::findings::Kind::Pii).expect("pii");
    for _ in 0..first_pii {
        press(&mut a, key(KeyCode::Char('j')));
    }
    press(&mut a, key(KeyCode::Enter));
    insta::assert_snapshot!("findings_pii_80x24", render(&a, 80, 24));
    press(&mut a, key(KeyCode::Esc));
    press(&mut a, key(KeyCode::Char('2')));
    press(&mut a, key(KeyCode::Char('f')));
    insta::assert_snapshot!("records_filtered_80x24", render(&a, 80, 24));
}

#[test]
fn snapshot_dialogs() {
    use steward::service::actions::{ErasePlan, Kept, Strategy};
    let mut a = app();
    // Merge: from the first duplicate cluster.
    press(&mut a, key(KeyCode::Char('3')));
    press(&mut a, key(KeyCode::Char('m')));
    insta::assert_snapshot!("merge_80x24", render(&a, 80, 24));
    insta::assert_snapshot!("merge_120x30", render(&a, 120, 30));
    press(&mut a, key(KeyCode::Char('l')));
    press(&mut a, key(KeyCode::Enter));
    type_str(&mut a, "same person");
    insta::assert_snapshot!("merge_reason_80x24", render(&a, 80, 24));
    press(&mut a, key(KeyCode::Esc));
    press(&mut a, key(KeyCode::Esc));
    assert!(a.form.is_none());
    // Edit: an invalid email is flagged as it is typed.
    press(&mut a, key(KeyCode::Char('2')));
    press(&mut a, key(KeyCode::Char('e')));
    press(&mut a, key(KeyCode::Down));
    press(&mut a, key(KeyCode::Down));
    press(&mut a, KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    type_str(&mut a, "ann@@example");
    insta::assert_snapshot!("edit_invalid_80x24", render(&a, 80, 24));
    press(&mut a, KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    type_str(&mut a, "ann.lee@example.com");
    press(&mut a, key(KeyCode::BackTab));
    press(&mut a, key(KeyCode::BackTab));
    press(&mut a, key(KeyCode::BackTab));
    type_str(&mut a, "customer called");
    press(&mut a, key(KeyCode::Enter));
    insta::assert_snapshot!("edit_preview_80x24", render(&a, 80, 24));
    press(&mut a, key(KeyCode::Esc));
    press(&mut a, key(KeyCode::Esc));
    // Erase: the plan as the service would return it.
    press(&mut a, key(KeyCode::Char('x')));
    let ids = match &a.form {
        Some(steward::tui::forms::Form::Erase(f)) => f.ids.clone(),
        _ => panic!("erase dialog expected"),
    };
    let plan = ErasePlan {
        strategy: Strategy::Delete,
        records: ids,
        redirects: vec![],
        snapshots: vec!["merge-1".into()],
        categories: vec!["user.contact.email".into(), "user.name.first".into()],
        kept: vec![Kept { field: "invoice_ids".into(), records: 1, why: "legal hold `tax`: 6 years".into() }],
        request_entries: 0,
        requests: vec![],
    };
    a.update(Event::ErasePlanned(Box::new(plan)));
    type_str(&mut a, "customer asked");
    press(&mut a, key(KeyCode::Tab));
    press(&mut a, key(KeyCode::Tab));
    type_str(&mut a, "erase");
    insta::assert_snapshot!("erase_80x24", render(&a, 80, 24));
    press(&mut a, key(KeyCode::Esc));
    // Export.
    press(&mut a, key(KeyCode::Char('E')));
    type_str(&mut a, "age1example");
    insta::assert_snapshot!(
        "export_80x24",
        render(&a, 80, 24).lines().filter(|l| !l.contains("steward-export-")).collect::<Vec<_>>().join("\n")
    );
    press(&mut a, key(KeyCode::Esc));
    // Audit, filtered by action.
    press(&mut a, key(KeyCode::Char('5')));
    insta::assert_snapshot!("audit_120x30", render(&a, 120, 30));
    press(&mut a, key(KeyCode::Char('a')));
    press(&mut a, key(KeyCode::Char('a')));
    insta::assert_snapshot!("audit_filtered_80x24", render(&a, 80, 24));
}

#[test]
fn selection_marks_rows_and_feeds_bulk_actions() {
    let mut a = app();
    press(&mut a, key(KeyCode::Char('2')));
    press(&mut a, key(KeyCode::Char(' ')));
    press(&mut a, key(KeyCode::Char(' ')));
    assert_eq!(a.selection.len(), 2);
    let screen = render(&a, 80, 24);
    assert!(screen.contains("2 selected"), "{screen}");
    assert_eq!(screen.matches('●').count(), 2, "{screen}");
    press(&mut a, key(KeyCode::Char('x')));
    match &a.form {
        Some(steward::tui::forms::Form::Erase(f)) => assert_eq!(f.ids.len(), 2),
        _ => panic!("erase dialog expected"),
    }
    press(&mut a, key(KeyCode::Esc));
    // Select all in a filter, then Esc unselects.
    press(&mut a, key(KeyCode::Esc));
    press(&mut a, key(KeyCode::Char('f')));
    let n = a.row_count();
    press(&mut a, key(KeyCode::Char('A')));
    assert_eq!(a.selection.len(), n);
    press(&mut a, key(KeyCode::Esc));
    assert!(a.selection.is_empty());
}

#[test]
fn an_opened_duplicate_explains_itself_field_by_field() {
    let mut a = app();
    press(&mut a, key(KeyCode::Char('3')));
    press(&mut a, key(KeyCode::Enter));
    let screen = render(&a, 100, 30);
    for label in ["given name", "family name", "date of birth", "email", "postcode", "record 2 vs 1"] {
        assert!(screen.contains(label), "{label} missing:\n{screen}");
    }
    assert!(screen.contains("= "), "per-field marks:\n{screen}");
    assert!(screen.contains("weakest link"), "{screen}");
}

#[test]
fn the_kind_filter_keeps_only_matching_records() {
    let mut a = app();
    press(&mut a, key(KeyCode::Char('2')));
    press(&mut a, key(KeyCode::Char('f')));
    let kind = a.filter.expect("a filter");
    let report = a.report.clone().expect("report");
    let n = a.row_count();
    assert!(n > 0 && n < 2000);
    for row in 0..n {
        let i = a.record_at(row).expect("row");
        assert!(report.kinds[i] & kind.bit() != 0);
    }
    press(&mut a, key(KeyCode::Esc));
    assert_eq!(a.row_count(), 2000);
}

#[test]
fn no_full_card_number_on_any_screen() {
    let mut a = app();
    let cards: Vec<String> = a
        .data
        .as_ref()
        .map(|d| {
            d.records
                .iter()
                .filter_map(|r| r.extra.get("notes"))
                .filter(|n| n.contains("paid by card"))
                .map(|n| n.chars().filter(char::is_ascii_digit).take(16).collect())
                .collect()
        })
        .unwrap_or_default();
    assert!(!cards.is_empty());
    press(&mut a, key(KeyCode::Char('2')));
    press(&mut a, key(KeyCode::Enter));
    let mut screens = Vec::new();
    for _ in 0..200 {
        press(&mut a, key(KeyCode::Char('j')));
        screens.push(render(&a, 140, 30));
    }
    press(&mut a, key(KeyCode::Char('3')));
    for _ in 0..400 {
        press(&mut a, key(KeyCode::Char('j')));
    }
    press(&mut a, key(KeyCode::Enter));
    screens.push(render(&a, 140, 30));
    for s in &screens {
        let digits: String = s.chars().filter(char::is_ascii_digit).collect();
        for c in &cards {
            assert!(!digits.contains(c.as_str()), "a full card number reached the screen");
        }
    }
}

#[test]
fn slash_and_a_query_select_the_customer() {
    let mut a = app();
    let target = a
        .data
        .as_ref()
        .and_then(|d| d.records.iter().find(|r| r.source_id == "C0000097").cloned())
        .expect("demo record C0000097");
    let query =
        format!("{} {}", target.given_name.clone().unwrap_or_default(), target.family_name.clone().unwrap_or_default());
    press(&mut a, key(KeyCode::Char('/')));
    assert_eq!(a.screen, Screen::Records);
    type_str(&mut a, &query.to_lowercase());
    let hits = a.search.hits.clone().expect("results");
    assert!(!hits.is_empty() && hits.len() < 10, "{} hits", hits.len());
    assert_eq!(a.selected_record().map(|r| r.id), Some(target.id));
    press(&mut a, key(KeyCode::Enter)); // keep the results
    press(&mut a, key(KeyCode::Enter)); // open details
    let screen = render(&a, 80, 24);
    assert!(screen.contains(&target.source_id), "{screen}");
    // Esc clears the search: the whole table is back.
    press(&mut a, key(KeyCode::Esc));
    assert!(a.search.hits.is_none());
    assert_eq!(a.row_count(), 2000);
}

#[test]
fn typing_narrows_and_backspace_widens() {
    let mut a = app();
    press(&mut a, key(KeyCode::Char('/')));
    type_str(&mut a, "har");
    let wide = a.search.hits.as_ref().map(|h| h.len()).expect("hits");
    type_str(&mut a, "rington");
    let narrow = a.search.hits.as_ref().map(|h| h.len()).expect("hits");
    assert!(narrow < wide, "{narrow} < {wide}");
    for _ in 0.."rington".len() {
        press(&mut a, key(KeyCode::Backspace));
    }
    assert_eq!(a.search.hits.as_ref().map(|h| h.len()), Some(wide));
}

#[test]
fn navigation_and_sorting() {
    let mut a = app();
    press(&mut a, key(KeyCode::Char('2')));
    press(&mut a, KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT));
    assert_eq!(a.table.selected, 1999);
    press(&mut a, key(KeyCode::Char('g')));
    assert_eq!(a.table.selected, 0);
    let _ = render(&a, 80, 24); // sets the page size
    press(&mut a, key(KeyCode::PageDown));
    assert!(a.table.selected > 10);
    press(&mut a, key(KeyCode::Char('s'))); // sort by name
    let names: Vec<String> = (0..50)
        .filter_map(|i| a.record_at(i))
        .map(|i| {
            a.data
                .as_ref()
                .map(|d| d.records[i].family_name.clone().unwrap_or_default().to_lowercase())
                .unwrap_or_default()
        })
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    // Tab cycles screens; q quits.
    press(&mut a, key(KeyCode::Tab));
    assert_eq!(a.screen, Screen::Findings);
    press(&mut a, key(KeyCode::Char('q')));
    assert!(a.quit);
}

#[test]
fn key_releases_are_ignored() {
    let mut a = app();
    let mut release = key(KeyCode::Char('q'));
    release.kind = crossterm::event::KeyEventKind::Release;
    press(&mut a, release);
    assert!(!a.quit);
}

#[test]
fn tiny_sizes_never_panic() {
    let mut a = app();
    let mut states: Vec<String> = Vec::new();
    for step in ['2', '\n', '?', '\u{1b}', '/', 'a', '3', '4', '5', '6', 'P', '1'] {
        let k = match step {
            '\n' => key(KeyCode::Enter),
            '\u{1b}' => key(KeyCode::Esc),
            c => key(KeyCode::Char(c)),
        };
        press(&mut a, k);
        for w in 0..=10u16 {
            for h in 0..=3u16 {
                states.push(render(&a, w, h));
            }
        }
        states.push(render(&a, 1, 1));
        states.push(render(&a, 10, 4));
        states.push(render(&a, 39, 7));
    }
    assert!(render(&a, 10, 4).contains("small") || render(&a, 10, 4).contains("Too"), "{}", render(&a, 10, 4));
}

#[test]
fn hostile_names_render_inert() {
    let mut records = demo_records();
    records.truncate(3);
    records[0].given_name = Some("Evil\u{1b}[2J\u{1b}]0;pwned\u{7}".into());
    records[0].family_name = Some("Bidi\u{202e}gnp.exe".into());
    records[0].email = Some(format!("{}@x.org", "a".repeat(5000)));
    records[0].extra.insert("notes".into(), "line1\nline2\r\u{9b}31m".into());
    let mut a = app_with(records);
    press(&mut a, key(KeyCode::Char('2')));
    press(&mut a, key(KeyCode::Enter));
    for (w, h) in [(80, 24), (140, 30)] {
        let screen = render(&a, w, h);
        for bad in ['\u{1b}', '\u{7}', '\u{202e}', '\u{9b}', '\r'] {
            assert!(!screen.contains(bad), "{bad:?} reached the screen:\n{screen}");
        }
        assert!(screen.contains("Evil\u{241b}[2J"), "{screen}");
        assert!(screen.contains('…'), "long email must be cut: {screen}");
    }
}

#[test]
fn no_color_keeps_the_selection_visible() {
    let a = app();
    let mut t = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
    let mut a = a;
    press(&mut a, key(KeyCode::Char('2')));
    t.draw(|f| ui::draw(f, &a)).expect("draw");
    let buf = t.backend().buffer();
    // Row 3 is the first data row (tabs, border, header).
    let cell = &buf[(5, 3)];
    assert!(cell.modifier.contains(ratatui::style::Modifier::REVERSED));
    assert_eq!(cell.fg, ratatui::style::Color::Reset);
}

#[test]
fn a_viewer_sees_masked_records_and_no_keys_it_cannot_use() {
    let masked: Vec<Record> = demo_records().iter().map(steward::service::mask::record).collect();
    let mut a = app_with(masked);
    a.info.role = "viewer".into();
    press(&mut a, key(KeyCode::Char('2')));
    press(&mut a, key(KeyCode::Enter));
    let screen = render(&a, 100, 30);
    insta::assert_snapshot!("records_viewer_100x30", screen);
    assert!(screen.contains("masked"), "{screen}");
    assert!(!screen.contains("Halberger"), "{screen}");
    for hidden in ["e edit", "x erase", "r reveal", "E export"] {
        assert!(!screen.contains(hidden), "{hidden} offered to a viewer:\n{screen}");
    }
    press(&mut a, key(KeyCode::Char('?')));
    let help = render(&a, 100, 60);
    for hidden in ["Erase the record", "Edit (rectify)", "Encrypt-export", "Merge the duplicate"] {
        assert!(!help.contains(hidden), "{hidden} in a viewer's help");
    }
    press(&mut a, key(KeyCode::Esc));
    press(&mut a, key(KeyCode::Char('x')));
    assert!(a.form.is_none());
    assert!(a.error.as_deref().is_some_and(|e| e.contains("your role viewer cannot")));
}

#[test]
fn the_idle_lock_drops_the_data_and_asks_for_the_passphrase() {
    let mut a = app();
    a.info.idle_lock = Some(3);
    press(&mut a, key(KeyCode::Char('2')));
    a.update(Event::Tick);
    a.update(Event::Tick);
    press(&mut a, key(KeyCode::Down));
    a.update(Event::Tick);
    a.update(Event::Tick);
    assert!(a.locked.is_none(), "a key resets the idle time");
    a.update(Event::Tick);
    assert!(a.locked.is_some());
    assert!(a.data.is_none() && a.report.is_none(), "decrypted data is dropped");
    let screen = render(&a, 80, 24);
    assert!(screen.contains("Locked while idle"), "{screen}");
    assert!(!screen.contains("Halberger"), "{screen}");
    insta::assert_snapshot!("idle_lock_80x24", screen);
    // Typing is not shown; Enter asks the service.
    for c in "secret".chars() {
        a.update(Event::Key(key(KeyCode::Char(c))));
    }
    assert!(!render(&a, 80, 24).contains("secret"));
    let effects = a.update(Event::Key(key(KeyCode::Enter)));
    assert!(matches!(effects.as_slice(), [steward::tui::app::Effect::Job(steward::tui::app::Job::Unlock { .. })]));
    a.update(Event::ActFailed("wrong passphrase or key for user `tester`".into()));
    assert!(render(&a, 80, 24).contains("wrong passphrase"));
    let effects = a.update(Event::Unlocked);
    assert!(a.locked.is_none());
    assert!(matches!(effects.as_slice(), [steward::tui::app::Effect::Reload]));
}

#[test]
fn housekeeping_from_the_dashboard_offers_to_erase_exactly_the_expired_records() {
    let mut a = app();
    let expired =
        a.report.as_ref().expect("report").summary().get(&steward::findings::Kind::Expired).copied().unwrap_or(0);
    assert!(expired > 0);
    press(&mut a, key(KeyCode::Char('H')));
    match &a.form {
        Some(steward::tui::forms::Form::Erase(f)) => assert_eq!(f.ids.len(), expired),
        _ => panic!("erase dialog expected"),
    }
}

#[test]
fn the_requests_screen_puts_overdue_first_with_a_badge() {
    let mut a = app();
    press(&mut a, key(KeyCode::Char('4')));
    let screen = render(&a, 100, 30);
    insta::assert_snapshot!("requests_100x30", screen);
    let first = screen.lines().find(|l| l.contains("REQ-")).expect("a request row");
    assert!(first.contains("REQ-2026-0001") && first.contains('!') && first.contains("overdue"), "{screen}");
    assert!(screen.contains("1 overdue"), "{screen}");
    let done = screen.lines().position(|l| l.contains("REQ-2026-0004")).expect("completed row");
    let open = screen.lines().position(|l| l.contains("REQ-2026-0003")).expect("open row");
    assert!(open < done, "completed requests come last");
}

#[test]
fn a_dialog_too_tall_for_the_terminal_asks_for_more_room_instead_of_hiding_its_fields() {
    let mut a = app();
    press(&mut a, key(KeyCode::Char('2')));
    press(&mut a, key(KeyCode::Char('x')));
    let ids = match &a.form {
        Some(steward::tui::forms::Form::Erase(f)) => f.ids.clone(),
        _ => panic!("erase dialog expected"),
    };
    let plan = steward::service::actions::ErasePlan {
        strategy: steward::service::actions::Strategy::Delete,
        records: ids,
        redirects: vec![],
        snapshots: vec![],
        categories: vec!["user.contact.email".into()],
        kept: vec![],
        request_entries: 0,
        requests: vec![],
    };
    a.update(Event::ErasePlanned(Box::new(plan)));
    let small = render(&a, 40, 10);
    assert!(small.contains("Enlarge"), "{small}");
    let big = render(&a, 80, 24);
    assert!(big.contains("Type erase to confirm"), "{big}");
}

#[test]
fn a_request_page_shows_its_next_step_and_the_records_that_may_be_the_requesters() {
    for (w, h) in [(100u16, 30u16), (80, 24)] {
        let mut a = app();
        press(&mut a, key(KeyCode::Char('4')));
        press(&mut a, key(KeyCode::Enter));
        assert_eq!(a.requests.open.as_deref(), Some("REQ-2026-0001"));
        let screen = render(&a, w, h);
        insta::assert_snapshot!(format!("request_page_{w}x{h}"), screen);
        assert!(screen.contains("verify the requester's identity (v)"), "{screen}");
        assert!(screen.contains("[x]") && screen.contains("proposed") && screen.contains("possible"), "{screen}");
        assert!(
            screen.contains("why: prior -10.8, given_name same +5.8"),
            "the cursor's candidate is explained in bits: {screen}"
        );
        // The identity dialog.
        press(&mut a, key(KeyCode::Char('v')));
        insta::assert_snapshot!(format!("request_verify_{w}x{h}"), render(&a, w, h));
        press(&mut a, key(KeyCode::Esc));
        // An erasure request has no export; Esc goes back to the queue.
        press(&mut a, key(KeyCode::Char('E')));
        assert!(a.error.as_deref().is_some_and(|e| e.contains("erasure request")), "{:?}", a.error);
        press(&mut a, key(KeyCode::Esc));
        assert!(a.requests.open.is_none());
    }
    // Tiny terminals: drawn without panicking.
    let mut a = app();
    press(&mut a, key(KeyCode::Char('4')));
    press(&mut a, key(KeyCode::Enter));
    for (w, h) in [(44u16, 12u16), (20, 5), (1, 1)] {
        render(&a, w, h);
    }
}

#[test]
fn a_viewer_cannot_link_verify_or_fulfil_requests() {
    let mut a = app();
    a.info.role = "viewer".into();
    press(&mut a, key(KeyCode::Char('4')));
    press(&mut a, key(KeyCode::Enter));
    assert!(a.requests.candidates().is_empty(), "no matching for viewers");
    for c in ['v', 'x', 'E', 'c', 'L', ' '] {
        press(&mut a, key(KeyCode::Char(c)));
        assert!(a.form.is_none(), "{c} opened a dialog");
    }
    let screen = render(&a, 100, 30);
    assert!(!screen.contains("Space link") && !screen.contains("v verify"), "{screen}");
}

#[test]
fn a_page_opened_while_busy_says_it_is_not_matched_and_m_matches() {
    let mut a = app();
    press(&mut a, key(KeyCode::Char('4')));
    a.busy = Some("erasing".into());
    press(&mut a, key(KeyCode::Enter));
    assert!(a.error.as_deref().is_some_and(|e| e.contains("still running")), "{:?}", a.error);
    a.busy = None;
    let screen = render(&a, 100, 30);
    assert!(screen.contains("not matched yet: m compares"), "{screen}");
    assert!(!screen.contains("no record matches"), "never claims no match before matching: {screen}");
    press(&mut a, key(KeyCode::Char('m')));
    assert_eq!(a.requests.candidates().len(), 3);
    // The identity dialog records a failed check with Ctrl-t.
    press(&mut a, key(KeyCode::Char('v')));
    press(&mut a, KeyEvent::new(KeyCode::Char('t'), KeyModifiers::CONTROL));
    assert!(render(&a, 100, 30).contains("as FAILED"));
}

#[test]
fn help_opens_at_the_keys_of_the_screen_in_use() {
    let mut a = app();
    press(&mut a, key(KeyCode::Char('4')));
    press(&mut a, key(KeyCode::Char('?')));
    let screen = render(&a, 80, 24);
    let first = screen.lines().nth(3).unwrap_or_default();
    assert!(first.contains("Requests"), "the Requests keys come first:\n{screen}");
    assert!(screen.contains("Open the request"), "{screen}");
}

#[test]
fn a_read_only_view_that_ended_holds_no_data_and_only_quits() {
    let mut a = app();
    press(&mut a, key(KeyCode::Char('2')));
    a.update(Event::ReadOnlyEnded("the holder changed the store (an edit, a merge or an erasure)".into()));
    assert!(a.data.is_none() && a.report.is_none(), "the data is dropped");
    insta::assert_snapshot!("read_only_ended_80x24", render(&a, 80, 24));
    insta::assert_snapshot!("read_only_ended_40x10", render(&a, 40, 10));
    // Later loads are ignored; keys other than q do nothing.
    a.update(Event::Loaded(Arc::new(Data::build(demo_records(), now()))));
    assert!(a.data.is_none());
    press(&mut a, key(KeyCode::Char('2')));
    assert!(!a.quit);
    press(&mut a, key(KeyCode::Char('q')));
    assert!(a.quit);
}

/// Issue 14 (safety): a `--read-only` session showed `e edit  x erase`; `x`
/// opened an erase dialog that hung, `e` let a whole edit be typed before
/// refusing. It now offers and takes only what a viewer may do.
#[test]
fn a_read_only_session_neither_shows_nor_opens_change_dialogs() {
    let mut a = app();
    a.info.read_only = Some("09:11 UTC".into());
    press(&mut a, key(KeyCode::Char('2')));
    let screen = render(&a, 120, 30);
    for hint in ["edit", "erase", "merge", "export", "reveal"] {
        let status = screen.lines().last().unwrap_or_default();
        assert!(!status.contains(hint), "the status bar offers {hint}: {status}");
    }
    for c in ['e', 'x', 'E', 'r', 'H'] {
        press(&mut a, key(KeyCode::Char(c)));
        assert!(a.form.is_none(), "{c} opened a dialog in a read-only session");
        if c != 'H' {
            assert!(a.error.as_deref().is_some_and(|e| e.contains("read-only")), "{c}: {:?}", a.error);
        }
    }
    press(&mut a, key(KeyCode::Char('?')));
    let help = render(&a, 120, 40);
    assert!(!help.contains("Erase the record"), "help offers erasing:\n{help}");
}

#[test]
fn sources_offer_sync_and_push_only_for_a_database_and_preview_first() {
    use steward::tui::app::{Effect, Job};
    use steward::tui::forms::{Form, Remedy};
    let mut a = app();
    press(&mut a, key(KeyCode::Char('6')));
    let shown = render(&a, 80, 24);
    assert!(shown.contains("crm") && shown.contains("shop") && shown.contains("3 change(s) waiting"), "{shown}");
    assert!(!shown.contains("S sync") && !shown.contains("P push"), "offered on a file source: {shown}");
    // A file source: no sync or push, and the error says what to do instead.
    let fx = a.update(Event::Key(key(KeyCode::Char('P'))));
    assert!(fx.is_empty() && a.form.is_none());
    assert!(a.error.as_deref().is_some_and(|e| e.contains("steward changes")), "{:?}", a.error);
    // The database source: P opens the push dialog, which first asks for the dry run.
    press(&mut a, key(KeyCode::Char('j')));
    let shown = render(&a, 80, 24);
    assert!(shown.contains("S sync") && shown.contains("P push"), "{shown}");
    let fx = a.update(Event::Key(key(KeyCode::Char('P'))));
    assert!(
        fx.iter().any(
            |e| matches!(e, Effect::Job(Job::PlanRemedy(r)) if matches!(**r, Remedy::Push { planned: false, .. }))
        ),
        "P asks for the push's dry run"
    );
    assert!(matches!(&a.form, Some(Form::Remedy(f)) if matches!(f.remedy, Remedy::Push { .. })));
    // Enter does nothing until the preview is there.
    let fx = a.update(Event::Key(key(KeyCode::Enter)));
    assert!(fx.is_empty(), "Enter applied a push that was not previewed");
    a.update(Event::RemedyPlanned(
        Box::new(Remedy::Push { source: "shop".into(), planned: true }),
        vec!["shop: 3 change(s) would be done, 0 refused".into(), "statements: 2 update, 1 delete".into()],
    ));
    insta::assert_snapshot!("sources_push_preview_80x24", render(&a, 80, 24));
    let fx = a.update(Event::Key(key(KeyCode::Enter)));
    assert!(
        fx.iter().any(|e| matches!(e, Effect::Job(Job::ApplyRemedy { remedy, .. }) if matches!(**remedy, Remedy::Push { planned: true, .. }))),
        "Enter after the preview applies the push"
    );
    // A viewer is offered neither key.
    let mut v = app();
    v.info.role = "viewer".into();
    press(&mut v, key(KeyCode::Char('6')));
    press(&mut v, key(KeyCode::Char('j')));
    let shown = render(&v, 80, 24);
    let status = shown.lines().nth(23).unwrap_or_default();
    assert!(!status.contains("S sync") && !status.contains("P push"), "{shown}");
    assert!(!shown.contains("S syncs"), "{shown}");
    assert!(v.update(Event::Key(key(KeyCode::Char('P')))).is_empty() && v.form.is_none());
}

#[test]
fn another_sessions_changes_are_read_again_without_closing_a_dialog() {
    use steward::tui::app::{Effect, Job};
    let refresh_of = |effects: &[Effect]| -> Option<Vec<steward::model::RecordId>> {
        effects.iter().find_map(|e| match e {
            Effect::Job(Job::Refresh { ids }) => Some(ids.clone()),
            _ => None,
        })
    };
    let mut a = app();
    press(&mut a, key(KeyCode::Char('2')));
    press(&mut a, key(KeyCode::Char('e')));
    assert!(a.form.is_some(), "the edit dialog is open");
    let data = a.data.clone().expect("data");
    let (first, second) = (data.records[0].id, data.records[1].id);
    // Another session changed a record: it is read again, the dialog stays.
    let effects = a.update(Event::External(vec![first]));
    assert_eq!(refresh_of(&effects), Some(vec![first]));
    assert!(a.form.is_some(), "the dialog stays open");
    // A second notice while that runs waits for it, then goes.
    assert_eq!(refresh_of(&a.update(Event::External(vec![second]))), None);
    let effects = a.update(Event::ExternalDone("another session changed 1 record(s): shown as they are now".into()));
    assert_eq!(refresh_of(&effects), Some(vec![second]));
    assert!(a.form.is_some(), "the dialog still stays open");
    let effects = a.update(Event::ExternalDone("another session changed 1 record(s): shown as they are now".into()));
    assert_eq!(refresh_of(&effects), None, "nothing left to read");
    assert_eq!(a.notice.as_deref(), Some("another session changed 1 record(s): shown as they are now"));
    // A change to no record (another session's reveal) reloads the audit
    // list on screen.
    press(&mut a, key(KeyCode::Esc));
    press(&mut a, key(KeyCode::Esc));
    press(&mut a, key(KeyCode::Char('5')));
    let effects = a.update(Event::External(Vec::new()));
    assert!(effects.iter().any(|e| matches!(e, Effect::Job(Job::LoadAudit))), "the audit list reloads");
}

#[test]
fn the_header_names_who_else_works_on_a_shared_store() {
    let mut a = app();
    a.update(Event::Present(vec!["ann (ann)".into(), "bob (robert)".into()]));
    insta::assert_snapshot!("header_others_120x8", render(&a, 120, 8));
    let wide = render(&a, 120, 8);
    assert!(wide.contains("also here: ann (ann) +1"), "{wide}");
    // Alone again: the names go.
    a.update(Event::Present(Vec::new()));
    assert!(!render(&a, 120, 8).contains("also here"));
    // Narrow terminals keep the tabs (the names go first) and never panic.
    a.update(Event::Present(vec!["a-very-long-user-name-indeed (someone)".into()]));
    for w in [80u16, 44] {
        let r = render(&a, w, 8);
        assert!(r.contains(" 1 "), "{r}");
    }
    let _ = render(&a, 20, 8);
}

#[test]
fn the_breaches_screen_counts_down_and_records_that_the_authority_was_told() {
    use steward::tui::app::{Effect, Job};
    use steward::tui::forms::NotePurpose;
    let mut a = app();
    press(&mut a, key(KeyCode::Char('7')));
    let screen = render(&a, 120, 30);
    insta::assert_snapshot!("breaches_120x30", screen);
    assert!(screen.contains("42h 00m left"), "{screen}");
    assert!(!screen.contains('\u{1b}'), "an escape sequence reached the terminal");
    assert!(screen.contains("suggests a HIGH risk") || screen.contains("data suggests a HIGH risk"), "{screen}");
    // The clock runs with the time.
    a.now = now() + chrono::Duration::hours(41) + chrono::Duration::minutes(30);
    let screen = render(&a, 80, 24);
    assert!(screen.contains("0h 30m left"), "{screen}");
    a.now = now() + chrono::Duration::hours(43);
    let screen = render(&a, 80, 24);
    assert!(screen.contains("OVERDUE by 1h 00m"), "{screen}");

    // `a`: the authority was told, and how.
    press(&mut a, key(KeyCode::Char('a')));
    assert!(a.form.is_some(), "a opens the dialog");
    type_str(&mut a, "ICO portal ref 4711");
    let effects = a.update(Event::Key(key(KeyCode::Enter)));
    let job = effects.iter().find_map(|e| match e {
        Effect::Job(Job::NoteRequest { purpose: NotePurpose::BreachAuthority(r), text, .. }) => {
            Some((r.clone(), text.clone()))
        }
        _ => None,
    });
    assert_eq!(job, Some(("BR-2026-0002".to_owned(), "ICO portal ref 4711".to_owned())));

    // A closed incident takes no notes.
    let mut a = app();
    press(&mut a, key(KeyCode::Char('7')));
    press(&mut a, key(KeyCode::Char('j')));
    press(&mut a, key(KeyCode::Char('n')));
    assert!(a.form.is_none());
    assert!(a.error.as_deref().is_some_and(|e| e.contains("closed")), "{:?}", a.error);
}

#[test]
fn the_dashboard_shows_open_breaches_and_usage_alerts() {
    let mut a = app();
    let mut o = overview();
    let b = &breach_list()[0];
    o.breaches = vec![steward::service::report::BreachLine::of(b, now())];
    o.alerts = vec![steward::service::usage::Alert {
        kind: "export_off_hours",
        user: "night\u{1b}owl".into(),
        time: now(),
        seq: 12,
        what: "extract of 1043 record(s) at Sun 02:10 +00:00 (working hours 07:00-20:00 +00:00, weekdays)".into(),
    }];
    a.update(Event::OverviewLoaded(Arc::new(o)));
    let screen = render(&a, 80, 24);
    insta::assert_snapshot!("dashboard_attention_80x24", screen);
    assert!(screen.contains("BR-2026-0002") && screen.contains("42h 00m left"), "{screen}");
    assert!(!screen.contains('\u{1b}'));
}

#[test]
fn x_extracts_the_records_in_view_for_a_purpose() {
    use steward::tui::app::{Effect, Job};
    let mut a = app();
    press(&mut a, key(KeyCode::Char('2')));
    // The view: a search.
    press(&mut a, key(KeyCode::Char('/')));
    type_str(&mut a, "harr");
    press(&mut a, key(KeyCode::Enter));
    let in_view = a.row_count();
    assert!(in_view > 0 && in_view < 2000, "{in_view}");
    press(&mut a, KeyEvent::new(KeyCode::Char('X'), KeyModifiers::SHIFT));
    assert!(a.form.is_some(), "X opens the extract dialog");
    insta::assert_snapshot!(
        "extract_80x24",
        render(&a, 80, 24).lines().filter(|l| !l.contains("steward-extract-")).collect::<Vec<_>>().join("\n")
    );
    press(&mut a, key(KeyCode::Enter)); // purpose: marketing (the default)
    type_str(&mut a, "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq");
    press(&mut a, key(KeyCode::Enter));
    let effects = a.update(Event::Key(key(KeyCode::Enter)));
    let job = effects.iter().find_map(|e| match e {
        Effect::Job(Job::Extract { ids, purpose, .. }) => Some((ids.len(), purpose.clone())),
        _ => None,
    });
    assert_eq!(job, Some((in_view, "marketing".to_owned())), "the records in view, for marketing");
}

#[test]
fn o_opens_a_breach_over_the_records_in_view() {
    use steward::tui::app::{Effect, Job};
    let mut a = app();
    // Narrowed on the Records screen: those records are the scope.
    press(&mut a, key(KeyCode::Char('2')));
    press(&mut a, key(KeyCode::Char('/')));
    type_str(&mut a, "harr");
    press(&mut a, key(KeyCode::Enter));
    let in_view = a.row_count();
    press(&mut a, key(KeyCode::Char('7')));
    press(&mut a, key(KeyCode::Char('o')));
    assert!(a.form.is_some(), "o opens the dialog");
    insta::assert_snapshot!("breach_open_80x24", render(&a, 80, 24));
    press(&mut a, key(KeyCode::Enter)); // discovered: now
    type_str(&mut a, "laptop with an export stolen");
    press(&mut a, key(KeyCode::Enter));
    type_str(&mut a, "crm");
    let effects = a.update(Event::Key(key(KeyCode::Enter)));
    let job = effects.iter().find_map(|e| match e {
        Effect::Job(Job::BreachOpen { discovered, what, source, ids }) => {
            Some((discovered.clone(), what.clone(), source.clone(), ids.len()))
        }
        _ => None,
    });
    assert_eq!(
        job,
        Some(("now".to_owned(), "laptop with an export stolen".to_owned(), Some("crm".to_owned()), in_view))
    );
    // Not narrowed: every record (no ids).
    let mut a = app();
    press(&mut a, key(KeyCode::Char('7')));
    press(&mut a, key(KeyCode::Char('o')));
    press(&mut a, key(KeyCode::Enter));
    type_str(&mut a, "x");
    press(&mut a, key(KeyCode::Enter));
    let effects = a.update(Event::Key(key(KeyCode::Enter)));
    assert!(effects.iter().any(|e| matches!(e, Effect::Job(Job::BreachOpen { ids, .. }) if ids.is_empty())));
}

#[test]
fn the_breaches_screen_assesses_closes_lists_and_reports() {
    use steward::model::breach::Risk;
    use steward::tui::app::{Effect, Job};
    use steward::tui::forms::NotePurpose;
    let mut a = app();
    press(&mut a, key(KeyCode::Char('7')));
    // r: the risk, suggested high (a government id among the data); Ctrl-t cycles.
    press(&mut a, key(KeyCode::Char('r')));
    insta::assert_snapshot!("breach_risk_80x24", render(&a, 80, 24));
    press(&mut a, KeyEvent::new(KeyCode::Char('t'), KeyModifiers::CONTROL));
    type_str(&mut a, "contact data only, no ids after all");
    let effects = a.update(Event::Key(key(KeyCode::Enter)));
    let risk = effects.iter().find_map(|e| match e {
        Effect::Job(Job::NoteRequest { purpose: NotePurpose::BreachRisk(r, level), .. }) => Some((r.clone(), *level)),
        _ => None,
    });
    assert_eq!(risk, Some(("BR-2026-0002".to_owned(), Risk::Unlikely)), "high, then Ctrl-t: unlikely");
    // L: the notification list dialog (recipient, file).
    let mut a = app();
    press(&mut a, key(KeyCode::Char('7')));
    press(&mut a, KeyEvent::new(KeyCode::Char('L'), KeyModifiers::SHIFT));
    type_str(&mut a, "age1example");
    press(&mut a, key(KeyCode::Enter));
    let effects = a.update(Event::Key(key(KeyCode::Enter)));
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Job(Job::BreachList { reference, recipient, .. })
            if reference == "BR-2026-0002" && recipient == "age1example")),
        "L writes the list through a job; error: {:?}",
        a.error
    );
    // W on a closed breach: the report may still be written; c is refused.
    let mut a = app();
    press(&mut a, key(KeyCode::Char('7')));
    press(&mut a, key(KeyCode::Char('j')));
    press(&mut a, key(KeyCode::Char('c')));
    assert!(a.form.is_none());
    press(&mut a, KeyEvent::new(KeyCode::Char('W'), KeyModifiers::SHIFT));
    let effects = a.update(Event::Key(key(KeyCode::Enter)));
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Job(Job::NoteRequest { purpose: NotePurpose::BreachReport(r), text, .. })
            if r == "BR-2026-0001" && text.ends_with("BR-2026-0001-report.md"))),
        "W writes the report through a job; error: {:?}",
        a.error
    );
}
