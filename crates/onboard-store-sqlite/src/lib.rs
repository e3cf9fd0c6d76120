//! Onboard's storage port on an embedded SQLite database: the [`Engine`] that
//! runs the statements of `onboard-store-sql` through SQLite's own library
//! (rusqlite), and the migrations. Start with [`open`].
//!
//! How it stays correct and fast under concurrency:
//! - **Reads run on the caller's thread.** A read takes an idle read-only
//!   connection from a small pool (opening one when none is idle, keeping up to
//!   [`IDLE_READERS`], each with a [`READER_CACHE_KIB`] page cache so that a
//!   lookup among a few hundred thousand users finds its index pages in memory),
//!   runs its statement through that connection's prepared-statement cache and
//!   puts it back: no thread hand-off per query, which would cost more than a
//!   read of a few cached rows. WAL lets readers run beside the writer, and each
//!   read sees every transaction committed before it started, so a read after an
//!   acknowledged write sees it. A long read (the streamed full list) arrives as
//!   pages of 500 rows, so no read holds a runtime thread for long.
//! - **One writer, group commit.** SQLite admits one writer at a time: write
//!   transactions take turns on one connection (see [`writer`]), start with
//!   `BEGIN IMMEDIATE` (so they hold the write lock from their first read and
//!   need no row locks: the dialect's lock clauses are empty, and lifecycle
//!   decisions, advisor checks and event ids are serialised by the writer), and
//!   share their commit with the writers queued behind them (`GROUP_COMMIT`).
//!   `synchronous=FULL` makes that commit durable before any member is answered:
//!   an acknowledged write survives `kill -9` and power loss alike.
//! - **Event ids** are the enterprise's `last_event_id + 1`, taken under the
//!   write lock, so they are gap-free and become visible in order.
//! - **Other processes** (the admin commands on the same file) are heard by no
//!   notification: the feed's 500 ms poll finds their commits. While one of them
//!   holds the write lock the writer waits for it (see [`writer`]).
//! - **What still runs long on a runtime thread**: housekeeping's prune
//!   `DELETE`s and the bench's bulk import, single statements over many rows that
//!   run once a minute (or once), bounded by what retention leaves behind.
//! - **Migrations** run at open, each in its own `BEGIN IMMEDIATE` transaction
//!   with its record, in the `_sqlx_migrations` table and format of earlier
//!   releases (see `migrate`).

mod convert;
mod health;
mod migrate;
mod writer;

use onboard_core::seal::Sealer;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use onboard_core::store::StoreError;
use onboard_store_sql::{Dialect, Engine, Row, SqlStore, Tx, Value};
use rusqlite::{Connection, OpenFlags};

use crate::convert::{classify, execute, fetch, fetch_pairs};
use crate::writer::{Member, Writer};

/// How long a statement waits for a lock another process holds (a command-line
/// tool writing to the same file, say) before the database counts as unavailable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Idle read connections kept for the next reads; more open when many threads
/// read at once, and the extra ones close when done. Reads run on the caller's
/// thread, so about as many are in use as the runtime has threads.
const IDLE_READERS: usize = 16;

/// Each read connection's page cache, in KiB (SQLite's `cache_size` takes a
/// negative number as KiB). SQLite's default, 2 MiB, holds little of a large
/// users table, so a lookup read most of its pages from the operating system;
/// 16 MiB holds the `user_id` index of about 300,000 users and the upper levels
/// of the table. A cache grows only with the pages its connection reads, so the
/// total is about 16 MiB per thread that reads at once (one or two on a small
/// machine; at most 16 × 16 MiB kept idle).
const READER_CACHE_KIB: i64 = 16 * 1024;

/// Prepared statements each connection keeps.
const STATEMENT_CACHE: usize = 256;

/// The store on SQLite.
pub type SqliteStore = SqlStore<SqliteEngine>;

