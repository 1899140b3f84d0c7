//! Keyboard flows that change data, against a real demo store: the app gets
//! keys, its jobs run through `tui::jobs` on the real service (as the
//! action thread runs them), and the results are checked in the store and
//! on the Audit screen.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use steward::service::Service;
use steward::tui::app::{App, Data, Effect, Event, SessionInfo, run_effect};
use steward::tui::theme::{ColorDepth, Theme};
use steward::tui::{jobs, ui};

struct Harness {
    _tmp: tempfile::TempDir,
    service: Service,
    app: App,
    /// The scan kept for incremental rescans, as the action thread keeps it.
    rescanner: std::sync::Mutex<jobs::Rescanner>,
    /// Jobs after which the findings were scanned in full, not patched.
    full_scans: usize,
}

impl Harness {
    fn new() -> Harness {
        let tmp = tempfile::tempdir().expect("tempdir");
        let service = steward::service::demo::build(&tmp.path().join("s"), "tester").expect("demo store");
        let theme = Theme::load("default", ColorDepth::None).expect("theme");
        let mut app =
            App::new(SessionInfo { user: "tester".into(), role: "admin".into(), ..SessionInfo::default() }, theme);
        let rescanner = std::sync::Mutex::new(jobs::Rescanner::default());
        Self::load(&service, &mut app, &rescanner);
        Harness { _tmp: tmp, service, app, rescanner, full_scans: 0 }
    }

    /// Decrypts and scans, as the loader thread does.
    fn load(service: &Service, app: &mut App, rescanner: &std::sync::Mutex<jobs::Rescanner>) {
        let records = service.records(&mut |_| {}).expect("records");
        let data = Arc::new(Data::build(records, chrono::Utc::now()));
        app.update(Event::Loaded(data.clone()));
        let (report, mut state) = service.scan_keeping(&data.records, &|_| {}).expect("scan");
        app.update(Event::ScannedAt(Arc::new(report), data.version));
        state.prepare();
        rescanner.lock().expect("lock").keep(state, data.version);
    }

    /// Delivers an event and runs whatever it starts, as the threads would.
    fn deliver(&mut self, ev: Event) {
        let mut queue = vec![ev];
        while let Some(ev) = queue.pop() {
            let effects = self.app.update(ev);
            for e in effects {
                match e {
                    Effect::Job(job) => {
                        let data = self.app.data.clone();
                        let mut evs = jobs::run(&self.service, data.as_ref(), job, &|_| {}, &self.rescanner);
                        drop(data);
                        self.full_scans += evs.iter().filter(|e| matches!(e, Event::ScannedAt(..))).count();
                        evs.reverse();
                        queue.extend(evs);
                    }
                    Effect::Reload => Self::load(&self.service, &mut self.app, &self.rescanner),
                    Effect::Forget => self.rescanner.lock().expect("lock").state = None,
                    other => {
                        let data = self.app.data.clone().expect("data");
                        if let Some(ev) = run_effect(&data, other, &AtomicU64::new(self.app.search.generation)) {
                            queue.push(ev);
                        }
                    }
                }
            }
        }
    }

    fn key(&mut self, c: KeyCode) {
        self.deliver(Event::Key(KeyEvent::new(c, KeyModifiers::NONE)));
    }

    fn typed(&mut self, s: &str) {
        for c in s.chars() {
            self.key(KeyCode::Char(c));
        }
    }

    fn screen(&self, w: u16, h: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        t.draw(|f| ui::draw(f, &self.app)).expect("draw");
        let buf = t.backend().buffer();
        (0..h).map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>() + "\n").collect()
    }
}

