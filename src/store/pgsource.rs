//! A PostgreSQL table as a source: read its rows, apply steps to them.
//!
//! The one place steward talks to a source database. Everything is read and
//! written as text (`col::text`, `($1::text)::type`), in transactions: a read
//! is one REPEATABLE READ snapshot; a batch of steps is one transaction in
//! which each row is locked (`FOR UPDATE`), checked against what steward
//! expects it to hold, and changed — or refused, when it was changed in the
//! source meanwhile. Passwords come from `PGPASSWORD` or the libpq password
//! file (`PGPASSFILE`, else `~/.pgpass`), never from the URL. Error messages
//! carry the server's message, never its DETAIL (which can quote values).

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;

use postgres::config::Host;
use postgres::{Client, Config, NoTls};

/// Everything that can go wrong with a source database; one line, no values.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Url(String),
    #[error("could not connect to the source database: {0}")]
    Connect(String),
    #[error("the source database refused: {0}")]
    Db(String),
    #[error("{0}")]
    Schema(String),
}

fn db_err(e: postgres::Error) -> SourceError {
    SourceError::Db(describe(&e))
}

/// A database error in words that hold no value: the server's message only
/// for classes whose messages name objects, never data (a type error quotes
/// the value it could not read); else the condition's name, with the
/// constraint or column it concerns and the SQLSTATE.
pub fn describe(e: &postgres::Error) -> String {
    let Some(d) = e.as_db_error() else {
        return crate::model::text::sanitize(e.to_string().lines().next().unwrap_or("connection lost"));
    };
    let code = d.code().code();
    let words = match code.get(..2).unwrap_or("") {
        "08" | "0A" | "25" | "28" | "3D" | "3F" | "40" | "42" | "53" | "54" | "55" | "57" => d.message().to_owned(),
        _ => match code {
            "23505" => "unique violation".to_owned(),
            "23514" => "check constraint violation".to_owned(),
            "23502" => "not-null violation".to_owned(),
            "23503" => "foreign key violation".to_owned(),
            "22P02" => "a value is not valid for the column's type".to_owned(),
            "22001" => "a value is too long for the column".to_owned(),
            "22003" => "a number is out of range for the column".to_owned(),
            "22007" | "22008" => "a date or time is not valid for the column".to_owned(),
            _ => "the statement was refused".to_owned(),
        },
    };
    let mut out = words;
    if let Some(c) = d.constraint() {
        out.push_str(&format!(", constraint {c}"));
    }
    if let Some(c) = d.column() {
        out.push_str(&format!(", column {c}"));
    }
    crate::model::text::sanitize(&format!("{out} (SQLSTATE {code})"))
}

/// Checks a connection URL: parseable, and without a password.
pub fn check_url(url: &str) -> Result<Config, SourceError> {
    let config =
        Config::from_str(url).map_err(|e| SourceError::Url(format!("not a PostgreSQL connection URL: {e}")))?;
    if config.get_password().is_some() {
        return Err(SourceError::Url(
            "the URL holds a password: leave it out and set PGPASSWORD or a ~/.pgpass line instead (steward never \
             stores a password)"
                .into(),
        ));
    }
    // This version speaks to the database without TLS: customer data must
    // not cross a network in clear text unless the admin says so.
    let remote = config.get_hosts().iter().any(|h| match h {
        Host::Tcp(name) => !matches!(name.as_str(), "localhost" | "127.0.0.1" | "::1" | "[::1]"),
        _ => false,
    });
    let tunnel = "reach the database through a Unix socket, localhost, or an SSH tunnel (`ssh -N -L \
                  5433:localhost:5432 HOST`, then @localhost:5433)";
    match config.get_ssl_mode() {
        postgres::config::SslMode::Require => {
            return Err(SourceError::Url(format!("steward cannot encrypt the connection (no TLS yet): {tunnel}")));
        }
        postgres::config::SslMode::Disable => {}
        _ if remote => {
            return Err(SourceError::Url(format!(
                "the connection to a remote host would not be encrypted (steward has no TLS yet): {tunnel}; or, on \
                 a network you trust, add sslmode=disable to the URL"
            )));
        }
        _ => {}
    }
    Ok(config)
}