/// Opens (creating if needed) the database at a `sqlite:` URL
/// (`sqlite:PATH` or `sqlite://PATH`) and migrates it.
/// Personal data is sealed and opened with `sealer`'s keyring.
pub async fn open(url: &str, sealer: Sealer) -> Result<SqliteStore, StoreError> {
    open_file(&path_of(url)?, sealer).await
}

pub fn path_of(url: &str) -> Result<PathBuf, StoreError> {
    let bad = |why: &str| StoreError::Unavailable(format!("bad SQLite URL {url:?}: {why}"));
    let rest = url
        .strip_prefix("sqlite:")
        .ok_or_else(|| bad("it must start with sqlite:"))?;
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path.is_empty() {
        return Err(bad("it names no file"));
    }
    if path.contains('?') {
        return Err(bad(
            "options after ? are not supported; the store sets its own",
        ));
    }
    if path == ":memory:" {
        return Err(bad(
            "an in-memory database cannot be shared by the store's connections",
        ));
    }
    Ok(PathBuf::from(path))
}

/// Opens (creating if needed) the database file at `path` and migrates it.
/// The file is created readable by its owner only (SQLite gives its WAL and
/// shared-memory files the database file's mode), and an existing file is made
/// so.
pub async fn open_file(path: &Path, sealer: Sealer) -> Result<SqliteStore, StoreError> {
    let path = path.to_owned();
    let store = tokio::task::spawn_blocking(move || open_blocking(path, sealer))
        .await
        .map_err(|e| StoreError::Internal(format!("opening the database failed: {e}")))??;
    store.check_keyring().await?;
    Ok(store)
}

/// Creates `path` with mode 0600 if it is missing, and sets that mode if not.
fn owner_only(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

fn open_blocking(path: PathBuf, sealer: Sealer) -> Result<SqliteStore, StoreError> {
    if !path.starts_with(":memory:") {
        owner_only(&path).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", path.display()))
        })?;
    }
    let unavailable = |e: rusqlite::Error| {
        StoreError::Unavailable(format!("cannot open {}: {e}", path.display()))
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(&path, flags).map_err(unavailable)?;
    configure(&conn).map_err(unavailable)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(unavailable)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "{} cannot use write-ahead logging (journal mode {mode})",
            path.display()
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(unavailable)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(unavailable)?;
    migrate::run(&mut conn)?;
    // From here on the writer waits for other processes' write locks without
    // blocking a thread (see `writer`).
    conn.busy_timeout(Duration::ZERO).map_err(unavailable)?;
    let reader = open_reader(&path)?;
    let engine = SqliteEngine {
        writer: Writer::new(conn),
        readers: Arc::new(Readers {
            path,
            idle: Mutex::new(vec![reader]),
        }),
    };
    Ok(SqlStore::new(engine, sealer))
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(classify)?;
    configure(&conn).map_err(classify)?;
    conn.pragma_update(None, "cache_size", -READER_CACHE_KIB)
        .map_err(classify)?;
    Ok(conn)
}

/// Read-only connections, idle between reads.
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    fn with<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_reader(&self.path)?,
        };
        let result = read(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        result
    }
}

/// SQLite: reads on the caller's thread, writes through one grouped writer.
#[derive(Clone)]
pub struct SqliteEngine {
    writer: Arc<Writer>,
    readers: Arc<Readers>,
}

impl std::fmt::Debug for SqliteEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteEngine")
            .field("path", &self.readers.path)
            .finish_non_exhaustive()
    }
}

/// A write transaction: a member of the writer's current group.
pub struct SqliteTx(Member);

#[async_trait]
impl Tx for SqliteTx {
    async fn fetch(&mut self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        let done = fetch(self.0.conn()?, sql, &args);
        if let Err(e) = &done {
            self.0.health().statement_failed(e);
            self.0.abandon().await;
        }
        done
    }

    async fn execute(&mut self, sql: &str, args: Vec<Value>) -> Result<u64, StoreError> {
        let done = execute(self.0.conn()?, sql, &args);
        if let Err(e) = &done {
            self.0.health().statement_failed(e);
            self.0.abandon().await;
        }
        done
    }

