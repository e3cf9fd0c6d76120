//! Onboard's storage port on PostgreSQL, for one node or several sharing the
//! database: the [`Engine`] that runs the statements of `onboard-store-sql` with
//! sqlx, the migrations, and wake-ups across nodes. Start with [`open`].
//!
//! Concurrency is carried by row locks, taken in one order everywhere (user rows,
//! then the enterprise row), so that writers never wait for each other in a
//! circle:
//! - a lifecycle decision locks its user row (`FOR UPDATE`), so two confirmations of
//!   one code serialise and exactly one succeeds;
//! - a registration share-locks the advisor it names (`FOR SHARE`), so the
//!   advisor cannot be deactivated under it;
//! - every change appends its event by bumping `enterprises.last_event_id` as its
//!   last statement: the row lock is held to commit, so per-enterprise `event_id`s
//!   are gap-free and become visible in order, from any node. (A sequence would not
//!   do: two transactions could take 7 and 8 and commit 8 first, and a reader
//!   tailing by id would pass 7 for good.)
//!
//! That lock makes one enterprise's registrations commit one at a time, a WAL
//! flush each; so this engine leaves `GROUP_COMMIT` off and `onboard-store-sql`
//! batches them (its `batch` module): registrations of one enterprise that arrive
//! while a batch is written wait for the next, and one task per enterprise writes
//! each batch (up to 64) as one transaction, every member in a savepoint of its
//! own, in `user_id` order, events last. Other writes keep their own transactions
//! on the pool. A deadlock or serialisation failure (SQLSTATE class 40) is
//! `Unavailable`, a 503 to try again.
//!
//! Reads are round trips too, so with `SHARE_LOOKUPS` on, one-user reads that
//! arrive together share one statement per enterprise (`onboard-store-sql`'s
//! `lookups` module: batches of up to 64, `user_id IN (…)` padded to a power of
//! two, a 503 after 10 s). A read still sees every write acknowledged before it.
//!
//! The pool does not ping a connection before every statement (sqlx's default,
//! a round trip each): only one idle for [`PING_AFTER_IDLE`] or more, or idle
//! when another connection broke (a restarted server ends them all). A read or a
//! `BEGIN` whose connection broke is tried once more; a write of its own or a
//! `COMMIT` is not (it may have committed), nor a statement inside a transaction:
//! they answer 503. When the server cannot be reached, a request waits at most
//! the pool's acquire timeout ([`PoolSettings`]) before its 503.
//!
//! Each event also sends `NOTIFY onboard_events '<enterprise id>'`, delivered at
//! commit; [`listen`] turns those into wake-ups for the feed of every node (a
//! hint only: the feed also polls the log). Migrations run under PostgreSQL's
//! advisory lock, so nodes starting together do not race.

mod listen;
mod migrations;

use onboard_core::seal::Sealer;
use std::borrow::Cow;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use onboard_core::events::ChangeNotifier;
use onboard_core::store::StoreError;
use onboard_store_sql::engine::rows_from;
use onboard_store_sql::{Dialect, Engine, Row, SqlStore, Tx, Value};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::{Column as _, Postgres, Row as _, Transaction, TypeInfo as _, ValueRef as _};

/// Pool settings (`[database]` in the configuration).
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// How long a request waits for a connection before answering 503.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

/// The store on PostgreSQL.
pub type PostgresStore = SqlStore<PostgresEngine>;

/// A pooled connection idle for this long is pinged before it is used.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// When a statement last failed because its connection broke. A connection that
/// was already idle then may be broken too (a restarted server ends them all):
/// it is pinged before it is used, so a read tried again, and every statement
/// after it, gets a connection that answers.
#[derive(Debug)]
struct Breakage {
    origin: Instant,
    /// Microseconds from `origin` to the last breakage, plus one; 0 for none.
    last: AtomicU64,
}

impl Default for Breakage {
    fn default() -> Self {
        Breakage {
            origin: Instant::now(),
            last: AtomicU64::new(0),
        }
    }
}

impl Breakage {
    fn micros(since_origin: Duration) -> u64 {
        u64::try_from(since_origin.as_micros()).unwrap_or(u64::MAX)
    }

    fn note(&self) {
        let now = Self::micros(self.origin.elapsed());
        self.last.store(now.saturating_add(1), Ordering::Relaxed);
    }

    /// Whether a connection idle for `idle_for` was idle when the last
    /// breakage was noted.
    fn idle_across(&self, idle_for: Duration) -> bool {
        let last = self.last.load(Ordering::Relaxed);
        let idle_since = Self::micros(self.origin.elapsed().saturating_sub(idle_for));
        last != 0 && idle_since < last
    }

    /// `e` as a store error, noting a broken connection.
    fn failed(&self, e: sqlx::Error) -> StoreError {
        if broken_connection(&e) {
            self.note();
        }
        classify(e)
    }
}