/// Connects to `url` (checked by [`check_url`]; the password from the
/// environment or the password file) as application `app`.
pub fn connect(url: &str, app: &str) -> Result<Client, SourceError> {
    let mut config = check_url(url)?;
    if let Some(p) = password(&config) {
        config.password(p);
    }
    config.application_name(app);
    config.connect_timeout(std::time::Duration::from_secs(10));
    config.connect(NoTls).map_err(|e| SourceError::Connect(describe(&e)))
}

/// A password for `config` from `PGPASSWORD` or the password file.
fn password(config: &Config) -> Option<String> {
    if let Ok(p) = std::env::var("PGPASSWORD") {
        return Some(p);
    }
    let path =
        std::env::var_os("PGPASSFILE").map(PathBuf::from).or_else(|| dirs::home_dir().map(|h| h.join(".pgpass")))?;
    // libpq ignores a password file others can read; so do we.
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(&path).ok()?;
    if meta.permissions().mode() & 0o077 != 0 {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        _ => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432).to_string();
    let user = config.get_user().map(str::to_owned).unwrap_or_else(|| std::env::var("USER").unwrap_or_default());
    let db = config.get_dbname().map(str::to_owned).unwrap_or_else(|| user.clone());
    pgpass_lookup(&text, [&host, &port, &db, &user])
}

/// The password of the first matching `host:port:db:user:password` line.
pub fn pgpass_lookup(text: &str, want: [&str; 4]) -> Option<String> {
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = Vec::with_capacity(5);
        let mut cur = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => cur.extend(chars.next()),
                ':' if fields.len() < 4 => fields.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        fields.push(cur);
        if fields.len() == 5 && fields[..4].iter().zip(want).all(|(f, w)| f == "*" || f == w) {
            return fields.pop();
        }
    }
    None
}

/// A quoted identifier; `schema.table` is quoted part by part.
pub fn ident(name: &str) -> String {
    name.split('.').map(|p| format!("\"{}\"", p.replace('"', "\"\""))).collect::<Vec<_>>().join(".")
}

/// How far behind "now" an incremental sync's cursor stays (see [`SourceDb::read`]).
pub const LAG_SECONDS: u32 = 60;

/// Compares a column's value as held with the one expected.
pub type Same<'a> = dyn Fn(&str, Option<&str>, Option<&str>) -> bool + 'a;

/// An open source table.
pub struct SourceDb {
    client: Client,
    table: String,
    id: String,
    /// Column → its type as the catalogue spells it.
    types: HashMap<String, String>,
    /// Columns that may hold NULL.
    nullable: Vec<String>,
    /// The table's identity: database name and table oid.
    identity: String,
}

/// Rows read: the id first, then the columns asked for, as text.
pub struct TableRead {
    pub rows: Vec<Vec<Option<String>>>,
    /// The highest update-column value read.
    pub cursor: Option<String>,
}

/// What to do to one row, and what it must hold first.
#[derive(Clone, Debug)]
pub struct Step {
    pub id: String,
    /// Columns that must hold these values (else the step is refused).
    pub check: Vec<(String, Option<String>)>,
    /// If the row already holds these, the step was applied before.
    pub already: Vec<(String, Option<String>)>,
    pub action: Action,
}

#[derive(Clone, Debug)]
pub enum Action {
    Delete,
    Set(Vec<(String, Option<String>)>),
}

/// What became of a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done now (`true`) or found done already (`false`).
    Applied(bool),
    /// Not done: why (no values).
    Refused(String),
}

