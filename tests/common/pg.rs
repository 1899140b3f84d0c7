//! A throwaway PostgreSQL server for integration tests.
//!
//! `Pg::start()` either uses the server named by `STEWARD_TEST_PG` (set by `.ci/run`, which starts one
//! cluster for the whole run through `.ci/pg-cluster`) or starts a private cluster in a temp dir.
//! Keep the two in step: superuser name, the `app` role and its password, the server settings.
//!
//! `STEWARD_TEST_PG` is `SOCKDIR:PORT:SUPERUSER`: a unix socket directory where the superuser logs
//! in without a password (trust), and the TCP port on 127.0.0.1 where role `app` logs in with
//! `Pg::APP_PASSWORD` (scram-sha-256).

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

/// Superuser of a private cluster (and of the one `.ci/pg-cluster` starts).
const SUPERUSER: &str = "steward_test";
/// Seconds `pg_ctl -w` waits for the server to accept connections.
const START_TIMEOUT_SECS: u32 = 60;

/// A running test server. Private cluster: stopped and deleted on drop. Shared server
/// (`STEWARD_TEST_PG`): left running; the databases this guard created are dropped.
pub struct Pg {
    sockdir: PathBuf,
    port: u16,
    superuser: String,
    psql: PathBuf,
    created: std::sync::Mutex<Vec<String>>,
    private: Option<Private>,
}

struct Private {
    pg_ctl: PathBuf,
    data: PathBuf,
    /// Runs the server binaries as `nobody` when we are root (initdb refuses root).
    as_nobody: Option<Vec<String>>,
    /// Last field: dropped after the server is stopped.
    _tmp: tempfile::TempDir,
}

impl Pg {
    /// Password of role `app` (LOGIN, owner of every database `create_db` makes), for `tcp_url`.
    /// `.ci/pg-cluster` uses the same one.
    pub const APP_PASSWORD: &'static str = "steward-test-app-pw";
    /// The login role for `tcp_url`.
    pub const APP_USER: &'static str = "app";

    /// The server from `STEWARD_TEST_PG`, or else a fresh private cluster (see `start_private`).
    pub fn start() -> Option<Pg> {
        match std::env::var("STEWARD_TEST_PG") {
            Ok(spec) if !spec.is_empty() => Some(Pg::shared(&spec)),
            _ => Pg::start_private(),
        }
    }

