//! The two engines under the store, behind one ordered key–value interface.
//!
//! - **sled**, embedded in the store directory (`db/`): one process holds
//!   it (see [`super::lock`]).
//! - **PostgreSQL**, for a store that several steward processes on any
//!   hosts share: the same keys and sealed values as rows of
//!   `steward_kv (k bytea primary key, v bytea)`, and what the directory
//!   holds beside the database (the key-slot file, the match index, failed
//!   logins) as rows of `steward_files (name, body)`. Nothing else is kept
//!   there: no plaintext value, no plaintext index, no key. Every batch is
//!   one transaction; writers serialise on a transaction-independent
//!   advisory lock held for the length of a change (the audit chain has one
//!   head, so changes are sequential anyway), which the server releases
//!   when a holder's connection dies.
//!
//! Callers see [`Db`] (get, scans in key order from either end, atomic
//! batches) and [`Home`] (the few whole files), never the engine.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

pub use sled::IVec;

use super::StoreError;
use super::pgsource;

/// The live table and the one a key rotation builds beside it.
pub(super) const PG_TABLE: &str = "steward_kv";
pub(super) const PG_TABLE_NEXT: &str = "steward_kv_next";
const PG_FILES: &str = "steward_files";
/// The advisory lock every writer of a PostgreSQL store holds ("steward\0").
const PG_WRITE_LOCK: i64 = 0x7374_6577_6172_6400;
/// How a session names itself in `pg_stat_activity` (see [`PgConn::announce`]).
const PRESENCE: &str = "steward: ";
/// The channel changes are announced on (see [`PgConn::notify`]).
pub const PG_CHANNEL: &str = "steward_changes";

/// An open database of either engine (cheap to clone).
#[derive(Clone)]
pub(crate) enum Db {
    Sled(sled::Db),
    Pg(PgKv),
}

