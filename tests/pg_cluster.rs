//! Self-test of the throwaway PostgreSQL helper (tests/common/pg.rs).

mod common;

use std::process::Command;
use std::str::FromStr;

use common::pg::Pg;

/// psql as role `app` over TCP; `password` goes in PGPASSWORD. Returns (success, stdout, stderr).
fn psql_tcp(pg: &Pg, db: &str, password: Option<&str>, sql: &str) -> (bool, String, String) {
    let mut c = Command::new(pg.psql_bin());
    c.args(["-X", "-q", "-At", "-w", "-v", "ON_ERROR_STOP=1", "-c", sql, "-d"])
        .arg(pg.tcp_url(db))
        .env("PGPASSFILE", "/nonexistent/steward-test-pgpass")
        .env_remove("PGPASSWORD");
    if let Some(pw) = password {
        c.env("PGPASSWORD", pw);
    }
    let o = c.output().expect("run psql");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn psql_and_rust_client_share_a_database() {
    let Some(pg) = Pg::start() else { return };
    let db = pg.create_db("selftest");
    pg.psql(&db, "CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL); INSERT INTO t VALUES (1, 'one');");

    let mut client = postgres::Client::connect(&pg.url(&db), postgres::NoTls).expect("connect over the unix socket");
    let name: String = client.query_one("SELECT name FROM t WHERE id = 1", &[]).expect("select").get(0);
    assert_eq!(name, "one");
    client.execute("INSERT INTO t VALUES ($1, $2)", &[&2i32, &"two"]).expect("insert");
    drop(client);
    assert_eq!(pg.psql(&db, "SELECT id || ':' || name FROM t ORDER BY id"), "1:one\n2:two");

    // psql takes the same URL form.
    let o = Command::new(pg.psql_bin())
        .args(["-X", "-At", "-c", "SELECT count(*) FROM t", &pg.url(&db)])
        .output()
        .expect("psql");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "2");

    // Databases are unique per create_db call.
    let other = pg.create_db("selftest");
    assert_ne!(db, other);
    assert_eq!(pg.psql(&other, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "0");

    let shared = pg.is_shared();
    drop(pg);
    if shared {
        // A shared server stays up, but the databases the guard created are gone.
        let pg = Pg::start().expect("shared server");
        let left =
            pg.psql("postgres", &format!("SELECT count(*) FROM pg_database WHERE datname IN ('{db}', '{other}')"));
        assert_eq!(left, "0");
    }
}

#[test]
fn tcp_url_requires_the_app_password() {
    let Some(pg) = Pg::start() else { return };
    let db = pg.create_db("selftest_tcp");

    let (ok, out, err) = psql_tcp(&pg, &db, Some(Pg::APP_PASSWORD), "CREATE TABLE owned (x int); SELECT current_user");
    assert!(ok, "psql with the password failed: {err}");
    assert_eq!(out, "app");
    let (ok, _, err) = psql_tcp(&pg, &db, None, "SELECT 1");
    assert!(!ok && err.contains("password"), "psql without a password must fail, got: {err}");
    let (ok, _, err) = psql_tcp(&pg, &db, Some("wrong"), "SELECT 1");
    assert!(!ok && err.contains("password authentication failed"), "wrong password must fail, got: {err}");

    let mut config = postgres::Config::from_str(&pg.tcp_url(&db)).expect("parse tcp_url");
    assert!(config.connect(postgres::NoTls).is_err(), "the postgres crate connected without a password");
    let mut client = config.password(Pg::APP_PASSWORD).connect(postgres::NoTls).expect("connect with the password");
    let user: String = client.query_one("SELECT current_user::text", &[]).expect("select").get(0);
    assert_eq!(user, "app");
    let mut client =
        postgres::Client::connect(&pg.tcp_url_with_password(&db), postgres::NoTls).expect("url with password");
    client.batch_execute("INSERT INTO owned VALUES (1)").expect("app owns the database");
}

/// The private-cluster path, even where `.ci/run` provides a shared server.
#[test]
fn private_cluster_stops_and_cleans_up() {
    let Some(pg) = Pg::start_private() else { return };
    assert!(!pg.is_shared());
    let db = pg.create_db("private");
    assert_eq!(pg.psql(&db, "SHOW fsync"), "off");
    let port = pg.port();
    let sockdir = pg.socket_dir().to_path_buf();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    drop(pg);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "server still listening on {port}");
    let tmp = sockdir.parent().expect("temp dir");
    assert!(!tmp.exists(), "{} was not removed", tmp.display());
}