    /// Always starts a private cluster, even when `STEWARD_TEST_PG` is set. Returns None after a loud
    /// warning when the server binaries are missing, except under CI=true where it panics.
    pub fn start_private() -> Option<Pg> {
        let Some(bins) = find_binaries() else {
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!(
                    "PostgreSQL (initdb/pg_ctl/psql) not found on PATH or in /usr/lib/postgresql/*/bin, \
                     and CI=true: install postgresql (.ci/run does)"
                );
            }
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                loud(
                    "\n*** WARNING: PostgreSQL (initdb/pg_ctl) not found; the PostgreSQL tests were SKIPPED ***\n\
                     *** install postgresql (Debian: apt-get install postgresql) to run them          ***\n",
                );
            });
            return None;
        };
        Some(start_cluster(&bins))
    }

    fn shared(spec: &str) -> Pg {
        let mut parts = spec.rsplitn(3, ':');
        let (Some(superuser), Some(port), Some(sockdir)) = (parts.next(), parts.next(), parts.next()) else {
            panic!("STEWARD_TEST_PG must be SOCKDIR:PORT:SUPERUSER, got {spec:?}");
        };
        let port: u16 = port.parse().unwrap_or_else(|_| panic!("STEWARD_TEST_PG: bad port in {spec:?}"));
        let psql = find_binaries()
            .map(|b| b.psql)
            .or_else(|| which("psql"))
            .expect("STEWARD_TEST_PG is set but psql was not found");
        let pg = Pg {
            sockdir: PathBuf::from(sockdir),
            port,
            superuser: superuser.to_owned(),
            psql,
            created: std::sync::Mutex::new(Vec::new()),
            private: None,
        };
        let app = pg.psql("postgres", &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{}'", Pg::APP_USER));
        assert_eq!(app, "1", "STEWARD_TEST_PG server has no role {:?} (start it with .ci/pg-cluster)", Pg::APP_USER);
        pg
    }

    /// True when this is the shared `STEWARD_TEST_PG` server rather than a private cluster.
    pub fn is_shared(&self) -> bool {
        self.private.is_none()
    }

    /// Creates a fresh empty database owned by `app` and returns its actual name: `name` (lowercase
    /// letters, digits, `_`) plus a suffix unique to this process, so tests and test binaries can share
    /// one server. Pass the returned name to `url`, `tcp_url` and `psql`.
    #[must_use = "the database name has a unique suffix: use the returned name"]
    pub fn create_db(&self, name: &str) -> String {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        assert!(
            !name.is_empty()
                && name.len() <= 40
                && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "database name {name:?}: use 1-40 of [a-z0-9_]"
        );
        let db = format!("{name}_{}_{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        self.psql("postgres", &format!("CREATE DATABASE \"{db}\" OWNER \"{}\"", Pg::APP_USER));
        self.created.lock().expect("created-db list").push(db.clone());
        db
    }

    /// Superuser URL over the private unix socket, no password; both psql and the `postgres` crate take it:
    /// `postgresql:///DB?host=SOCKDIR&port=PORT&user=SUPERUSER`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql:///{}?host={}&port={}&user={}",
            encode(db),
            encode(&self.sockdir.to_string_lossy()),
            self.port,
            encode(&self.superuser)
        )
    }

    /// URL over TCP for role `app`, WITHOUT the password (the server requires it, scram-sha-256):
    /// `postgresql://app@127.0.0.1:PORT/DB`. Supply `Pg::APP_PASSWORD` separately (PGPASSWORD,
    /// `postgres::Config::password`), or use `tcp_url_with_password`.
    pub fn tcp_url(&self, db: &str) -> String {
        format!("postgresql://{}@127.0.0.1:{}/{}", Pg::APP_USER, self.port, encode(db))
    }

    /// `tcp_url` with `Pg::APP_PASSWORD` in it: `postgresql://app:PASSWORD@127.0.0.1:PORT/DB`.
    pub fn tcp_url_with_password(&self, db: &str) -> String {
        format!("postgresql://{}:{}@127.0.0.1:{}/{}", Pg::APP_USER, encode(Pg::APP_PASSWORD), self.port, encode(db))
    }

    /// Runs `sql` (one or more statements) through `psql -X -q -At -v ON_ERROR_STOP=1` as the superuser
    /// on `db`; returns stdout without its trailing newline. Panics with psql's stderr on failure.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let mut child = Command::new(&self.psql)
            .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-f", "-", "-d"])
            .arg(self.url(db))
            .env_remove("PGPASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run {}: {e}", self.psql.display()));
        child.stdin.take().expect("psql stdin").write_all(sql.as_bytes()).expect("write SQL to psql");
        let out = child.wait_with_output().expect("wait for psql");
        assert!(
            out.status.success(),
            "psql on {db} failed ({}):\n{}\nSQL: {sql}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
        if s.ends_with('\n') {
            s.pop();
        }
        s
    }

    /// TCP port on 127.0.0.1 (also the unix socket's port number).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The psql binary the helper uses.
    pub fn psql_bin(&self) -> &Path {
        &self.psql
    }

    /// The unix socket directory.
    pub fn socket_dir(&self) -> &Path {
        &self.sockdir
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        match &self.private {
            Some(p) => {
                let mut c = p.command(&p.pg_ctl);
                c.arg("-D").arg(&p.data).args(["stop", "-m", "immediate", "-w", "-t", "30"]);
                match c.output() {
                    Ok(o) if o.status.success() => {}
                    Ok(o) => {
                        loud(&format!("warning: pg_ctl stop failed: {}", String::from_utf8_lossy(&o.stderr).trim()))
                    }
                    Err(e) => loud(&format!("warning: pg_ctl stop: {e}")),
                }
                // The TempDir in `p` is removed when `self.private` is dropped, right after this.
            }
            None => {
                let dbs = std::mem::take(&mut *self.created.lock().unwrap_or_else(|e| e.into_inner()));
                for db in dbs {
                    let out = Command::new(&self.psql)
                        .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d"])
                        .arg(self.url("postgres"))
                        .arg("-c")
                        .arg(format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
                        .output();
                    match out {
                        Ok(o) if o.status.success() => {}
                        Ok(o) => loud(&format!(
                            "warning: could not drop test database {db}: {}",
                            String::from_utf8_lossy(&o.stderr).trim()
                        )),
                        Err(e) => loud(&format!("warning: could not drop test database {db}: {e}")),
                    }
                }
            }
        }
    }
}