/// A set of writes applied all together or not at all. The last write to a
/// key wins.
#[derive(Default)]
pub(crate) struct Batch {
    ops: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Batch {
    pub(crate) fn insert(&mut self, k: impl AsRef<[u8]>, v: impl AsRef<[u8]>) {
        self.ops.insert(k.as_ref().to_vec(), Some(v.as_ref().to_vec()));
    }

    pub(crate) fn remove(&mut self, k: impl AsRef<[u8]>) {
        self.ops.insert(k.as_ref().to_vec(), None);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

type Kv = (IVec, IVec);

impl Db {
    pub(crate) fn get(&self, k: impl AsRef<[u8]>) -> Result<Option<IVec>, StoreError> {
        match self {
            Db::Sled(db) => Ok(db.get(k)?),
            Db::Pg(pg) => pg.get(k.as_ref()),
        }
    }

    pub(crate) fn contains_key(&self, k: impl AsRef<[u8]>) -> Result<bool, StoreError> {
        Ok(self.get(k)?.is_some())
    }

    /// One write, applied and durable on return.
    pub(crate) fn insert(&self, k: impl AsRef<[u8]>, v: impl AsRef<[u8]>) -> Result<(), StoreError> {
        let mut b = Batch::default();
        b.insert(k, v);
        self.apply_batch(b)?;
        self.flush()
    }

    /// Every key starting with `prefix`, in order.
    pub(crate) fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Iter {
        let prefix = prefix.as_ref();
        match self {
            Db::Sled(db) => Iter::Sled(db.scan_prefix(prefix)),
            Db::Pg(pg) => {
                let hi = successor(prefix).map_or(Bound::Unbounded, Bound::Excluded);
                Iter::Pg(PgIter::new(pg.clone(), Bound::Included(prefix.to_vec()), hi))
            }
        }
    }

    /// Keys in `lo..=hi`.
    pub(crate) fn range_inclusive(&self, lo: &[u8], hi: &[u8]) -> Iter {
        match self {
            Db::Sled(db) => Iter::Sled(db.range(lo.to_vec()..=hi.to_vec())),
            Db::Pg(pg) => Iter::Pg(PgIter::new(pg.clone(), Bound::Included(lo.to_vec()), Bound::Included(hi.to_vec()))),
        }
    }

    /// Keys from `lo` on.
    pub(crate) fn range_from(&self, lo: &[u8]) -> Iter {
        match self {
            Db::Sled(db) => Iter::Sled(db.range(lo.to_vec()..)),
            Db::Pg(pg) => Iter::Pg(PgIter::new(pg.clone(), Bound::Included(lo.to_vec()), Bound::Unbounded)),
        }
    }

    /// Every key, in order.
    pub(crate) fn iter(&self) -> Iter {
        match self {
            Db::Sled(db) => Iter::Sled(db.iter()),
            Db::Pg(pg) => Iter::Pg(PgIter::new(pg.clone(), Bound::Unbounded, Bound::Unbounded)),
        }
    }

    /// Applies `batch` atomically (one PostgreSQL transaction; one sled
    /// batch, durable after [`Db::flush`]).
    pub(crate) fn apply_batch(&self, batch: Batch) -> Result<(), StoreError> {
        match self {
            Db::Sled(db) => {
                let mut b = sled::Batch::default();
                for (k, v) in batch.ops {
                    match v {
                        Some(v) => b.insert(k, v),
                        None => b.remove(k),
                    }
                }
                Ok(db.apply_batch(b)?)
            }
            Db::Pg(pg) => pg.apply(batch),
        }
    }

    /// Makes what was applied durable (a PostgreSQL commit already is).
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        match self {
            Db::Sled(db) => {
                db.flush()?;
                Ok(())
            }
            Db::Pg(_) => Ok(()),
        }
    }

    /// Number of keys (a full count: for checks, not hot paths).
    pub(crate) fn len(&self) -> Result<u64, StoreError> {
        match self {
            Db::Sled(db) => Ok(db.len() as u64),
            Db::Pg(pg) => pg.len(),
        }
    }

    pub(crate) fn size_on_disk(&self) -> u64 {
        match self {
            Db::Sled(db) => db.size_on_disk().unwrap_or(0),
            Db::Pg(pg) => pg.size().unwrap_or(0),
        }
    }
}

/// The smallest key greater than every key starting with `prefix`.
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut s = prefix.to_vec();
    while let Some(last) = s.pop() {
        if last < u8::MAX {
            s.push(last + 1);
            return Some(s);
        }
    }
    None
}

/// Keys and values in key order, from the front or the back.
pub(crate) enum Iter {
    Sled(sled::Iter),
    Pg(PgIter),
}

impl Iterator for Iter {
    type Item = Result<Kv, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Sled(i) => i.next().map(|r| r.map_err(StoreError::from)),
            Iter::Pg(i) => i.next(),
        }
    }
}

impl DoubleEndedIterator for Iter {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Sled(i) => i.next_back().map(|r| r.map_err(StoreError::from)),
            Iter::Pg(i) => i.next_back(),
        }
    }
}

/// A connection to a PostgreSQL store: one for reads and writes, one that
/// only holds the writers' advisory lock (so waiting for it never blocks
/// this process's reads).
#[derive(Clone)]
pub(crate) struct PgKv {
    conn: Arc<PgConn>,
    table: &'static str,
}

pub(crate) struct PgConn {
    client: Mutex<postgres::Client>,
    lock: Mutex<postgres::Client>,
    url: String,
}

/// A connection that only listens for other sessions' notices.
pub(crate) struct PgListener {
    client: postgres::Client,
}

impl PgListener {
    /// Notices that arrive within `timeout` (the first one waited for, the
    /// rest that are already there).
    pub(crate) fn wait(&mut self, timeout: std::time::Duration) -> Result<Vec<String>, StoreError> {
        use postgres::fallible_iterator::FallibleIterator;
        let mut out = Vec::new();
        let mut n = self.client.notifications();
        let first = n.timeout_iter(timeout).next().map_err(pg_err)?;
        if let Some(first) = first {
            out.push(first.payload().to_owned());
            let mut more = n.iter();
            while let Some(next) = more.next().map_err(pg_err)? {
                out.push(next.payload().to_owned());
            }
        }
        Ok(out)
    }
}