#[test]
fn merge_a_duplicate_cluster_and_erase_a_record_by_keyboard_then_see_both_audited() {
    let mut h = Harness::new();
    let before = h.service.count();

    // Findings → first duplicate cluster → m → Enter → reason → Enter.
    h.key(KeyCode::Char('3'));
    let cluster: Vec<_> = {
        let report = h.app.report.as_ref().expect("report");
        let f = &report.findings[h.app.findings.current(report).expect("a finding under the cursor")];
        assert_eq!(f.kind, steward::findings::Kind::Duplicate);
        let data = h.app.data.as_ref().expect("data");
        f.records.iter().map(|&i| data.records[i as usize].id).collect()
    };
    h.key(KeyCode::Char('m'));
    assert!(h.screen(100, 30).contains("★ survives"), "merge dialog:\n{}", h.screen(100, 30));
    h.key(KeyCode::Enter);
    h.typed("same customer, signed up twice");
    h.key(KeyCode::Enter);
    assert!(h.app.form.is_none(), "the dialog closes after the merge");
    assert!(h.app.notice.as_deref().is_some_and(|n| n.contains("merged")), "{:?}", h.app.error);
    assert_eq!(h.service.count(), before - (cluster.len() - 1));
    let survivors = cluster.iter().filter(|id| h.service.get(**id).is_ok()).count();
    assert_eq!(survivors, 1, "one record of the cluster is left");
    // The screens show the store as it is now, re-scanned.
    assert_eq!(h.app.data.as_ref().expect("data").records.len(), before - (cluster.len() - 1));
    assert!(h.app.report.is_some());

    // Records → first record → x → reason, request, "erase" → Enter.
    h.key(KeyCode::Char('2'));
    let victim = h.app.selected_record().expect("a record").id;
    h.key(KeyCode::Char('x'));
    assert!(h.screen(100, 30).contains("This will erase"), "{}", h.screen(100, 30));
    h.typed("customer asked");
    h.key(KeyCode::Tab);
    h.typed("REQ-2026-0001");
    h.key(KeyCode::Enter);
    // Not yet: the word is missing.
    assert!(h.app.form.is_some());
    h.typed("erase");
    h.key(KeyCode::Enter);
    assert!(h.app.form.is_none(), "erased: {:?}", h.app.error);
    assert!(h.service.get(victim).is_err(), "the record is gone from the store");
    assert!(h.app.data.as_ref().expect("data").records.iter().all(|r| r.id != victim));

    // Audit screen: both, newest first.
    h.key(KeyCode::Char('5'));
    let screen = h.screen(120, 30);
    let erase_at = screen.find(" erase ").expect("erase entry on the Audit screen");
    let merge_at = screen.find(" merge ").expect("merge entry on the Audit screen");
    assert!(erase_at < merge_at, "newest first:\n{screen}");
    assert!(screen.contains(" rekey "), "the erasure rotated the data key:\n{screen}");
    h.key(KeyCode::Char('j'));
    let screen = h.screen(120, 30);
    assert!(screen.contains("REQ-2026-0001"), "the selected erase entry shows its request:\n{screen}");
}

#[test]
fn undo_right_after_a_merge_restores_the_records() {
    let mut h = Harness::new();
    let before = h.service.count();
    h.key(KeyCode::Char('3'));
    h.key(KeyCode::Char('m'));
    h.key(KeyCode::Enter);
    h.typed("same");
    h.key(KeyCode::Enter);
    assert!(h.service.count() < before);
    h.key(KeyCode::Char('u'));
    assert_eq!(h.service.count(), before, "{:?}", h.app.error);
    assert_eq!(h.app.data.as_ref().expect("data").records.len(), before);
    h.key(KeyCode::Char('u'));
    assert!(h.app.error.as_deref().is_some_and(|e| e.contains("nothing to undo")));
}

#[test]
fn an_edit_with_an_invalid_value_cannot_be_saved_and_a_valid_one_is() {
    let mut h = Harness::new();
    h.key(KeyCode::Char('2'));
    let id = h.app.selected_record().expect("record").id;
    let before = h.service.get(id).expect("record");
    h.key(KeyCode::Char('e'));
    h.key(KeyCode::Down);
    h.key(KeyCode::Down);
    h.deliver(Event::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
    h.typed("nobody@");
    // Walk to the reason line and try: no preview while a value is invalid.
    for _ in 0..20 {
        h.key(KeyCode::Down);
        if h.screen(100, 30).contains("› Reason") {
            break;
        }
    }
    h.typed("fix");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Enter);
    assert_eq!(h.service.get(id).expect("record"), before, "nothing saved while invalid");
    // Fix it: back to the email line.
    while !h.screen(100, 30).contains("› Email") {
        h.key(KeyCode::Up);
    }
    h.typed("example.com");
    while !h.screen(100, 30).contains("› Reason") {
        h.key(KeyCode::Down);
    }
    h.key(KeyCode::Enter);
    assert!(h.screen(100, 30).contains("Save these changes?"));
    h.key(KeyCode::Enter);
    assert_eq!(h.service.get(id).expect("record").email.as_deref(), Some("nobody@example.com"), "{:?}", h.app.error);
}