impl Private {
    /// A command for a server binary, as `nobody` when we are root.
    fn command(&self, program: &Path) -> Command {
        command_as(self.as_nobody.as_deref(), program)
    }
}

fn command_as(prefix: Option<&[String]>, program: &Path) -> Command {
    let mut c = match prefix {
        Some(prefix) => {
            let mut c = Command::new(&prefix[0]);
            c.args(&prefix[1..]).arg(program);
            c
        }
        None => Command::new(program),
    };
    // Somewhere the unprivileged user can read: initdb/postgres look at the cwd.
    c.current_dir("/");
    c
}

struct Binaries {
    initdb: PathBuf,
    pg_ctl: PathBuf,
    psql: PathBuf,
}

/// initdb and pg_ctl from one directory: the first on PATH that has both, else the newest
/// /usr/lib/postgresql/N/bin (Debian keeps them off PATH). psql from that directory when it has
/// one (the real directory behind a symlinked initdb counts), else from PATH.
fn find_binaries() -> Option<Binaries> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if is_exe(&dir.join("initdb")) && is_exe(&dir.join("pg_ctl")) {
                dirs.push(dir);
            }
        }
    }
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path().join("bin")))
        })
        .collect();
    debian.sort();
    dirs.extend(debian.into_iter().rev().map(|(_, d)| d));
    let dir = dirs.into_iter().find(|d| is_exe(&d.join("initdb")) && is_exe(&d.join("pg_ctl")))?;
    let real = std::fs::canonicalize(dir.join("initdb")).ok().and_then(|p| p.parent().map(Path::to_path_buf));
    let psql = [Some(dir.clone()), real]
        .into_iter()
        .flatten()
        .map(|d| d.join("psql"))
        .find(|p| is_exe(p))
        .or_else(|| which("psql"))?;
    Some(Binaries { initdb: dir.join("initdb"), pg_ctl: dir.join("pg_ctl"), psql })
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| is_exe(p))
}

