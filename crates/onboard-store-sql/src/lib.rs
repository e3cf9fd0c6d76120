//! Onboard's storage ports ([`onboard_core::store`]) written once: every
//! statement, every row mapping and the order of writes of each use case, for
//! every database backend. Start with [`SqlStore`], then [`Engine`].
//!
//! A backend crate implements [`Engine`] (run a statement, begin and commit a
//! write transaction, map its driver's errors) and declares its [`Dialect`] (row
//! locks, notify-at-commit); it keeps its own migrations. Statements are written
//! in the SQL both SQLite and PostgreSQL accept, with `?` placeholders.
//!
//! Each role trait of the core is implemented, with its SQL, in the module of
//! the same name:
//!
//! - [`engine`]: the engine trait, parameter and column values, the dialect.
//! - `tenants`: [`TenantStore`](onboard_core::store::TenantStore), enterprises
//!   and shared server secrets.
//! - `users`: [`UserStore`](onboard_core::store::UserStore), users and their
//!   codes; the lifecycle's read-decide-write. Its `batch` groups concurrent
//!   registrations into one transaction, its `lookups` shares concurrent reads
//!   of single users (both where the engine asks for it).
//! - `tokens`: [`TokenStore`](onboard_core::store::TokenStore), user tokens and
//!   the outbox.
//! - `events`: [`EventLog`](onboard_core::store::EventLog), the append-only
//!   event log and its bounds.
//! - `access`: [`AccessStore`](onboard_core::store::AccessStore), API keys, the
//!   key generation, and operators.
//! - `idempotency`: [`IdempotencyStore`](onboard_core::store::IdempotencyStore).
//! - `webhooks`: [`WebhookStore`](onboard_core::store::WebhookStore), endpoints,
//!   leases and attempts.
//! - `edd`: [`EddStore`](onboard_core::store::EddStore), EDD requests, answers
//!   and documents (stored in pieces).
//! - `console`: [`ConsoleStore`](onboard_core::store::ConsoleStore), the
//!   console's sessions, failed sign-ins and the reads across every enterprise.
//! - `sealing`: which columns are sealed and how; `upgrade`: sealing the rows
//!   a release before sealing wrote.
//! - [`shared_migrations`]: tables written once for both engines.

mod access;
mod console;
mod edd;
pub mod engine;
mod events;
mod idempotency;
mod sealing;
mod tenants;
mod tokens;
mod upgrade;
mod users;
mod webhooks;

/// Migrations written once for both engines, in SQL that both accept. Each engine
/// lists them among its own migrations, at its own next version number, so a new
/// table is not written twice; an engine keeps its own files only where its SQL
/// must differ.
pub mod shared_migrations {
    /// The console's sessions and sign-in lockout, and its two read indexes.
    pub const CONSOLE: &str = include_str!("../migrations/console.sql");
    /// Each user's wire JSON, rendered when its row is written.
    pub const RENDERED_USERS: &str = include_str!("../migrations/rendered_users.sql");
    /// Personal data sealed under per-user data keys, and blind indexes.
    pub const SEALED_PERSONAL_DATA: &str = include_str!("../migrations/sealed_personal_data.sql");
    /// Every shared migration, in the order each engine lists them after its own.
    pub const ALL: &[&str] = &[CONSOLE, RENDERED_USERS, SEALED_PERSONAL_DATA];
}

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use onboard_core::events::{ChangeNotifier, Retention};
use onboard_core::seal::Sealer;
use onboard_core::store::{Store, StoreError};
use time::OffsetDateTime;

pub(crate) use engine::prefixed;
pub use engine::{Dialect, Engine, Row, Tx, Value};
pub use users::{INSERT_USER, insert_args};

/// The store on one engine.
#[derive(Debug, Clone)]
pub struct SqlStore<E> {
    engine: E,
    /// Seals and opens personal data (CONTRACT §12).
    sealer: Sealer,
    /// Concurrent registrations of one enterprise, gathered into one transaction
    /// where the engine has no group commit of its own.
    registrations: Arc<users::batch::Registrations>,
    /// Concurrent reads of single users, shared where the engine asks for it.
    lookups: Arc<users::lookups::UserLookups>,
}

impl<E: Engine> SqlStore<E> {
    pub fn new(engine: E, sealer: Sealer) -> SqlStore<E> {
        SqlStore {
            engine,
            sealer,
            registrations: Arc::default(),
            lookups: Arc::default(),
        }
    }

    pub fn engine(&self) -> &E {
        &self.engine
    }
}

#[async_trait]
impl<E: Engine> Store for SqlStore<E> {
    async fn ping(&self) -> Result<(), StoreError> {
        self.engine.ping().await
    }

    async fn forward_changes(&self, notifier: Weak<dyn ChangeNotifier>) {
        self.engine.forward_changes(notifier).await
    }

    async fn seal_legacy_rows(&self) -> Result<u64, StoreError> {
        self.seal_legacy().await
    }

    async fn prune(&self, retention: Retention, now: OffsetDateTime) -> Result<u64, StoreError> {
        let removed = events::prune(&self.engine, retention, now).await?;
        idempotency::prune(&self.engine, now).await?;
        console::prune(&self.engine, now).await?;
        Ok(removed)
    }
}