    async fn commit(self) -> Result<(), StoreError> {
        self.0.commit().await
    }
}

impl SqliteEngine {
    /// `VACUUM` on a connection of its own (it cannot run inside the writer's
    /// transactions), then the write-ahead log checkpointed and truncated, so
    /// that neither file keeps a page of what was overwritten.
    fn compact_blocking(path: &Path) -> Result<(), StoreError> {
        let failed =
            |e: rusqlite::Error| StoreError::Unavailable(format!("compacting failed: {e}"));
        let conn = Connection::open(path).map_err(failed)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(failed)?;
        conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(failed)
    }
}

#[async_trait]
impl Engine for SqliteEngine {
    type Tx = SqliteTx;

    const DIALECT: Dialect = Dialect::ONE_WRITER;

    const GROUP_COMMIT: bool = true;

    const SHARE_LOOKUPS: bool = false;

    async fn read(&self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        self.readers.with(|conn| fetch(conn, sql, &args))
    }

    async fn read_pairs(
        &self,
        sql: &str,
        args: Vec<Value>,
    ) -> Result<Vec<(i64, Option<String>)>, StoreError> {
        self.readers.with(|conn| fetch_pairs(conn, sql, &args))
    }

    async fn write(&self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = tx.fetch(sql, args).await?;
        tx.commit().await?;
        Ok(rows)
    }

    async fn write_count(&self, sql: &str, args: Vec<Value>) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let changed = tx.execute(sql, args).await?;
        tx.commit().await?;
        Ok(changed)
    }

    async fn begin(&self) -> Result<SqliteTx, StoreError> {
        self.writer.begin().await.map(SqliteTx)
    }

    async fn compact(&self) -> Result<(), StoreError> {
        let path = self.readers.path.clone();
        tokio::task::spawn_blocking(move || SqliteEngine::compact_blocking(&path))
            .await
            .map_err(|e| StoreError::Internal(format!("compacting failed: {e}")))?
    }

    /// Ready when a reader answers and commits succeed (CONTRACT §13). While
    /// commits fail, a tiny real commit is tried at most once a second, so that
    /// readiness comes back on its own once the disk has room again.
    async fn ping(&self) -> Result<(), StoreError> {
        let health = self.writer.health();
        if health.lost() {
            return Err(StoreError::Unavailable(
                "the writer connection was lost".into(),
            ));
        }
        if health.fault().is_some() && health.probe_due() && self.probe().await.is_ok() {
            health.recovered();
        }
        if let Some(fault) = health.fault() {
            return Err(fault);
        }
        self.readers
            .with(|conn| fetch(conn, "SELECT 1", &[]).map(|_| ()))
    }
}

impl SqliteEngine {
    /// Room in the database's folder, then a commit that changes nothing but
    /// still writes a page: the header's `user_version` (unused by Onboard)
    /// written back as it is.
    async fn probe(&self) -> Result<(), StoreError> {
        let folder = match self.readers.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        tokio::task::spawn_blocking(move || health::room_in(&folder))
            .await
            .map_err(|e| StoreError::Internal(format!("the room probe failed: {e}")))??;
        let member = self.writer.begin().await?;
        let conn = member.conn()?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(classify)?;
        conn.execute_batch(&format!("PRAGMA user_version = {version}"))
            .map_err(classify)?;
        member.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_file() {
        assert_eq!(path_of("sqlite:/tmp/a.db").unwrap(), Path::new("/tmp/a.db"));
        assert_eq!(
            path_of("sqlite:///tmp/a.db").unwrap(),
            Path::new("/tmp/a.db")
        );
        assert_eq!(path_of("sqlite:data/a.db").unwrap(), Path::new("data/a.db"));
        for bad in [
            "sqlite:",
            "postgres://x",
            "sqlite::memory:",
            "sqlite:a.db?mode=ro",
        ] {
            assert!(path_of(bad).is_err(), "{bad}");
        }
    }
}