#[test]
fn export_from_the_dashboard_writes_an_age_file() {
    let mut h = Harness::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let id = age::x25519::Identity::generate();
    h.key(KeyCode::Char('2'));
    h.key(KeyCode::Char('E'));
    h.typed(&id.to_public().to_string());
    h.key(KeyCode::Enter);
    h.deliver(Event::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
    let file = dir.path().join("subject.age");
    h.typed(file.to_str().expect("path"));
    h.key(KeyCode::Enter);
    assert!(h.app.notice.as_deref().is_some_and(|n| n.contains("exported 1 record")), "{:?}", h.app.error);
    let dec = age::Decryptor::new(std::fs::File::open(&file).expect("export file")).expect("age");
    let mut r = dec.decrypt(std::iter::once(&id as &dyn age::Identity)).expect("decrypt");
    let mut s = String::new();
    std::io::Read::read_to_string(&mut r, &mut s).expect("read");
    assert!(s.contains("steward-export/1"));
}

#[test]
fn the_idle_lock_checks_the_passphrase_with_the_service_and_audits_failures() {
    let mut h = Harness::new();
    h.app.info.idle_lock = Some(1);
    h.deliver(Event::Tick);
    assert!(h.app.locked.is_some() && h.app.data.is_none());
    h.typed("not-it");
    h.key(KeyCode::Enter);
    assert!(h.app.locked.as_ref().is_some_and(|l| l.message.as_deref().is_some_and(|m| m.contains("wrong"))));
    let audit = h.service.audit_list(&Default::default()).expect("audit");
    let last = audit.last().expect("entry");
    assert_eq!((last.action.as_str(), last.outcome.name()), ("login", "denied"));
    h.typed(steward::service::demo::DEMO_PASSPHRASE);
    h.key(KeyCode::Enter);
    assert!(h.app.locked.is_none(), "the right passphrase unlocks");
    assert!(h.app.data.is_some() && h.app.report.is_some(), "and the data is decrypted again");
}

/// Moves the Requests screen's cursor to the first open request of `kind`;
/// returns its reference.
fn select_request(h: &mut Harness, kind: steward::model::request::RequestKind) -> String {
    select_where(h, |v| v.kind == kind && v.status == steward::model::request::Status::New)
}

/// Moves the cursor to the first request that `pick` accepts.
fn select_where(h: &mut Harness, pick: impl Fn(&steward::service::requests::RequestView) -> bool) -> String {
    h.key(KeyCode::Char('4'));
    let list = h.app.requests.list.clone().expect("the queue is loaded on entering the screen");
    let pos = list.iter().position(pick).expect("a demo request of that kind");
    h.key(KeyCode::Char('g'));
    for _ in 0..pos {
        h.key(KeyCode::Char('j'));
    }
    list[pos].reference.clone()
}

#[test]
fn an_access_request_is_answered_to_an_age_recipient_by_keyboard_alone() {
    use steward::model::request::{RequestKind, Status};
    let mut h = Harness::new();
    let reference = select_request(&mut h, RequestKind::Access);
    // Overdue requests come first on the screen.
    let list = h.app.requests.list.clone().expect("queue");
    let first_not_overdue = list.iter().position(|v| !v.overdue).unwrap_or(list.len());
    assert!(list[first_not_overdue..].iter().all(|v| !v.overdue), "overdue requests come first");

    // Enter opens the page and matches the requester to records.
    h.key(KeyCode::Enter);
    assert_eq!(h.app.requests.open.as_deref(), Some(reference.as_str()));
    let proposed = h.app.requests.candidates().iter().filter(|c| c.proposed).count();
    assert!(proposed >= 1, "the requester's record is proposed: {:?}", h.app.error);
    assert!(h.screen(100, 30).contains("Records that may be the requester's"), "{}", h.screen(100, 30));

    h.key(KeyCode::Char('L'));
    assert_eq!(h.service.request(&reference).expect("request").records.len(), proposed);
    // An export before the identity is verified: refused, saying what to do,
    // with no dialog to fill in for nothing.
    let key = age::x25519::Identity::generate();
    h.key(KeyCode::Char('E'));
    assert!(
        h.app.error.as_deref().is_some_and(|e| e.contains("verify the requester's identity first (v)")),
        "{:?}",
        h.app.error
    );
    assert!(h.app.form.is_none());
    h.key(KeyCode::Char('v'));
    h.typed("replied from the email on file");
    h.key(KeyCode::Enter);
    assert_eq!(h.service.request(&reference).expect("request").verification.status, "verified");

    let file = h._tmp.path().join("answer.age");
    h.key(KeyCode::Char('E'));
    assert!(h.screen(100, 30).contains(&format!("Answer {reference}")), "{}", h.screen(100, 30));
    h.typed(&key.to_public().to_string());
    h.key(KeyCode::Enter);
    h.deliver(Event::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
    h.typed(file.to_str().expect("path"));
    h.key(KeyCode::Enter);
    assert!(h.app.form.is_none(), "the dialog closes: {:?}", h.app.error);
    assert!(h.app.notice.as_deref().is_some_and(|n| n.contains("completed")), "{:?}", h.app.notice);

    let v = h.service.request(&reference).expect("request");
    assert_eq!(v.status, Status::Completed);
    assert_eq!(v.answers, vec!["export answer.age".to_owned()]);
    // The file opens with the requester's key and holds the linked records.
    let bytes = std::fs::read(&file).expect("export file");
    let plain = age::decrypt(&key, &bytes).expect("decrypts with the recipient's key");
    let doc: serde_json::Value = serde_json::from_slice(&plain).expect("json");
    assert_eq!(doc["subjects"].as_array().map(Vec::len), Some(proposed));
    // The queue on screen shows it completed (reloaded after the action).
    let shown = h.app.requests.list.clone().expect("queue");
    assert!(shown.iter().any(|x| x.reference == reference && x.status == Status::Completed));
}

#[test]
fn an_erasure_request_erases_every_near_duplicate_by_keyboard_and_drops_their_details() {
    use steward::model::request::{RequestKind, Status};
    let mut h = Harness::new();
    let reference = select_request(&mut h, RequestKind::Erasure);
    h.key(KeyCode::Enter);
    let ids: Vec<_> = h.app.requests.candidates().iter().filter(|c| c.proposed).map(|c| c.id).collect();
    assert_eq!(ids.len(), 3, "the demo's first erasure requester has three records");
    h.key(KeyCode::Char('L'));
    h.key(KeyCode::Char('v'));
    h.typed("ID document seen");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Char('x'));
    assert!(h.screen(100, 30).contains("3 record(s) and their record keys"), "{}", h.screen(100, 30));
    h.typed("erase");
    h.key(KeyCode::Enter);
    assert!(h.app.form.is_none(), "{:?}", h.app.error);
    for id in &ids {
        assert!(h.service.get(*id).is_err(), "{id} is erased");
    }
    let v = h.service.request(&reference).expect("request");
    assert_eq!(v.status, Status::Completed);
    assert!(v.answers[0].starts_with("rcpt-"));
    assert!(v.requester.email.is_none() && v.requester_erased.is_some());
    assert!(h.app.requests.candidates().is_empty(), "the erased records' details are not kept on screen");
    let screen = h.screen(100, 30);
    assert!(screen.contains("details erased"), "{screen}");
}

#[test]
fn extending_and_rejecting_by_keyboard_move_the_deadline_and_close_the_request() {
    use steward::model::request::{RequestKind, Status};
    let mut h = Harness::new();
    // Within its first month (an extension must be notified by then).
    let reference = select_where(&mut h, |v| {
        v.kind == RequestKind::Erasure
            && v.status == Status::New
            && v.extension_notice_by.is_some_and(|d| d > v.received + chrono::Days::new(20))
            && v.days_left > 7
    });
    let before = h.service.request(&reference).expect("request").due;
    h.key(KeyCode::Char('X'));
    h.typed("records spread over three systems");
    h.key(KeyCode::Enter);
    let v = h.service.request(&reference).expect("request");
    assert!(matches!(v.status, Status::Extended { .. }), "{:?} {:?}", v.status, h.app.error);
    assert!(v.due > before, "the deadline moved: {before} -> {}", v.due);
    h.key(KeyCode::Char('R'));
    h.typed("identity could not be verified");
    h.key(KeyCode::Enter);
    let v = h.service.request(&reference).expect("request");
    assert!(matches!(v.status, Status::Rejected { .. }), "{:?}", v.status);
    // It went to the end of the queue; the cursor is back on the most urgent.
    assert_eq!(h.app.requests.selected, 0);
    // Closed: nothing more can be done to it.
    let pos =
        h.app.requests.list.as_ref().and_then(|l| l.iter().position(|v| v.reference == reference)).expect("listed");
    for _ in 0..pos {
        h.key(KeyCode::Char('j'));
    }
    h.key(KeyCode::Char('c'));
    assert!(h.app.form.is_none());
    assert!(h.app.error.as_deref().is_some_and(|e| e.contains("nothing more to do")), "{:?}", h.app.error);
}

#[test]
fn a_note_by_keyboard_is_filed_and_shown_and_goes_with_the_requester() {
    use steward::model::request::RequestKind;
    let mut h = Harness::new();
    let reference = select_request(&mut h, RequestKind::Erasure);
    h.key(KeyCode::Enter);
    h.key(KeyCode::Char('a'));
    assert!(h.service.request(&reference).expect("request").acknowledged.is_some(), "{:?}", h.app.error);
    h.key(KeyCode::Char('n'));
    h.typed("called back, asked for the letter reference");
    h.key(KeyCode::Enter);
    let v = h.service.request(&reference).expect("request");
    assert_eq!(v.notes.len(), 1);
    assert!(v.notes[0].ends_with("called back, asked for the letter reference"), "{:?}", v.notes);
    assert!(h.screen(100, 30).contains("called back"), "{}", h.screen(100, 30));
    // Erased with the requester's details.
    h.key(KeyCode::Char('L'));
    h.key(KeyCode::Char('v'));
    h.typed("letter");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Char('x'));
    h.typed("erase");
    h.key(KeyCode::Enter);
    let v = h.service.request(&reference).expect("request");
    assert!(v.notes.iter().all(|n| !n.contains("called back")), "{:?}", v.notes);
}