/// Connects to a `postgres://` URL and applies the migrations. Migrations run
/// under PostgreSQL's advisory lock, so nodes starting together do not race.
/// Personal data is sealed and opened with `sealer`'s keyring, which every node
/// sharing the database must read from the same keyring file.
pub async fn open(
    url: &str,
    settings: PoolSettings,
    sealer: Sealer,
) -> Result<PostgresStore, StoreError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Unavailable(format!("bad PostgreSQL URL: {e}")))?;
    let breakage = Arc::new(Breakage::default());
    let pinging = Arc::clone(&breakage);
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        // By default sqlx pings every connection it hands out, a round trip
        // before each statement (it also pings each on its way back, off the
        // caller's path). Only a connection that sat idle long enough to have
        // been dropped underneath, or that was idle when another broke (the
        // server restarted, say), is pinged; one that fails is closed and
        // another taken.
        .test_before_acquire(false)
        .before_acquire(move |conn, meta| {
            let stale = meta.idle_for >= PING_AFTER_IDLE || pinging.idle_across(meta.idle_for);
            Box::pin(async move {
                if !stale {
                    return Ok(true);
                }
                Ok(sqlx::Connection::ping(conn).await.is_ok())
            })
        })
        .connect_with(options)
        .await
        .map_err(unavailable)?;
    migrations::migrator()
        .run(&pool)
        .await
        .map_err(|e| StoreError::Internal(format!("migration failed: {e}")))?;
    let store = SqlStore::new(PostgresEngine { pool, breakage }, sealer);
    store.check_keyring().await?;
    Ok(store)
}