impl SourceDb {
    /// Connects and checks that the table and the columns exist.
    pub fn open(url: &str, table: &str, id: &str, columns: &[String]) -> Result<SourceDb, SourceError> {
        let mut client = connect(url, "steward")?;
        client.batch_execute("SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'").map_err(db_err)?;
        let rows = client
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, \
                 current_database()::text || '/' || a.attrelid::oid::text FROM pg_attribute a \
                 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
                &[&ident(table)],
            )
            .map_err(db_err)?;
        if rows.is_empty() {
            return Err(SourceError::Schema(format!("there is no table {table} (or it has no columns)")));
        }
        let types: HashMap<String, String> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let nullable: Vec<String> = rows.iter().filter(|r| r.get::<_, bool>(2)).map(|r| r.get(0)).collect();
        let identity: String = rows[0].get(3);
        for c in std::iter::once(&id.to_owned()).chain(columns) {
            if !types.contains_key(c) {
                return Err(SourceError::Schema(format!("table {table} has no column {c}")));
            }
        }
        Ok(SourceDb { client, table: ident(table), id: id.to_owned(), types, nullable, identity })
    }

    /// Every column of the table, in no order.
    pub fn columns(&self) -> Vec<String> {
        self.types.keys().cloned().collect()
    }

    /// The columns that may hold NULL.
    pub fn nullable(&self) -> &[String] {
        &self.nullable
    }

    /// Which table this is (database and oid): a table dropped and made
    /// again, or another database behind the same URL, has another.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The type of `col` as the catalogue spells it.
    pub fn type_of(&self, col: &str) -> Option<&str> {
        self.types.get(col).map(String::as_str)
    }

    /// `col` as text; timestamps in RFC 3339 (what the importer reads).
    fn as_text(&self, col: &str) -> String {
        match self.types.get(col).map(String::as_str) {
            Some(t) if t.starts_with("timestamp") => format!("to_json({})#>>'{{}}'", ident(col)),
            _ => format!("{}::text", ident(col)),
        }
    }

    fn cast(&self, col: &str) -> Result<&str, SourceError> {
        self.types.get(col).map(String::as_str).ok_or_else(|| SourceError::Schema(format!("no column {col}")))
    }

    /// Reads the id and `columns` of every row — or, with `updated` and a
    /// cursor, of the rows whose update column is after it — in one
    /// snapshot; rows whose `unless_set` column holds a value (merged
    /// away and repointed) are left out.
    pub fn read(
        &mut self,
        columns: &[String],
        updated: Option<&str>,
        since: Option<&str>,
        unless_set: Option<&str>,
    ) -> Result<TableRead, SourceError> {
        let mut select: Vec<String> = std::iter::once(&self.id).chain(columns).map(|c| self.as_text(c)).collect();
        if let Some(u) = updated {
            select.push(format!("{}::text", ident(u)));
        }
        let mut sql = format!("SELECT {} FROM {}", select.join(", "), self.table);
        let mut wheres = Vec::new();
        let filter = match (updated, since) {
            (Some(u), Some(s)) => {
                wheres.push(format!("{} > ($1::text)::{}", ident(u), self.cast(u)?));
                Some(s.to_owned())
            }
            _ => None,
        };
        if let Some(c) = unless_set {
            wheres.push(format!("{} IS NULL", ident(c)));
        }
        if !wheres.is_empty() {
            sql.push_str(&format!(" WHERE {}", wheres.join(" AND ")));
        }
        let types = self.types.clone();
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(db_err)?;
        let result = match &filter {
            Some(s) => tx.query(&sql, &[s]),
            None => tx.query(&sql, &[]),
        }
        .map_err(db_err)?;
        // The next sync reads rows changed after the cursor. A row written
        // by a transaction that commits after this snapshot may carry an
        // earlier time: for a time column the cursor stays a few seconds
        // behind now, so such rows are read (again) next time.
        let cursor = match updated {
            Some(u) => {
                let t = types.get(u).cloned().unwrap_or_default();
                let sql = if t.starts_with("timestamp") {
                    format!(
                        "SELECT LEAST(max({c}), (transaction_timestamp() - interval '{LAG_SECONDS} seconds')::{t})::text \
                         FROM {table}",
                        c = ident(u),
                        table = self.table
                    )
                } else {
                    format!("SELECT max({})::text FROM {}", ident(u), self.table)
                };
                tx.query_one(&sql, &[]).map_err(db_err)?.get::<_, Option<String>>(0)
            }
            None => None,
        };
        tx.commit().map_err(db_err)?;
        let width = 1 + columns.len();
        let rows = result.iter().map(|r| (0..width).map(|i| r.get::<_, Option<String>>(i)).collect()).collect();
        Ok(TableRead { rows, cursor })
    }

    /// Applies `steps` in one transaction; `same(column, held, expected)`
    /// compares values. With `dry_run` the transaction is rolled back. A
    /// step the database refuses (a constraint, a type) is retried alone:
    /// the batch is run again with a savepoint per step, and only that step
    /// is refused. An error of the connection fails the batch.
    pub fn apply(&mut self, steps: &[Step], same: &Same, dry_run: bool) -> Result<Vec<Outcome>, SourceError> {
        match self.apply_with(steps, same, dry_run, false) {
            Err(SourceError::Db(_)) if !self.client.is_closed() => self.apply_with(steps, same, dry_run, true),
            r => r,
        }
    }

    fn apply_with(
        &mut self,
        steps: &[Step],
        same: &Same,
        dry_run: bool,
        careful: bool,
    ) -> Result<Vec<Outcome>, SourceError> {
        let id_type = self.cast(&self.id)?.to_owned();
        let mut casts = HashMap::new();
        for s in steps {
            for (c, _) in s.check.iter().chain(&s.already).chain(match &s.action {
                Action::Set(v) => v.as_slice(),
                Action::Delete => &[],
            }) {
                casts.insert(c.clone(), self.cast(c)?.to_owned());
            }
        }
        let id_col = ident(&self.id);
        let delete = self
            .client
            .prepare(&format!("DELETE FROM {} WHERE {id_col} = ($1::text)::{id_type}", self.table))
            .map_err(db_err)?;
        let sql = Sql { table: self.table.clone(), id_col, id_type, casts, delete };
        let mut tx = self.client.transaction().map_err(db_err)?;
        let mut out = Vec::with_capacity(steps.len());
        // Each statement's text is prepared once per batch (a round trip saved per step).
        let mut prepared: HashMap<String, postgres::Statement> = HashMap::new();
        for s in steps {
            let outcome = if careful {
                let mut sp = tx.savepoint("step").map_err(db_err)?;
                match sql.step(&mut sp, s, same, &mut prepared) {
                    Ok(o) => {
                        sp.commit().map_err(db_err)?;
                        o
                    }
                    Err(e) if e.as_db_error().is_some() => {
                        drop(sp);
                        Outcome::Refused(format!("the database refused it: {}", describe(&e)))
                    }
                    Err(e) => return Err(db_err(e)),
                }
            } else {
                sql.step(&mut tx, s, same, &mut prepared).map_err(db_err)?
            };
            out.push(outcome);
        }
        if dry_run {
            tx.rollback().map_err(db_err)?;
        } else {
            tx.commit().map_err(db_err)?;
        }
        Ok(out)
    }
}