/// Issue 14 (safety): in a terminal too small for a dialog, the dialog said
/// "Enlarge the terminal" but still took keys — a reason, Enter, Enter,
/// `erase`, Enter erased a record the user never saw. A dialog that is not
/// drawn whole takes no key but Esc and Ctrl-C; drawn again, it works.
#[test]
fn a_dialog_that_cannot_be_drawn_takes_no_keys() {
    let mut h = Harness::new();
    h.key(KeyCode::Char('2'));
    let victim = h.app.selected_record().expect("a record").id;
    h.key(KeyCode::Char('x'));
    for (w, ht) in [(40, 8), (20, 5), (100, 12)] {
        let screen = h.screen(w, ht);
        assert!(!screen.contains("Type erase to confirm"), "{w}x{ht} shows the whole dialog:\n{screen}");
        h.typed("customer asked");
        h.key(KeyCode::Enter);
        h.key(KeyCode::Enter);
        h.typed("erase");
        h.key(KeyCode::Enter);
        assert!(h.service.get(victim).is_ok(), "{w}x{ht}: erased unseen");
        assert!(h.app.form.is_some(), "{w}x{ht}: the dialog is still open");
    }
    // Seen whole, it works as before — and nothing typed unseen went in.
    let screen = h.screen(100, 30);
    assert!(screen.contains("Type erase to confirm"), "{screen}");
    assert!(!screen.contains("customer asked"), "keys typed unseen were dropped:\n{screen}");
    h.key(KeyCode::Esc);
    assert!(h.app.form.is_none());
    // Ctrl-C inside a dialog cancels it (and does not quit).
    h.key(KeyCode::Char('x'));
    h.screen(100, 30);
    h.deliver(Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
    assert!(h.app.form.is_none() && !h.app.quit);
}

/// Issue 14 (safety): the audit chain could not be verified while a
/// dashboard held the store (no key for it; a read-only session refuses).
/// Admins press `V` on the Audit screen; the check is recorded.
#[test]
fn an_admin_verifies_the_audit_chain_from_the_dashboard() {
    let mut h = Harness::new();
    h.key(KeyCode::Char('5'));
    h.key(KeyCode::Char('V'));
    let notice = h.app.notice.clone().unwrap_or_default();
    assert!(notice.contains("audit trail intact"), "{notice:?} / {:?}", h.app.error);
    let entries = h.service.audit_list(&Default::default()).expect("audit");
    assert_eq!(entries.last().map(|e| e.action.as_str()), Some("audit-verify"));
}

/// Issue 14's clean-up session, by keyboard only, on the demo store: one
/// remedy of every kind of finding the demo has — a bulk merge and its
/// undo, a merge, a field drop, a redaction, an invalid value cleared, a
/// re-verification list (decrypted with the reference `age`) and stale
/// records marked verified, consent recorded and processing restricted,
/// bot sign-ups erased after review, housekeeping — and after each, the
/// findings of that kind fall by exactly what the preview promised.
#[test]
fn a_whole_clean_up_session_by_keyboard_fixes_every_kind_as_promised() {
    use steward::findings::Kind;
    use steward::tui::forms::Form;
    let mut h = Harness::new();
    let count = |h: &Harness, k: Kind| h.app.report.as_ref().expect("report").summary().get(&k).copied().unwrap_or(0);
    // `f` until only `kind` is shown; the cursor on its header.
    let show = |h: &mut Harness, kind: Kind| {
        h.key(KeyCode::Char('3'));
        for _ in 0..12 {
            if h.app.findings.only == Some(kind) {
                return;
            }
            h.key(KeyCode::Char('f'));
        }
        panic!("no {kind:?} findings to show");
    };
    let promised = |h: &Harness| match &h.app.form {
        Some(Form::Remedy(f)) => f.promise.expect("the preview promises a count"),
        _ => panic!("no remedy dialog: {:?}\n{}", h.app.error, h.screen(100, 30)),
    };
    let applied = |h: &Harness, what: &str| {
        assert!(
            h.app.form.is_none(),
            "{what}: the dialog closes when applied ({:?})\n{}",
            h.app.error,
            h.screen(100, 30)
        );
        assert!(h.app.error.is_none(), "{what}: {:?}", h.app.error);
    };

    // Duplicates: merge everything above p 0.95, then undo it all.
    let dups = count(&h, Kind::Duplicate);
    let records = h.service.count();
    show(&mut h, Kind::Duplicate);
    h.key(KeyCode::Char('M'));
    h.key(KeyCode::Enter); // p 0.95 as offered: the clusters are listed
    let (kind, n) = promised(&h);
    assert_eq!(kind, Kind::Duplicate);
    assert!(n >= 50, "{n} clusters above 0.95");
    assert!(h.screen(100, 30).contains(&format!("{n} cluster(s) at or above p 0.95")), "{}", h.screen(100, 30));
    h.typed("clean-up: clear duplicates");
    h.key(KeyCode::Enter);
    applied(&h, "bulk merge");
    assert_eq!(count(&h, Kind::Duplicate), dups - n, "the bulk merge cleared what it promised");
    assert!(h.service.count() < records);
    h.key(KeyCode::Char('u'));
    assert_eq!(h.service.count(), records, "one undo reverts the batch: {:?}", h.app.error);
    assert_eq!(count(&h, Kind::Duplicate), dups);
    // And one cluster merged by hand.
    show(&mut h, Kind::Duplicate);
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('m'));
    h.key(KeyCode::Enter);
    h.typed("same customer");
    h.key(KeyCode::Enter);
    applied(&h, "merge");
    assert_eq!(count(&h, Kind::Duplicate), dups - 1);

    // Over-collected: drop the field of the first finding from every record flagged for it.
    let over = count(&h, Kind::Overcollected);
    // Removing a field or redacting a note is no sign of life from the
    // customer: it must not clear their other findings.
    let stale_before = count(&h, Kind::Stale);
    show(&mut h, Kind::Overcollected);
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('D'));
    let (_, n) = promised(&h);
    assert!(n > 10, "{n}");
    assert!(h.screen(100, 30).contains("is dropped from"), "{}", h.screen(100, 30));
    h.typed("serves no purpose");
    h.key(KeyCode::Enter);
    applied(&h, "drop field");
    assert_eq!(count(&h, Kind::Overcollected), over - n);

    // Personal data in free text: redact all of it, from the kind's header.
    let pii = count(&h, Kind::Pii);
    show(&mut h, Kind::Pii);
    h.key(KeyCode::Char('R'));
    let (_, n) = promised(&h);
    assert_eq!(n, pii, "from the header, every pii finding");
    assert!(h.screen(120, 40).contains(" → [") || h.screen(120, 40).contains("→ "), "{}", h.screen(120, 40));
    h.typed("card and bank numbers do not belong in notes");
    h.key(KeyCode::Enter);
    applied(&h, "redact");
    assert_eq!(count(&h, Kind::Pii), 0);
    assert_eq!(count(&h, Kind::Stale), stale_before, "a drop or a redaction cleared stale findings");

    // Invalid: clear one value.
    let invalid = count(&h, Kind::Invalid);
    show(&mut h, Kind::Invalid);
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('c'));
    let (_, n) = promised(&h);
    assert_eq!(n, 1);
    let stale_now = count(&h, Kind::Stale);
    h.typed("bounced");
    h.key(KeyCode::Enter);
    applied(&h, "clear");
    assert_eq!(count(&h, Kind::Invalid), invalid - 1);
    assert_eq!(count(&h, Kind::Stale), stale_now, "clearing a value confirms nothing");

    // Stale: the re-verification list of them all, then one confirmed by phone.
    let stale = count(&h, Kind::Stale);
    show(&mut h, Kind::Stale);
    let id = age::x25519::Identity::generate();
    let key_file = h._tmp.path().join("key.txt");
    std::fs::write(&key_file, secrecy::ExposeSecret::expose_secret(&id.to_string())).expect("key");
    let list = h._tmp.path().join("reverify.age");
    h.key(KeyCode::Char('L'));
    h.typed(&id.to_public().to_string());
    h.key(KeyCode::Enter);
    h.deliver(Event::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
    h.typed(list.to_str().expect("utf-8"));
    h.key(KeyCode::Enter);
    applied(&h, "re-verification list");
    assert!(h.app.notice.as_deref().is_some_and(|n| n.contains("customer(s) listed")), "{:?}", h.app.notice);
    if let Some(age) = common_age() {
        let o = std::process::Command::new(age).arg("-d").arg("-i").arg(&key_file).arg(&list).output().expect("age");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.starts_with("id,given_name,family_name,email,phone,"), "{text}");
        assert!(text.lines().count() > stale / 2, "the stale customers are listed");
    }
    assert_eq!(count(&h, Kind::Stale), stale, "a list changes nothing");
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('v'));
    let (_, n) = promised(&h);
    h.typed("call");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Enter);
    applied(&h, "verified");
    assert_eq!(count(&h, Kind::Stale), stale - n);
    // `u` undoes the last change only: a verification is not undone, and
    // the redaction before it is not undone instead.
    h.key(KeyCode::Char('u'));
    assert!(h.app.error.as_deref().is_some_and(|e| e.contains("nothing to undo")), "{:?}", h.app.error);
    assert_eq!(count(&h, Kind::Pii), 0, "the redaction stays");

    // Consent: recorded for one, processing restricted for another.
    let consent = count(&h, Kind::Consent);
    show(&mut h, Kind::Consent);
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('C'));
    let (_, n) = promised(&h);
    h.typed("web form, newsletter box");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Enter);
    applied(&h, "consent");
    assert_eq!(count(&h, Kind::Consent), consent - n);
    show(&mut h, Kind::Consent);
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('P'));
    let (_, n) = promised(&h);
    h.typed("customer objects to marketing");
    h.key(KeyCode::Enter);
    applied(&h, "restrict");
    assert_eq!(count(&h, Kind::Consent), consent - 1 - n);

    // Bot sign-ups: erased after review, from the kind's header.
    assert!(count(&h, Kind::Suspect) > 0);
    show(&mut h, Kind::Suspect);
    h.key(KeyCode::Char('x'));
    assert!(h.screen(100, 30).contains("This will erase"), "{}", h.screen(100, 30));
    h.typed("bot sign-ups");
    h.key(KeyCode::Tab);
    h.key(KeyCode::Tab);
    h.typed("erase");
    h.key(KeyCode::Enter);
    applied(&h, "erase suspects");
    assert_eq!(count(&h, Kind::Suspect), 0);

    // Expired: housekeeping.
    assert!(count(&h, Kind::Expired) > 0);
    h.key(KeyCode::Char('H'));
    h.typed("retention period expired");
    h.key(KeyCode::Tab);
    h.key(KeyCode::Tab);
    h.typed("erase");
    h.key(KeyCode::Enter);
    applied(&h, "housekeeping");
    assert_eq!(count(&h, Kind::Expired), 0);

    // Every change patched the findings; none needed a full scan.
    assert_eq!(h.full_scans, 0, "the findings were rescanned in full after a change");
    // What the session shows is what a fresh scan finds (per record).
    let shown = h.app.report.clone().expect("report");
    let records = h.service.records(&mut |_| {}).expect("records");
    let full = h.service.scan(&records, &|_| {}).expect("scan");
    let own = |r: &steward::findings::Report| {
        let mut v: Vec<String> = r
            .findings
            .iter()
            .filter(|f| !matches!(f.kind, Kind::Duplicate | Kind::Suspect))
            .map(|f| format!("{:?} {:?} {:?}", f.kind, f.records, f.field))
            .collect();
        v.sort();
        v
    };
    assert_eq!(own(&shown), own(&full), "the patched findings differ from a fresh scan's");
    // Everything is in the audit trail, intact.
    assert!(h.service.audit_verify().expect("verify").broken.is_none());
    let actions: Vec<String> =
        h.service.audit_list(&Default::default()).expect("audit").into_iter().map(|e| e.action).collect();
    for a in [
        "merge-bulk",
        "undo",
        "merge",
        "drop-field",
        "redact",
        "update",
        "reverify-list",
        "verified",
        "consent",
        "restrict",
        "erase",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} is audited: {actions:?}");
    }
}

