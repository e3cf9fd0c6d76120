//! Onboard's storage port on an embedded SQLite database: the [`Engine`] that
//! runs the statements of `onboard-store-sql` with sqlx, and the migrations.
//! Start with [`open`].
//!
//! Shape: one writer connection (SQLite admits one writer at a time; a pool of one
//! queues writers in the process instead of failing them with "database is locked")
//! and a pool of read-only connections that WAL lets run beside it. Every write
//! transaction starts `BEGIN IMMEDIATE`, so it holds the writer lock from its first
//! read: row locks are not needed (the dialect's lock clauses are empty), and
//! `synchronous=FULL` makes a commit durable before the call returns: an
//! acknowledged write survives `kill -9` and power loss alike.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use onboard_core::store::StoreError;
use onboard_store_sql::engine::rows_from;
use onboard_store_sql::{Dialect, Engine, Row, SqlStore, Tx, Value};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Column as _, Row as _, Sqlite, Transaction, TypeInfo as _, ValueRef as _};
use sqlx::{migrate::Migrator, query::Query};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How many read-only connections run beside the writer.
const READERS: u32 = 8;

/// The store on SQLite.
pub type SqliteStore = SqlStore<SqliteEngine>;

/// Opens (creating if needed) the database at a `sqlite:` URL and migrates it.
pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Unavailable(format!("bad SQLite URL: {e}")))?;
    open_with(options).await
}

/// Opens (creating if needed) the database file at `path` and migrates it.
pub async fn open_file(path: &Path) -> Result<SqliteStore, StoreError> {
    open_with(SqliteConnectOptions::new().filename(path)).await
}

async fn open_with(options: SqliteConnectOptions) -> Result<SqliteStore, StoreError> {
    let options = options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await
        .map_err(unavailable)?;
    MIGRATOR
        .run(&writer)
        .await
        .map_err(|e| StoreError::Internal(format!("migration failed: {e}")))?;
    let reader = SqlitePoolOptions::new()
        .max_connections(READERS)
        .connect_with(options.read_only(true))
        .await
        .map_err(unavailable)?;
    Ok(SqlStore::new(SqliteEngine { writer, reader }))
}

/// SQLite through sqlx: a single writer and a pool of readers.
#[derive(Debug, Clone)]
pub struct SqliteEngine {
    writer: SqlitePool,
    reader: SqlitePool,
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Maps a driver error: uniqueness violations are conflicts, pool and IO trouble
/// means unavailable, the rest is internal.
fn classify(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => unavailable(e),
        _ => StoreError::Internal(e.to_string()),
    }
}

fn query(sql: &str, args: Vec<Value>) -> Query<'_, Sqlite, SqliteArguments> {
    args.into_iter()
        .fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |q, v| match v {
            Value::Int(i) => q.bind(i),
            Value::Text(t) => q.bind(t),
            Value::Bool(b) => q.bind(b),
            Value::Bytes(v) => q.bind(v),
        })
}

/// Rows as plain values, by each value's storage class.
fn rows(raw: Vec<SqliteRow>) -> Result<Vec<Row>, StoreError> {
    let names = |row: &SqliteRow| row.columns().iter().map(|c| c.name().into()).collect();
    rows_from(&raw, names, value)
}

fn value(row: &SqliteRow, i: usize) -> Result<Value, StoreError> {
    let raw = row.try_get_raw(i).map_err(classify)?;
    if raw.is_null() {
        return Ok(Value::Int(None));
    }
    let class = raw.type_info().name().to_owned();
    match class.as_str() {
        "INTEGER" => row.try_get_unchecked(i).map(Value::Int),
        "TEXT" => row.try_get_unchecked(i).map(Value::Text),
        "BLOB" => row.try_get_unchecked(i).map(Value::Bytes),
        _ => return Err(StoreError::Internal(format!("unexpected {class} value"))),
    }
    .map_err(classify)
}

/// A write transaction on the single writer connection.
pub struct SqliteTx(Transaction<'static, Sqlite>);

#[async_trait]
impl Tx for SqliteTx {
    async fn fetch(&mut self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        rows(
            query(sql, args)
                .fetch_all(&mut *self.0)
                .await
                .map_err(classify)?,
        )
    }

    async fn execute(&mut self, sql: &str, args: Vec<Value>) -> Result<u64, StoreError> {
        let done = query(sql, args).execute(&mut *self.0).await;
        Ok(done.map_err(classify)?.rows_affected())
    }

    async fn commit(self) -> Result<(), StoreError> {
        self.0.commit().await.map_err(classify)
    }
}

#[async_trait]
impl Engine for SqliteEngine {
    type Tx = SqliteTx;

    const DIALECT: Dialect = Dialect {
        for_update: "",
        for_share: "",
        skip_locked: "",
        notify_event: None,
    };

    async fn read(&self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        rows(
            query(sql, args)
                .fetch_all(&self.reader)
                .await
                .map_err(classify)?,
        )
    }

    async fn write(&self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        rows(
            query(sql, args)
                .fetch_all(&self.writer)
                .await
                .map_err(classify)?,
        )
    }

    async fn write_count(&self, sql: &str, args: Vec<Value>) -> Result<u64, StoreError> {
        let done = query(sql, args).execute(&self.writer).await;
        Ok(done.map_err(classify)?.rows_affected())
    }

    async fn begin(&self) -> Result<SqliteTx, StoreError> {
        let tx = self.writer.begin_with("BEGIN IMMEDIATE").await;
        Ok(SqliteTx(tx.map_err(classify)?))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let done = sqlx::query("SELECT 1").execute(&self.reader).await;
        done.map(|_| ()).map_err(unavailable)
    }
}