/// One connection to the store's database, as application `app`.
fn connect(url: &str, app: &str) -> Result<postgres::Client, StoreError> {
    pgsource::connect(url, app).map_err(|e| match e {
        pgsource::SourceError::Connect(m) => StoreError::Db(format!("could not connect to the store's database: {m}")),
        other => StoreError::Db(other.to_string()),
    })
}

fn pg_err(e: postgres::Error) -> StoreError {
    StoreError::Db(format!("PostgreSQL: {}", pgsource::describe(&e)))
}

/// Rows per round trip of a scan (a record page is about 10 KB).
const SCAN_ROWS: i64 = 256;

impl PgConn {
    /// Connects twice (see [`PgKv`]); the password comes from the
    /// environment or the password file, never the URL.
    pub(crate) fn connect(url: &str) -> Result<Arc<PgConn>, StoreError> {
        let client = connect(url, "steward store")?;
        let lock = connect(url, "steward store lock")?;
        Ok(Arc::new(PgConn { client: Mutex::new(client), lock: Mutex::new(lock), url: url.to_owned() }))
    }

    pub(crate) fn client(&self) -> Result<MutexGuard<'_, postgres::Client>, StoreError> {
        self.client.lock().map_err(|_| StoreError::Db("the database connection is poisoned".into()))
    }

    /// Whether the store's tables exist.
    pub(crate) fn has_store(&self) -> Result<bool, StoreError> {
        let row = self.client()?.query_one("SELECT to_regclass($1) IS NOT NULL", &[&PG_FILES]).map_err(pg_err)?;
        Ok(row.get(0))
    }

    /// Creates the store's tables (fails if they exist).
    pub(crate) fn create_tables(&self) -> Result<(), StoreError> {
        self.client()?
            .batch_execute(&format!(
                "BEGIN; \
                 CREATE TABLE {PG_TABLE} (k bytea PRIMARY KEY, v bytea NOT NULL); \
                 ALTER TABLE {PG_TABLE} ALTER COLUMN v SET STORAGE EXTERNAL; \
                 CREATE TABLE {PG_FILES} (name text PRIMARY KEY, body bytea NOT NULL); \
                 COMMIT"
            ))
            .map_err(pg_err)
    }

    pub(crate) fn kv(self: &Arc<Self>, table: &'static str) -> PgKv {
        PgKv { conn: self.clone(), table }
    }

    /// Waits for the writers' lock (see the module docs).
    pub(crate) fn write_lock(self: &Arc<Self>) -> Result<PgWriteLock, StoreError> {
        let mut c = self.lock.lock().map_err(|_| StoreError::Db("the lock connection is poisoned".into()))?;
        c.execute("SELECT pg_advisory_lock($1)", &[&PG_WRITE_LOCK]).map_err(pg_err)?;
        Ok(PgWriteLock { conn: self.clone() })
    }

    /// A whole file of the store (see [`Home`]).
    fn read_file(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self
            .client()?
            .query_opt(&format!("SELECT body FROM {PG_FILES} WHERE name = $1"), &[&name])
            .map_err(pg_err)?;
        Ok(row.map(|r| r.get(0)))
    }

    fn write_file(&self, name: &str, body: &[u8]) -> Result<(), StoreError> {
        self.client()?
            .execute(
                &format!(
                    "INSERT INTO {PG_FILES} (name, body) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET body = excluded.body"
                ),
                &[&name, &body],
            )
            .map_err(pg_err)?;
        Ok(())
    }

    /// Every file whose name starts with `prefix`, in name order.
    pub(crate) fn files_under(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let rows = self
            .client()?
            .query(&format!("SELECT name, body FROM {PG_FILES} WHERE starts_with(name, $1) ORDER BY name"), &[&prefix])
            .map_err(pg_err)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn remove_file(&self, name: &str) -> Result<(), StoreError> {
        self.client()?.execute(&format!("DELETE FROM {PG_FILES} WHERE name = $1"), &[&name]).map_err(pg_err)?;
        Ok(())
    }

    /// Puts the table a rotation built in place of the live one, with the
    /// key slots that go with it (`slots`), in one transaction: the old
    /// table's files are deleted with it.
    pub(crate) fn swap_in_next(&self, slots: &[u8]) -> Result<(), StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(pg_err)?;
        tx.batch_execute(&format!("DROP TABLE {PG_TABLE}; ALTER TABLE {PG_TABLE_NEXT} RENAME TO {PG_TABLE}"))
            .map_err(pg_err)?;
        tx.execute(
            &format!(
                "INSERT INTO {PG_FILES} (name, body) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET body = excluded.body"
            ),
            &[&super::SLOTS_FILE, &slots],
        )
        .map_err(pg_err)?;
        tx.commit().map_err(pg_err)
    }

    /// Creates an empty table for a rotation to build (dropping one a
    /// rotation that died left).
    pub(crate) fn fresh_next(&self) -> Result<(), StoreError> {
        self.client()?
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {PG_TABLE_NEXT}; \
                 CREATE TABLE {PG_TABLE_NEXT} (k bytea PRIMARY KEY, v bytea NOT NULL); \
                 ALTER TABLE {PG_TABLE_NEXT} ALTER COLUMN v SET STORAGE EXTERNAL"
            ))
            .map_err(pg_err)
    }

    /// Removes a store this process just made and could not finish (a
    /// restore that failed).
    pub(crate) fn drop_store(&self) -> Result<(), StoreError> {
        self.client()?
            .batch_execute(&format!("DROP TABLE IF EXISTS {PG_TABLE}, {PG_TABLE_NEXT}, {PG_FILES}"))
            .map_err(pg_err)
    }

    /// Drops what a rotation that died left (call holding the write lock).
    pub(crate) fn drop_next(&self) -> Result<(), StoreError> {
        self.client()?.batch_execute(&format!("DROP TABLE IF EXISTS {PG_TABLE_NEXT}")).map_err(pg_err)
    }

    /// A third connection, listening on [`PG_CHANNEL`].
    pub(crate) fn listen(&self) -> Result<PgListener, StoreError> {
        let mut client = connect(&self.url, "steward listen")?;
        client.batch_execute(&format!("LISTEN {PG_CHANNEL}")).map_err(pg_err)?;
        Ok(PgListener { client })
    }

    /// Names this session for others ([`PgConn::present`]): `name` holds
    /// the steward user, never customer data.
    pub(crate) fn announce(&self, name: &str) -> Result<(), StoreError> {
        let name: String = format!("{PRESENCE}{name}").chars().take(60).collect();
        self.client()?.execute("SELECT set_config('application_name', $1, false)", &[&name]).map_err(pg_err)?;
        Ok(())
    }

    /// The other sessions working on this database now, by the names they
    /// announced (a session that dies drops off with its connection).
    pub(crate) fn present(&self) -> Result<Vec<String>, StoreError> {
        let rows = self
            .client()?
            .query(
                "SELECT application_name FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name LIKE $1 AND pid <> pg_backend_pid() ORDER BY backend_start",
                &[&format!("{PRESENCE}%")],
            )
            .map_err(pg_err)?;
        Ok(rows
            .iter()
            .filter_map(|r| r.get::<_, Option<String>>(0))
            .map(|n| n.trim_start_matches(PRESENCE).to_owned())
            .collect())
    }

    /// Tells every listening session that the store changed (`what`: no
    /// personal data — record ids and kinds of change at most).
    pub(crate) fn notify(&self, what: &str) -> Result<(), StoreError> {
        self.client()?.execute("SELECT pg_notify($1, $2)", &[&PG_CHANNEL, &what]).map_err(pg_err)?;
        Ok(())
    }
}