/// What the statements of a batch need to know about the table.
struct Sql {
    table: String,
    id_col: String,
    id_type: String,
    casts: HashMap<String, String>,
    delete: postgres::Statement,
}

impl Sql {
    /// One step: lock and read the row, check it, change it.
    fn step(
        &self,
        tx: &mut postgres::Transaction<'_>,
        s: &Step,
        same: &Same,
        prepared: &mut HashMap<String, postgres::Statement>,
    ) -> Result<Outcome, postgres::Error> {
        let mut statement =
            |tx: &mut postgres::Transaction<'_>, sql: String| -> Result<postgres::Statement, postgres::Error> {
                if let Some(st) = prepared.get(&sql) {
                    return Ok(st.clone());
                }
                let st = tx.prepare(&sql)?;
                prepared.insert(sql, st.clone());
                Ok(st)
            };
        let Sql { table, id_col, id_type, casts, delete } = self;
        let cols: Vec<&String> = {
            let mut v: Vec<&String> = s.check.iter().chain(&s.already).map(|(c, _)| c).collect();
            v.sort();
            v.dedup();
            v
        };
        let select = if cols.is_empty() {
            format!("SELECT 1 FROM {table} WHERE {id_col} = ($1::text)::{id_type} FOR UPDATE")
        } else {
            let list: Vec<String> = cols.iter().map(|c| format!("{}::text", ident(c))).collect();
            format!("SELECT {} FROM {table} WHERE {id_col} = ($1::text)::{id_type} FOR UPDATE", list.join(", "))
        };
        let select = statement(tx, select)?;
        let Some(row) = tx.query_opt(&select, &[&s.id])? else {
            return Ok(match s.action {
                Action::Delete => Outcome::Applied(false),
                Action::Set(_) => Outcome::Refused("the row is no longer in the table".into()),
            });
        };
        let held: HashMap<&str, Option<String>> =
            cols.iter().enumerate().map(|(i, c)| (c.as_str(), row.get::<_, Option<String>>(i))).collect();
        let holds = |want: &[(String, Option<String>)]| {
            want.iter().all(|(c, v)| same(c, held.get(c.as_str()).cloned().flatten().as_deref(), v.as_deref()))
        };
        if !s.already.is_empty() && holds(&s.already) {
            return Ok(Outcome::Applied(false));
        }
        if let Some((c, _)) =
            s.check.iter().find(|(c, v)| !same(c, held.get(c.as_str()).cloned().flatten().as_deref(), v.as_deref()))
        {
            return Ok(Outcome::Refused(format!("{c} changed in the source since steward read it")));
        }
        match &s.action {
            Action::Delete => {
                tx.execute(delete, &[&s.id])?;
            }
            Action::Set(values) => {
                let sets: Vec<String> = values
                    .iter()
                    .enumerate()
                    .map(|(i, (c, _))| {
                        format!("{} = (${}::text)::{}", ident(c), i + 2, casts.get(c).map_or("text", String::as_str))
                    })
                    .collect();
                let sql = format!("UPDATE {table} SET {} WHERE {id_col} = ($1::text)::{id_type}", sets.join(", "));
                let sql = statement(tx, sql)?;
                let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&s.id];
                params.extend(values.iter().map(|(_, v)| v as &(dyn postgres::types::ToSql + Sync)));
                tx.execute(&sql, &params)?;
            }
        }
        Ok(Outcome::Applied(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgpass_lines_match_with_wildcards_and_escapes() {
        let text = "# comment\nother:5432:db:u:nope\n*:5432:shop:app:s\\:ecret\n";
        assert_eq!(pgpass_lookup(text, ["localhost", "5432", "shop", "app"]).as_deref(), Some("s:ecret"));
        assert_eq!(pgpass_lookup(text, ["localhost", "5433", "shop", "app"]), None);
    }

    #[test]
    fn urls_with_a_password_are_refused_and_identifiers_quoted() {
        assert!(check_url("postgresql://app:secret@localhost/shop").is_err());
        assert!(check_url("postgresql://app@localhost/shop").is_ok());
        assert!(check_url("postgresql:///shop?host=/run/postgresql").is_ok());
        // No TLS: a remote host needs the admin's explicit sslmode=disable.
        assert!(check_url("postgresql://app@db.internal/shop").is_err());
        assert!(check_url("postgresql://app@db.internal/shop?sslmode=disable").is_ok());
        assert!(check_url("postgresql://app@localhost/shop?sslmode=require").is_err());
        assert_eq!(ident("crm.cust\"omers"), "\"crm\".\"cust\"\"omers\"");
    }
}