fn common_age() -> Option<std::path::PathBuf> {
    let found =
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join("age")).find(|p| p.is_file()));
    if found.is_none() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "the reference `age` tool is required under CI=true");
        eprintln!("\n*** WARNING: the reference `age` tool is not installed; the list is NOT decrypted ***\n");
    }
    found
}

/// Issue 14: a stored erasure receipt can be shown again from the Audit
/// screen (Enter on the erasure's entry), to attach to the reply.
#[test]
fn the_receipt_of_an_erasure_is_shown_from_the_audit_screen() {
    let mut h = Harness::new();
    h.key(KeyCode::Char('2'));
    h.key(KeyCode::Char('x'));
    h.typed("customer asked");
    h.key(KeyCode::Tab);
    h.key(KeyCode::Tab);
    h.typed("erase");
    h.key(KeyCode::Enter);
    assert!(h.app.form.is_none(), "erased: {:?}", h.app.error);
    h.key(KeyCode::Char('5'));
    // Newest first: the rotation's entries, then the erasure.
    for _ in 0..10 {
        let action = h.app.audit.visible().get(h.app.audit.selected).map(|e| e.action.clone());
        if action.as_deref() == Some("erase") {
            break;
        }
        let offered = h.app.offers(steward::tui::actions::Action::ShowReceipt, steward::tui::actions::Mode::Audit);
        assert!(!offered, "offered only on an erasure");
        h.key(KeyCode::Char('j'));
    }
    let offered = h.app.offers(steward::tui::actions::Action::ShowReceipt, steward::tui::actions::Mode::Audit);
    assert!(offered, "offered on the erasure:\n{}", h.screen(120, 30));
    h.key(KeyCode::Enter);
    let screen = h.screen(120, 40);
    assert!(screen.contains("Receipt rcpt-"), "{screen}");
    assert!(screen.contains("\"records_erased\": 1"), "{screen}");
    h.key(KeyCode::Esc);
    assert!(h.app.form.is_none());
    h.key(KeyCode::Char('k'));
    h.key(KeyCode::Enter);
    assert!(h.app.error.as_deref().is_some_and(|e| e.contains("no receipt")), "{:?}", h.app.error);
    assert!(h.app.form.is_none());
}