/// Held while a writer changes a PostgreSQL store; released on drop (and by
/// the server if the process dies).
pub(crate) struct PgWriteLock {
    conn: Arc<PgConn>,
}

impl Drop for PgWriteLock {
    fn drop(&mut self) {
        if let Ok(mut c) = self.conn.lock.lock() {
            let _ = c.execute("SELECT pg_advisory_unlock($1)", &[&PG_WRITE_LOCK]);
        }
    }
}

impl PgKv {
    fn get(&self, k: &[u8]) -> Result<Option<IVec>, StoreError> {
        let row = self
            .conn
            .client()?
            .query_opt(&format!("SELECT v FROM {} WHERE k = $1", self.table), &[&k])
            .map_err(pg_err)?;
        Ok(row.map(|r| IVec::from(r.get::<_, Vec<u8>>(0))))
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut gone: Vec<Vec<u8>> = Vec::new();
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let mut values: Vec<Vec<u8>> = Vec::new();
        for (k, v) in batch.ops {
            match v {
                Some(v) => {
                    keys.push(k);
                    values.push(v);
                }
                None => gone.push(k),
            }
        }
        let mut client = self.conn.client()?;
        let mut tx = client.transaction().map_err(pg_err)?;
        if !gone.is_empty() {
            tx.execute(&format!("DELETE FROM {} WHERE k = ANY($1)", self.table), &[&gone]).map_err(pg_err)?;
        }
        // Bounded statements: an import's chunk is tens of megabytes.
        const ROWS: usize = 2048;
        let upsert = format!(
            "INSERT INTO {} (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
             ON CONFLICT (k) DO UPDATE SET v = excluded.v",
            self.table
        );
        let stmt = tx.prepare(&upsert).map_err(pg_err)?;
        for (k, v) in keys.chunks(ROWS).zip(values.chunks(ROWS)) {
            tx.execute(&stmt, &[&k, &v]).map_err(pg_err)?;
        }
        tx.commit().map_err(pg_err)
    }

