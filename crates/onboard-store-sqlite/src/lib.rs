//! Onboard's storage port ([`onboard_core::store::Store`]) on an embedded SQLite
//! database. Start with [`SqliteStore::open`].
//!
//! Shape: one writer connection (SQLite admits one writer at a time; a pool of one
//! queues writers in the process instead of failing them with "database is locked")
//! and a pool of read-only connections that WAL lets run beside it. Every write
//! transaction starts `BEGIN IMMEDIATE`, and `synchronous=FULL` makes a commit
//! durable before the call returns: an acknowledged write survives `kill -9` and
//! power loss alike.

mod events;
mod tokens;
mod users;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use onboard_core::events::{Event, Retention};
use onboard_core::secret::KeyHash;
use onboard_core::store::{
    Decide, Decided, Enterprise, EnterpriseId, EventBounds, Listed, OutboxEntry, Store, StoreError,
    TokenGrant, UserFilter, from_micros, micros,
};
use onboard_core::user::User;
use onboard_core::verification::{Channel, CodeRecord};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, migrate::Migrator};
use time::OffsetDateTime;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How many read-only connections run beside the writer.
const READERS: u32 = 8;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at a `sqlite:` URL and migrates it.
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad SQLite URL: {e}")))?;
        Self::open_with(options).await
    }

    /// Opens (creating if needed) the database file at `path` and migrates it.
    pub async fn open_file(path: &Path) -> Result<SqliteStore, StoreError> {
        Self::open_with(SqliteConnectOptions::new().filename(path)).await
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
        Ok(SqliteStore { writer, reader })
    }
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

fn enterprise_from(row: &sqlx::sqlite::SqliteRow) -> Result<Enterprise, StoreError> {
    Ok(Enterprise {
        id: EnterpriseId(row.try_get("id").map_err(classify)?),
        name: row.try_get("name").map_err(classify)?,
        created_at: from_micros(row.try_get("created_at").map_err(classify)?),
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn create_enterprise(
        &self,
        name: &str,
        key_hash: &KeyHash,
        now: OffsetDateTime,
    ) -> Result<Enterprise, StoreError> {
        let row = sqlx::query(
            "INSERT INTO enterprises (name, api_key_hash, created_at) VALUES (?, ?, ?) \
             RETURNING id, name, created_at",
        )
        .bind(name)
        .bind(key_hash.as_str())
        .bind(micros(now))
        .fetch_one(&self.writer)
        .await
        .map_err(classify)?;
        enterprise_from(&row)
    }

    async fn list_enterprises(&self) -> Result<Vec<Enterprise>, StoreError> {
        let rows = sqlx::query("SELECT id, name, created_at FROM enterprises ORDER BY id")
            .fetch_all(&self.reader)
            .await
            .map_err(classify)?;
        rows.iter().map(enterprise_from).collect()
    }

    async fn enterprise_by_key(
        &self,
        key_hash: &KeyHash,
    ) -> Result<Option<Enterprise>, StoreError> {
        let row =
            sqlx::query("SELECT id, name, created_at FROM enterprises WHERE api_key_hash = ?")
                .bind(key_hash.as_str())
                .fetch_optional(&self.reader)
                .await
                .map_err(classify)?;
        row.as_ref().map(enterprise_from).transpose()
    }

    async fn enterprise_by_name(&self, name: &str) -> Result<Option<Enterprise>, StoreError> {
        let row = sqlx::query("SELECT id, name, created_at FROM enterprises WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.reader)
            .await
            .map_err(classify)?;
        row.as_ref().map(enterprise_from).transpose()
    }

    async fn insert_user(
        &self,
        enterprise: EnterpriseId,
        user: &User,
        cause: &str,
        first_code: Option<(Channel, &CodeRecord)>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        users::insert(&self.writer, enterprise, user, cause, first_code, now).await
    }

    async fn decide(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        channel: Option<Channel>,
        now: OffsetDateTime,
        decide: Decide<'_>,
    ) -> Result<Option<Decided>, StoreError> {
        users::decide(&self.writer, enterprise, user_id, channel, now, decide).await
    }

    async fn restore_code(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        channel: Channel,
        failed: OffsetDateTime,
        previous: Option<&CodeRecord>,
    ) -> Result<(), StoreError> {
        users::restore_code(&self.writer, enterprise, user_id, channel, failed, previous).await
    }

    async fn find_user(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
    ) -> Result<Option<User>, StoreError> {
        users::find(&self.reader, enterprise, user_id).await
    }

    async fn list_users(
        &self,
        enterprise: EnterpriseId,
        filter: UserFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Listed>, StoreError> {
        users::list(&self.reader, enterprise, filter, after, limit).await
    }

    async fn deactivate_user(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        users::deactivate(&self.writer, enterprise, user_id, now).await
    }

    async fn append_outbox(&self, message: &OutboxEntry) -> Result<(), StoreError> {
        tokens::append_outbox(&self.writer, message).await
    }

    async fn list_outbox(
        &self,
        enterprise: Option<EnterpriseId>,
        user_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        tokens::list_outbox(&self.reader, enterprise, user_id, limit).await
    }

    async fn mint_tokens(
        &self,
        enterprise: EnterpriseId,
        grants: &[TokenGrant],
        now: OffsetDateTime,
    ) -> Result<Result<(), String>, StoreError> {
        tokens::mint(&self.writer, enterprise, grants, now).await
    }

    async fn grant_feed_tokens(
        &self,
        enterprise: EnterpriseId,
        grants: &[TokenGrant],
        now: OffsetDateTime,
    ) -> Result<Vec<bool>, StoreError> {
        tokens::grant_best_effort(&self.writer, enterprise, grants, now).await
    }

    async fn user_by_token(
        &self,
        token_hash: &KeyHash,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        tokens::user_by_token(&self.reader, token_hash, now).await
    }

    async fn read_events(
        &self,
        enterprise: EnterpriseId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        events::read(&self.reader, enterprise, after, limit).await
    }

    async fn event_bounds(&self, enterprise: EnterpriseId) -> Result<EventBounds, StoreError> {
        events::bounds(&self.reader, enterprise).await
    }

    async fn prune(&self, retention: Retention, now: OffsetDateTime) -> Result<u64, StoreError> {
        events::prune(&self.writer, retention, now).await
    }
}
