//! Onboard's storage port ([`onboard_core::store::Store`]) on PostgreSQL, for one
//! node or several sharing the database. Start with [`PostgresStore::open`].
//!
//! Concurrency is carried by row locks, taken in one order everywhere (user rows,
//! then the enterprise row), so that writers never deadlock:
//! - a lifecycle decision locks its user row (`FOR UPDATE`), so two confirmations of
//!   one code serialise and exactly one succeeds;
//! - a registration share-locks the advisor it names, so the advisor cannot be
//!   deactivated under it;
//! - every change appends its event by bumping `enterprises.last_event_id` as its
//!   last statement: the row lock is held to commit, so per-enterprise `event_id`s
//!   are gap-free and become visible in order, from any node.
//!
//! Each event also sends `NOTIFY onboard_events '<enterprise id>'`, delivered at
//! commit; [`listen`] turns those into wake-ups for the feed of every node.

mod events;
mod listen;
mod tokens;
mod users;

use std::str::FromStr;
use std::sync::Weak;
use std::time::Duration;

use async_trait::async_trait;
use onboard_core::events::{ChangeNotifier, Event, Retention};
use onboard_core::secret::KeyHash;
use onboard_core::store::{
    Decide, Decided, Enterprise, EnterpriseId, EventBounds, Listed, OutboxEntry, Store, StoreError,
    TokenGrant, UserFilter, from_micros, micros,
};
use onboard_core::user::User;
use onboard_core::verification::{Channel, CodeRecord};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Row, migrate::Migrator};
use time::OffsetDateTime;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

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

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to a `postgres://` URL and applies the migrations. Migrations run
    /// under PostgreSQL's advisory lock, so nodes starting together do not race.
    pub async fn open(url: &str, settings: PoolSettings) -> Result<PostgresStore, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Internal(format!("migration failed: {e}")))?;
        Ok(PostgresStore { pool })
    }

    /// The pool, for tools that need raw access (tests, benchmarks).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
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
            if server_unavailable(&code) {
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
/// database (3D000), insufficient resources (53), operator intervention such as
/// shutdown or cancellation (57), and system errors (58).
fn server_unavailable(code: &str) -> bool {
    ["08", "28", "53", "57", "58"]
        .iter()
        .any(|class| code.starts_with(class))
        || code == "3D000"
}

fn enterprise_from(row: &PgRow) -> Result<Enterprise, StoreError> {
    Ok(Enterprise {
        id: EnterpriseId(row.try_get("id").map_err(classify)?),
        name: row.try_get("name").map_err(classify)?,
        created_at: from_micros(row.try_get("created_at").map_err(classify)?),
    })
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn forward_changes(&self, notifier: Weak<dyn ChangeNotifier>) {
        tokio::spawn(listen::forward(self.pool.clone(), notifier));
    }

    async fn create_enterprise(
        &self,
        name: &str,
        key_hash: &KeyHash,
        now: OffsetDateTime,
    ) -> Result<Enterprise, StoreError> {
        let row = sqlx::query(
            "INSERT INTO enterprises (name, api_key_hash, created_at) VALUES ($1, $2, $3) \
             RETURNING id, name, created_at",
        )
        .bind(name)
        .bind(key_hash.as_str())
        .bind(micros(now))
        .fetch_one(&self.pool)
        .await
        .map_err(classify)?;
        enterprise_from(&row)
    }

    async fn list_enterprises(&self) -> Result<Vec<Enterprise>, StoreError> {
        let rows = sqlx::query("SELECT id, name, created_at FROM enterprises ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        rows.iter().map(enterprise_from).collect()
    }

    async fn enterprise_by_key(
        &self,
        key_hash: &KeyHash,
    ) -> Result<Option<Enterprise>, StoreError> {
        let row =
            sqlx::query("SELECT id, name, created_at FROM enterprises WHERE api_key_hash = $1")
                .bind(key_hash.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(classify)?;
        row.as_ref().map(enterprise_from).transpose()
    }

    async fn enterprise_by_name(&self, name: &str) -> Result<Option<Enterprise>, StoreError> {
        let row = sqlx::query("SELECT id, name, created_at FROM enterprises WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
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
        users::insert(&self.pool, enterprise, user, cause, first_code, now).await
    }

    async fn decide(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        channel: Option<Channel>,
        now: OffsetDateTime,
        decide: Decide<'_>,
    ) -> Result<Option<Decided>, StoreError> {
        users::decide(&self.pool, enterprise, user_id, channel, now, decide).await
    }

    async fn restore_code(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        channel: Channel,
        failed: OffsetDateTime,
        previous: Option<&CodeRecord>,
    ) -> Result<(), StoreError> {
        users::restore_code(&self.pool, enterprise, user_id, channel, failed, previous).await
    }

    async fn find_user(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
    ) -> Result<Option<User>, StoreError> {
        users::find(&self.pool, enterprise, user_id).await
    }

    async fn list_users(
        &self,
        enterprise: EnterpriseId,
        filter: UserFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Listed>, StoreError> {
        users::list(&self.pool, enterprise, filter, after, limit).await
    }

    async fn deactivate_user(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        users::deactivate(&self.pool, enterprise, user_id, now).await
    }

    async fn append_outbox(&self, message: &OutboxEntry) -> Result<(), StoreError> {
        tokens::append_outbox(&self.pool, message).await
    }

    async fn list_outbox(
        &self,
        enterprise: Option<EnterpriseId>,
        user_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        tokens::list_outbox(&self.pool, enterprise, user_id, limit).await
    }

    async fn mint_tokens(
        &self,
        enterprise: EnterpriseId,
        grants: &[TokenGrant],
        now: OffsetDateTime,
    ) -> Result<Result<(), String>, StoreError> {
        tokens::mint(&self.pool, enterprise, grants, now).await
    }

    async fn grant_feed_tokens(
        &self,
        enterprise: EnterpriseId,
        grants: &[TokenGrant],
        now: OffsetDateTime,
    ) -> Result<Vec<bool>, StoreError> {
        tokens::grant_best_effort(&self.pool, enterprise, grants, now).await
    }

    async fn user_by_token(
        &self,
        token_hash: &KeyHash,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        tokens::user_by_token(&self.pool, token_hash, now).await
    }

    async fn read_events(
        &self,
        enterprise: EnterpriseId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        events::read(&self.pool, enterprise, after, limit).await
    }

    async fn event_bounds(&self, enterprise: EnterpriseId) -> Result<EventBounds, StoreError> {
        events::bounds(&self.pool, enterprise).await
    }

    async fn prune(&self, retention: Retention, now: OffsetDateTime) -> Result<u64, StoreError> {
        events::prune(&self.pool, retention, now).await
    }
}