    fn len(&self) -> Result<u64, StoreError> {
        let n: i64 =
            self.conn.client()?.query_one(&format!("SELECT count(*) FROM {}", self.table), &[]).map_err(pg_err)?.get(0);
        Ok(n.max(0) as u64)
    }

    fn size(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .client()?
            .query_one("SELECT pg_total_relation_size(to_regclass($1))", &[&self.table])
            .map_err(pg_err)?
            .get(0);
        Ok(n.max(0) as u64)
    }

    /// Rows between the bounds, `limit` of them, from the front or the back.
    fn fetch(&self, lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>, back: bool, limit: i64) -> Result<Vec<Kv>, StoreError> {
        let mut cond = Vec::new();
        let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = Vec::new();
        for (bound, inclusive, exclusive) in [(lo, ">=", ">"), (hi, "<=", "<")] {
            let (op, v) = match bound {
                Bound::Included(v) => (inclusive, v),
                Bound::Excluded(v) => (exclusive, v),
                Bound::Unbounded => continue,
            };
            params.push(v);
            cond.push(format!("k {op} ${}", params.len()));
        }
        params.push(&limit);
        let sql = format!(
            "SELECT k, v FROM {} {} ORDER BY k {} LIMIT ${}",
            self.table,
            if cond.is_empty() { String::new() } else { format!("WHERE {}", cond.join(" AND ")) },
            if back { "DESC" } else { "ASC" },
            params.len()
        );
        let rows = self.conn.client()?.query(&sql, &params).map_err(pg_err)?;
        Ok(rows.into_iter().map(|r| (IVec::from(r.get::<_, Vec<u8>>(0)), IVec::from(r.get::<_, Vec<u8>>(1)))).collect())
    }
}

/// A keyset-paginated scan: a round trip per [`SCAN_ROWS`] rows from the
/// front; one per row from the back (the store only ever takes the last).
pub(crate) struct PgIter {
    kv: PgKv,
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
    buf: VecDeque<Kv>,
    front_done: bool,
    failed: bool,
}

impl PgIter {
    fn new(kv: PgKv, lo: Bound<Vec<u8>>, hi: Bound<Vec<u8>>) -> Self {
        PgIter { kv, lo, hi, buf: VecDeque::new(), front_done: false, failed: false }
    }
}