/// `server` (a `postgres://` URL) with its database name replaced by `name`,
/// its options kept: how the test kit and the bench reach a database of their own.
pub fn database_url(server: &str, name: &str) -> String {
    let (base, query) = server
        .split_once('?')
        .map_or((server, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// PostgreSQL through a sqlx pool.
#[derive(Debug, Clone)]
pub struct PostgresEngine {
    pool: PgPool,
    breakage: Arc<Breakage>,
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Maps a driver error: uniqueness violations are conflicts; a lost, refused or
/// shutting-down server is unavailable (503); the rest is internal.
pub(crate) fn classify(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // 53100 disk_full: the same sentence as SQLite's full disk (CONTRACT §13).
            if code == "53100" {
                StoreError::DiskFull(db.message().to_owned())
            } else if server_unavailable(&code) {
                unavailable(e)
            } else {
                StoreError::Internal(e.to_string())
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => unavailable(e),
        _ => StoreError::Internal(e.to_string()),
    }
}

/// SQLSTATEs that mean "the server cannot serve us now", not "this query is
/// wrong": connection exceptions (08), authorisation failures (28), a missing
/// database (3D000), a transaction the server rolled back to break a deadlock or
/// a serialisation conflict (40: trying again can succeed), insufficient
/// resources (53), operator intervention such as shutdown or cancellation (57),
/// and system errors (58).
fn server_unavailable(code: &str) -> bool {
    ["08", "28", "40", "53", "57", "58"]
        .iter()
        .any(|class| code.starts_with(class))
        || code == "3D000"
}

/// The connection the statement ran on is gone (lost, or ended by the server's
/// shutdown or restart), so the statement may not have run: see `read`.
fn broken_connection(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            // Connection exceptions, but not a protocol violation (08P01), which
            // the same statement would meet again; and the server's shutdown.
            .is_some_and(|code| {
                (code.starts_with("08") && code != "08P01") || code.starts_with("57P")
            }),
        _ => false,
    }
}

/// The statement with its `?` placeholders numbered (`$1`, `$2`, …). The shared
/// statements hold no `?` inside a literal.
fn numbered(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 16);
    for (n, part) in sql.split('?').enumerate() {
        if n > 0 {
            out.push('$');
            out.push_str(&n.to_string());
        }
        out.push_str(part);
    }
    Cow::Owned(out)
}

fn query(sql: &str, args: Vec<Value>) -> Query<'static, Postgres, PgArguments> {
    let sql = sqlx::AssertSqlSafe(numbered(sql).into_owned());
    args.into_iter().fold(sqlx::query(sql), |q, v| match v {
        Value::Int(i) => q.bind(i),
        Value::Text(t) => q.bind(t),
        Value::Bool(b) => q.bind(b),
        Value::Bytes(v) => q.bind(v),
    })
}

/// Rows as plain values, by each column's type.
fn rows(raw: Vec<PgRow>) -> Result<Vec<Row>, StoreError> {
    let names = |row: &PgRow| row.columns().iter().map(|c| c.name().into()).collect();
    rows_from(&raw, names, value)
}

fn value(row: &PgRow, i: usize) -> Result<Value, StoreError> {
    let raw = row.try_get_raw(i).map_err(classify)?;
    let null = raw.is_null();
    let kind = raw.type_info().name().to_owned();
    match kind.as_str() {
        _ if null => return Ok(Value::Int(None)),
        "INT8" => row.try_get(i).map(|v: i64| Value::Int(Some(v))),
        "INT4" => row.try_get(i).map(|v: i32| Value::Int(Some(v.into()))),
        "INT2" => row.try_get(i).map(|v: i16| Value::Int(Some(v.into()))),
        "TEXT" | "VARCHAR" => row.try_get(i).map(|v: String| Value::Text(Some(v))),
        "BOOL" => row.try_get(i).map(Value::Bool),
        "BYTEA" => row.try_get(i).map(|v: Vec<u8>| Value::Bytes(Some(v))),
        _ => return Err(StoreError::Internal(format!("unexpected {kind} column"))),
    }
    .map_err(classify)
}

/// A write transaction on one pooled connection.
pub struct PostgresTx {
    tx: Transaction<'static, Postgres>,
    breakage: Arc<Breakage>,
}

#[async_trait]
impl Tx for PostgresTx {
    async fn fetch(&mut self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        let done = query(sql, args).fetch_all(&mut *self.tx).await;
        rows(done.map_err(|e| self.breakage.failed(e))?)
    }

    async fn execute(&mut self, sql: &str, args: Vec<Value>) -> Result<u64, StoreError> {
        let done = query(sql, args).execute(&mut *self.tx).await;
        Ok(done.map_err(|e| self.breakage.failed(e))?.rows_affected())
    }

    async fn commit(self) -> Result<(), StoreError> {
        let breakage = self.breakage;
        self.tx.commit().await.map_err(|e| breakage.failed(e))
    }
}

#[async_trait]
impl Engine for PostgresEngine {
    type Tx = PostgresTx;

    const DIALECT: Dialect = Dialect {
        for_update: " FOR UPDATE",
        for_share: " FOR SHARE",
        skip_locked: " FOR UPDATE SKIP LOCKED",
        notify_event: Some(listen::NOTIFY),
    };

    async fn read(&self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        let raw = match query(sql, args.clone()).fetch_all(&self.pool).await {
            // A connection that broke while the pool held it (the server
            // restarted, say) fails its next statement. A read is safe to try
            // again, and the breakage just noted has the pool ping every
            // connection that was idle with it before handing it out.
            Err(e) if broken_connection(&e) => {
                tracing::info!(error = %e, "a pooled PostgreSQL connection broke; reading again");
                self.breakage.note();
                query(sql, args).fetch_all(&self.pool).await
            }
            done => done,
        };
        rows(raw.map_err(|e| self.breakage.failed(e))?)
    }

    async fn write(&self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        // Not tried again: a write whose connection broke may have committed.
        let done = query(sql, args).fetch_all(&self.pool).await;
        rows(done.map_err(|e| self.breakage.failed(e))?)
    }

    /// `VACUUM FULL` of the tables that hold personal data: each is rewritten,
    /// so no dead row version keeps the plaintext it replaced.
    async fn compact(&self) -> Result<(), StoreError> {
        self.write_count(
            "VACUUM FULL users, events, outbox, documents, document_chunks, edd_requests, \
             idempotency_keys",
            Vec::new(),
        )
        .await
        .map(drop)
    }

    async fn write_count(&self, sql: &str, args: Vec<Value>) -> Result<u64, StoreError> {
        let done = query(sql, args).execute(&self.pool).await;
        Ok(done.map_err(|e| self.breakage.failed(e))?.rows_affected())
    }

    async fn begin(&self) -> Result<PostgresTx, StoreError> {
        let tx = match self.pool.begin().await {
            // Nothing was written on a connection that broke before `BEGIN`.
            Err(e) if broken_connection(&e) => {
                tracing::info!(error = %e, "a pooled PostgreSQL connection broke; beginning again");
                self.breakage.note();
                self.pool.begin().await
            }
            begun => begun,
        };
        Ok(PostgresTx {
            tx: tx.map_err(|e| self.breakage.failed(e))?,
            breakage: Arc::clone(&self.breakage),
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let done = sqlx::query("SELECT 1").execute(&self.pool).await;
        done.map(|_| ()).map_err(unavailable)
    }

    async fn forward_changes(&self, notifier: Weak<dyn ChangeNotifier>) {
        tokio::spawn(listen::forward(self.pool.clone(), notifier));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Breakage, database_url, numbered};

    #[test]
    fn connections_idle_across_a_breakage_are_pinged_and_later_ones_not() {
        let breakage = Breakage::default();
        let long = Duration::from_secs(3600);
        assert!(!breakage.idle_across(long), "no breakage yet");
        std::thread::sleep(Duration::from_millis(5));
        breakage.note();
        assert!(breakage.idle_across(long), "idle since before the breakage");
        std::thread::sleep(Duration::from_millis(5));
        assert!(
            !breakage.idle_across(Duration::from_millis(1)),
            "idle only since after it"
        );
    }

    #[test]
    fn the_database_name_is_swapped_and_options_kept() {
        assert_eq!(
            database_url("postgres://u@h:5432/postgres", "t1"),
            "postgres://u@h:5432/t1"
        );
        assert_eq!(
            database_url("postgres://u@h:5432", "t1"),
            "postgres://u@h:5432/t1"
        );
        assert_eq!(
            database_url("postgres://u@h/db?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
    }

    #[test]
    fn placeholders_are_numbered_left_to_right() {
        assert_eq!(
            numbered("SELECT a FROM t WHERE b = ? AND c > ? LIMIT ?"),
            "SELECT a FROM t WHERE b = $1 AND c > $2 LIMIT $3"
        );
        assert_eq!(numbered("SELECT 1"), "SELECT 1");
    }
}