fn is_exe(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `runuser -u nobody --` (or setpriv) when we are root; None otherwise.
fn unprivileged_prefix() -> Option<Vec<String>> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let v = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    if let Some(runuser) = which("runuser").or_else(|| Some(PathBuf::from("/usr/sbin/runuser")).filter(|p| is_exe(p))) {
        let mut p = vec![runuser.to_string_lossy().into_owned()];
        p.extend(v(&["-u", "nobody", "--"]));
        return Some(p);
    }
    let setpriv = which("setpriv").expect("running as root: need runuser or setpriv to start PostgreSQL as nobody");
    let mut p = vec![setpriv.to_string_lossy().into_owned()];
    p.extend(v(&["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]));
    Some(p)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("find a free TCP port").port()
}

fn start_cluster(bins: &Binaries) -> Pg {
    let started = Instant::now();
    let as_nobody = unprivileged_prefix();
    // As root the cluster belongs to `nobody`, which must reach it: /tmp, not a private $TMPDIR.
    // Unix socket paths are limited to ~100 bytes, another reason to stay short.
    let tmp = if as_nobody.is_some() || std::env::temp_dir().as_os_str().len() > 60 {
        tempfile::Builder::new().prefix("steward-pg.").tempdir_in("/tmp")
    } else {
        tempfile::Builder::new().prefix("steward-pg.").tempdir()
    }
    .expect("create temp dir for PostgreSQL");
    let data = tmp.path().join("data");
    let sockdir = tmp.path().join("sock");
    let log = tmp.path().join("server.log");
    std::fs::create_dir(&sockdir).expect("create socket dir");
    if as_nobody.is_some() {
        let user = nix::unistd::User::from_name("nobody").ok().flatten().expect("user nobody");
        for p in [tmp.path(), &sockdir] {
            std::os::unix::fs::chown(p, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .unwrap_or_else(|e| panic!("chown {} to nobody: {e}", p.display()));
        }
    }

    let out = command_as(as_nobody.as_deref(), &bins.initdb)
        .arg("-D")
        .arg(&data)
        .args(["-U", SUPERUSER, "--auth-local=trust", "--auth-host=scram-sha-256"])
        .args(["--no-sync", "-E", "UTF8", "--locale=C", "--no-instructions"])
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bins.initdb.display()));
    assert!(
        out.status.success(),
        "initdb failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let mut conf = String::from("\n# steward test cluster\n");
    for (k, v) in [
        ("listen_addresses", "127.0.0.1".to_owned()),
        ("unix_socket_directories", sockdir.to_string_lossy().replace('\'', "''")),
        ("fsync", "off".to_owned()),
        ("synchronous_commit", "off".to_owned()),
        ("full_page_writes", "off".to_owned()),
    ] {
        writeln!(conf, "{k} = '{v}'").expect("format postgresql.conf");
    }
    std::fs::OpenOptions::new()
        .append(true)
        .open(data.join("postgresql.conf"))
        .and_then(|mut f| f.write_all(conf.as_bytes()))
        .expect("append to postgresql.conf");

    // The free port can be taken between our probe and the server's bind: try a few.
    let mut port = 0;
    for attempt in 1..=3 {
        port = free_port();
        let out = command_as(as_nobody.as_deref(), &bins.pg_ctl)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-o", &format!("-p {port}"), "-w", "-t", &START_TIMEOUT_SECS.to_string(), "start"])
            .stdout(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", bins.pg_ctl.display()));
        if out.status.success() {
            break;
        }
        let server_log = std::fs::read_to_string(&log).unwrap_or_default();
        if attempt < 3 && server_log.contains("could not bind") {
            continue;
        }
        // Do not leave a half-started server behind.
        let _ = command_as(as_nobody.as_deref(), &bins.pg_ctl)
            .arg("-D")
            .arg(&data)
            .args(["stop", "-m", "immediate", "-w"])
            .output();
        panic!(
            "PostgreSQL did not start on port {port} within {START_TIMEOUT_SECS}s: {}\n--- server log ---\n{server_log}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }

    let pg = Pg {
        sockdir,
        port,
        superuser: SUPERUSER.to_owned(),
        psql: bins.psql.clone(),
        created: std::sync::Mutex::new(Vec::new()),
        private: Some(Private { pg_ctl: bins.pg_ctl.clone(), data, as_nobody, _tmp: tmp }),
    };
    pg.psql("postgres", &format!("CREATE ROLE \"{}\" LOGIN PASSWORD '{}'", Pg::APP_USER, Pg::APP_PASSWORD));
    if std::env::var_os("STEWARD_TEST_PG_VERBOSE").is_some() {
        loud(&format!("test PostgreSQL cluster on port {port} ready in {:?}", started.elapsed()));
    }
    pg
}

/// Straight to stderr, past the test harness's output capture (which only catches `eprintln!`).
fn loud(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

/// Percent-encodes everything but unreserved characters and `/` (for URL query values and paths).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            write!(out, "%{b:02X}").expect("format");
        }
    }
    out
}
