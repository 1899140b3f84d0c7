//! The interactive dashboard (ratatui + crossterm).
//!
//! `app` holds state and turns keys into effects; `ui`, `screens`, `popups`
//! draw it; `terminal` owns the terminal; this module runs the loop: an input
//! thread, a loader thread (decrypting records after unlock) and a worker
//! thread (search, sort) and an action thread (service calls that change or
//! hand out data, see [`jobs`]) post events on one channel, and the UI
//! thread only updates state and draws. Business rules stay in the service.

pub mod actions;
pub mod app;
pub mod forms;
pub mod jobs;
pub mod login;
pub mod popups;
pub mod screens;
pub mod terminal;
pub mod theme;
pub mod ui;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use app::{App, Data, Effect, Event, SessionInfo};
use theme::Theme;

use crate::service::Service;

/// Runs the dashboard until the user quits.
pub fn run(service: Arc<Service>, theme: Theme, demo: bool, idle_lock: Option<u64>) -> std::io::Result<()> {
    let session = service.session().clone();
    let info = SessionInfo {
        store: service.store_location().to_string(),
        user: crate::model::text::sanitize(&session.user),
        role: session.role.name().to_owned(),
        size_on_disk: service.size_on_disk(),
        demo,
        read_only: service.read_only().map(|t| t.format("%H:%M UTC").to_string()),
        idle_lock,
    };
    let mut app = App::new(info, theme);
    let (tx, rx) = mpsc::channel::<Event>();

    let rescanner = Arc::new(std::sync::Mutex::new(jobs::Rescanner::default()));
    spawn_loader(service.clone(), tx.clone(), rescanner.clone());
    spawn_watch(service.clone(), tx.clone(), rescanner.clone());
    if service.read_only().is_some() {
        spawn_snapshot_watch(service.clone(), tx.clone());
    }

    // Worker: searches and sorts. A newer search bumps `generation`, which
    // makes the running one give up between chunks.
    let generation = Arc::new(AtomicU64::new(0));
    let (jobs_tx, jobs_rx) = mpsc::channel::<(Arc<Data>, Effect)>();
    {
        let tx = tx.clone();
        let generation = generation.clone();
        std::thread::spawn(move || {
            while let Ok(mut job) = jobs_rx.recv() {
                // Only the newest queued search matters.
                while let Ok(next) = jobs_rx.try_recv() {
                    job = next;
                }
                let (data, effect) = job;
                if let Some(ev) = app::run_effect(&data, effect, &generation)
                    && tx.send(ev).is_err()
                {
                    break;
                }
            }
        });
    }

    // Actions: service calls (which audit and commit), one at a time; after
    // a change, the changed records are re-read and rescanned here too (see
    // `jobs::patched`). The read-only snapshot each change withdraws is
    // published again once the store has been quiet for a while.
    let quiet = Arc::new(std::sync::Mutex::new(None::<std::time::Instant>));
    let (act_tx, act_rx) = mpsc::channel::<(app::Job, Option<Arc<Data>>)>();
    {
        let tx = tx.clone();
        let service = service.clone();
        let rescanner = rescanner.clone();
        let quiet = quiet.clone();
        std::thread::spawn(move || {
            while let Ok((job, data)) = act_rx.recv() {
                let busy = |msg: String| {
                    let _ = tx.send(Event::Busy(msg));
                };
                let events = jobs::run(&service, data.as_ref(), job, &busy, &rescanner);
                // The dashboard patches its own copy: let go of this one first.
                drop(data);
                for ev in events {
                    if matches!(ev, Event::Patched { .. })
                        && let Ok(mut q) = quiet.lock()
                    {
                        *q = Some(std::time::Instant::now());
                    }
                    if tx.send(ev).is_err() {
                        return;
                    }
                }
            }
        });
    }
    spawn_publisher(service.clone(), quiet);

    // Input: blocking reads on their own thread.
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            loop {
                // A tick a second when idle (the idle lock counts them).
                match crossterm::event::poll(Duration::from_secs(1)) {
                    Ok(false) => {
                        if tx.send(Event::Tick).is_err() {
                            break;
                        }
                        continue;
                    }
                    Ok(true) => {}
                    Err(_) => break,
                }
                match crossterm::event::read() {
                    Ok(crossterm::event::Event::Key(k)) => {
                        if tx.send(Event::Key(k)).is_err() {
                            break;
                        }
                    }
                    Ok(crossterm::event::Event::Resize(..)) => {
                        if tx.send(Event::Resize).is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
    }

    // SIGTERM, SIGHUP (the SSH line dropped) and SIGINT end the dashboard
    // the way `q` does: the terminal is given back and what the session
    // holds is dropped, instead of the process dying in raw mode.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGINT,
    ]) {
        let (tx, stop) = (tx.clone(), stop.clone());
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                stop.store(true, Ordering::SeqCst);
                let _ = tx.send(Event::Tick);
            }
        });
    }

    let mut guard = terminal::TerminalGuard::enter()?;
    guard.terminal.draw(|f| ui::draw(f, &app))?;
    while !app.quit {
        let Ok(first) = rx.recv() else { break };
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let mut events = vec![first];
        // Coalesce a burst (fast typing, progress) into one frame.
        while let Ok(ev) = rx.try_recv() {
            events.push(ev);
        }
        for ev in events {
            for effect in app.update(ev) {
                if let Effect::Job(job) = effect {
                    let _ = act_tx.send((job, app.data.clone()));
                    continue;
                }
                if let Effect::Reload = effect {
                    spawn_loader(service.clone(), tx.clone(), rescanner.clone());
                    continue;
                }
                if let Effect::Forget = effect {
                    if let Ok(mut r) = rescanner.lock() {
                        r.state = None;
                    }
                    continue;
                }
                if let Effect::Search { generation: g, .. } = &effect {
                    generation.store(*g, Ordering::Relaxed);
                }
                if let Some(data) = &app.data {
                    let _ = jobs_tx.send((data.clone(), effect));
                }
            }
            if app.quit {
                break;
            }
        }
        // Keep the in-flight search honest when the query was cleared.
        generation.store(app.search.generation, Ordering::Relaxed);
        if app.quit {
            break;
        }
        // The clocks on screen (a breach's 72 hours, request deadlines) run on.
        app.now = chrono::Utc::now();
        guard.terminal.draw(|f| ui::draw(f, &app))?;
    }
    drop(guard);
    Ok(())
}