/// A remedy's preview longer than the dialog scrolls (PgDn/PgUp); the
/// count on its first line stays.
#[test]
fn a_long_remedy_preview_scrolls() {
    let mut h = Harness::new();
    h.key(KeyCode::Char('3'));
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('M'));
    h.key(KeyCode::Enter);
    let first = h.screen(80, 24);
    assert!(first.contains("PgDn shows them"), "{first}");
    h.key(KeyCode::PageDown);
    let second = h.screen(80, 24);
    assert_ne!(first, second, "PgDn scrolls the preview");
    assert!(second.contains("cluster(s) at or above p 0.95"), "the count stays:\n{second}");
    h.key(KeyCode::PageUp);
    assert_eq!(h.screen(80, 24), first);
}

/// Review of issue 14: "not the same person" splits the cluster on the
/// screen at once (the kept scan did not know the decision).
#[test]
fn not_the_same_person_splits_the_cluster_on_screen() {
    use steward::findings::Kind;
    let mut h = Harness::new();
    h.key(KeyCode::Char('3'));
    let dups = h.app.report.as_ref().expect("report").summary()[&Kind::Duplicate];
    h.key(KeyCode::Char('n'));
    h.typed("a mother and her daughter");
    h.key(KeyCode::Enter);
    assert!(h.app.form.is_none(), "{:?}", h.app.error);
    let after = h.app.report.as_ref().expect("report").summary()[&Kind::Duplicate];
    assert!(after < dups, "the cluster is gone from the findings ({dups} → {after})");
}