impl Iterator for PgIter {
    type Item = Result<Kv, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.buf.is_empty() && !self.front_done {
            match self.kv.fetch(&self.lo, &self.hi, false, SCAN_ROWS) {
                Ok(rows) => {
                    self.front_done = (rows.len() as i64) < SCAN_ROWS;
                    if let Some((k, _)) = rows.last() {
                        self.lo = Bound::Excluded(k.to_vec());
                    }
                    self.buf.extend(rows);
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        self.buf.pop_front().map(Ok)
    }
}

impl DoubleEndedIterator for PgIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        // Rows the front has not fetched yet lie after everything buffered.
        if !self.front_done {
            match self.kv.fetch(&self.lo, &self.hi, true, 1) {
                Ok(mut rows) => match rows.pop() {
                    Some(kv) => {
                        self.hi = Bound::Excluded(kv.0.to_vec());
                        return Some(Ok(kv));
                    }
                    None => self.front_done = true,
                },
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        self.buf.pop_back().map(Ok)
    }
}

/// Where the store's few whole files live: the store directory, or the
/// PostgreSQL store's `steward_files` table.
#[derive(Clone)]
pub(crate) enum Home {
    Dir(PathBuf),
    Pg(Arc<PgConn>),
}

impl std::fmt::Debug for Home {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Home::Dir(d) => write!(f, "Dir({})", d.display()),
            Home::Pg(_) => write!(f, "Pg"),
        }
    }
}

impl Home {
    pub(crate) fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Home::Dir(dir) => match std::fs::read(dir.join(name)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(StoreError::Io { what: format!("could not read {name}"), source: e }),
            },
            Home::Pg(c) => c.read_file(name),
        }
    }

    /// Replaces a file whole: written beside it, synced when `durable`,
    /// renamed into place; one statement on PostgreSQL.
    pub(crate) fn write(&self, name: &str, body: &[u8], durable: bool) -> Result<(), StoreError> {
        match self {
            Home::Dir(dir) => write_file_atomically(dir, name, body, durable),
            Home::Pg(c) => c.write_file(name, body),
        }
    }

    pub(crate) fn remove(&self, name: &str) -> Result<(), StoreError> {
        match self {
            Home::Dir(dir) => match std::fs::remove_file(dir.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(StoreError::Io { what: format!("could not remove {name}"), source: e })
                }
                _ => Ok(()),
            },
            Home::Pg(c) => c.remove_file(name),
        }
    }

    /// The directory, for a sled store.
    pub(crate) fn dir(&self) -> Option<&Path> {
        match self {
            Home::Dir(d) => Some(d),
            Home::Pg(_) => None,
        }
    }
}

fn write_file_atomically(dir: &Path, name: &str, body: &[u8], durable: bool) -> Result<(), StoreError> {
    let what = || format!("could not write {name}");
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = super::create_fresh(&tmp).map_err(|e| StoreError::Io { what: what(), source: e })?;
    f.write_all(body).map_err(|e| StoreError::Io { what: what(), source: e })?;
    if durable {
        f.sync_all().map_err(|e| StoreError::Io { what: what(), source: e })?;
    }
    std::fs::rename(&tmp, dir.join(name)).map_err(|e| StoreError::Io { what: what(), source: e })?;
    if durable {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::Io { what: "could not sync the store directory".into(), source: e })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successors_bound_every_key_with_the_prefix() {
        assert_eq!(successor(b"a"), Some(b"b".to_vec()));
        assert_eq!(successor(&[b'o', 0xff]), Some(vec![b'p']));
        assert_eq!(successor(&[0xff, 0xff]), None);
        assert_eq!(successor(b""), None);
    }

    #[test]
    fn the_last_write_to_a_key_in_a_batch_wins() {
        let mut b = Batch::default();
        b.insert(b"k", b"1");
        b.remove(b"k");
        b.insert(b"j", b"2");
        assert_eq!(b.ops.get(b"k".as_slice()), Some(&None));
        assert_eq!(b.ops.get(b"j".as_slice()), Some(&Some(b"2".to_vec())));
    }
}