/// Decrypts every record off the UI thread, reporting progress; then
/// publishes the read-only snapshot and runs the scan, whose state is kept
/// for the incremental rescans after each change.
/// On a store several sessions share: other sessions' changes as they are
/// announced (the records they name are read again; an import's, all of
/// them), and who else is working, every few seconds.
fn spawn_watch(service: Arc<Service>, tx: mpsc::Sender<Event>, rescanner: Arc<std::sync::Mutex<jobs::Rescanner>>) {
    let Ok(Some(mut watch)) = service.watch() else { return };
    std::thread::spawn(move || {
        let mut asked = std::time::Instant::now() - Duration::from_secs(60);
        loop {
            if asked.elapsed() >= Duration::from_secs(5) {
                asked = std::time::Instant::now();
                if tx.send(Event::Present(service.others())).is_err() {
                    return;
                }
            }
            match watch.wait(Duration::from_millis(500)) {
                Ok(changes) if changes.iter().any(|c| c.ids.is_none()) => {
                    spawn_loader(service.clone(), tx.clone(), rescanner.clone());
                }
                Ok(changes) if !changes.is_empty() => {
                    let ids = changes.into_iter().flat_map(|c| c.ids.unwrap_or_default()).collect();
                    if tx.send(Event::External(ids)).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                // The connection went: try again in a while.
                Err(_) => {
                    std::thread::sleep(Duration::from_secs(5));
                    match service.watch() {
                        Ok(Some(w)) => watch = w,
                        _ => continue,
                    }
                }
            }
        }
    });
}

fn spawn_loader(service: Arc<Service>, tx: mpsc::Sender<Event>, rescanner: Arc<std::sync::Mutex<jobs::Rescanner>>) {
    {
        std::thread::spawn(move || {
            let total = service.count();
            let _ = tx.send(Event::LoadProgress { done: 0, total });
            let mut last = std::time::Instant::now();
            let result = service.records_and_index(&mut |done| {
                if last.elapsed() > Duration::from_millis(50) {
                    last = std::time::Instant::now();
                    let _ = tx.send(Event::LoadProgress { done, total });
                }
            });
            let data = match result {
                Ok((records, index)) => Arc::new(Data::with_index(records, index, chrono::Utc::now())),
                Err(e) => {
                    let _ = tx.send(Event::LoadFailed(e.to_string()));
                    return;
                }
            };
            let _ = tx.send(Event::Loaded(data.clone()));
            for e in jobs::load_requests(&service) {
                let _ = tx.send(e);
            }
            // Other admins can browse a copy (`--read-only`) while we hold the store.
            if let Err(e) = service.publish_snapshot() {
                let _ = tx.send(Event::LoadFailed(format!("read-only snapshot not published: {e}")));
            }
            // Then the findings, in the background too.
            let progress = |stage: &str| {
                let _ = tx.send(Event::ScanProgress(stage.to_owned()));
            };
            let version = data.version;
            let records = &data.records;
            match service.scan_keeping(records, &progress) {
                Ok((report, mut state)) => {
                    let _ = tx.send(Event::ScannedAt(Arc::new(report), version));
                    drop(data);
                    // What the first rescan would build, built now.
                    state.prepare();
                    if let Ok(mut r) = rescanner.lock() {
                        r.keep(state, version);
                    }
                }
                Err(e) => {
                    let _ = tx.send(Event::LoadFailed(format!("scan failed: {e}")));
                }
            }
        });
    }
}

/// Publishes the read-only snapshot again once no change has been made for
/// a while (every change withdraws it; writing it takes the store's change
/// lock, so it is not done after every change).
fn spawn_publisher(service: Arc<Service>, quiet: Arc<std::sync::Mutex<Option<std::time::Instant>>>) {
    const QUIET: Duration = Duration::from_secs(10);
    if service.read_only().is_some() {
        return;
    }
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let due = match quiet.lock() {
                Ok(mut q) => match *q {
                    Some(t) if t.elapsed() >= QUIET => {
                        *q = None;
                        true
                    }
                    _ => false,
                },
                Err(_) => return,
            };
            if due {
                let _ = service.publish_snapshot();
            }
        }
    });
}

/// A read-only session ends once the holder replaces its snapshot: what it
/// shows may include records erased since (an erasure withdraws the
/// snapshot at once). The private copy is deleted there and then; the app
/// drops its data and offers only to quit.
fn spawn_snapshot_watch(service: Arc<Service>, tx: mpsc::Sender<Event>) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(500));
            if !service.read_only_current() {
                if let Some(copy) = service.read_only_copy() {
                    let _ = std::fs::remove_dir_all(copy);
                }
                let _ = tx
                    .send(Event::ReadOnlyEnded("the holder changed the store (an edit, a merge or an erasure)".into()));
                break;
            }
        }
    });
}
