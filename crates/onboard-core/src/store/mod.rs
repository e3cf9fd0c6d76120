//! The storage ports: one small trait per kind of thing kept, named after it,
//! and [`Store`], which is all of them at once (what the service holds).
//! Backends live in their own crates and translate driver errors into
//! [`StoreError`] there; nothing above these traits names a driver or holds SQL.
//!
//! - [`TenantStore`] (`tenants`): enterprises and shared server secrets.
//! - [`UserStore`] (`users`): users, their codes, the lifecycle's read-decide-write.
//! - [`TokenStore`] (`tokens`): user tokens and the outbox.
//! - [`EventLog`] (`events`): reading the event log.
//! - [`AccessStore`] (`access`): API keys and operators.
//! - [`IdempotencyStore`] (`idempotency`): idempotency keys and kept answers.
//! - [`WebhookStore`] (`webhooks`): endpoints, delivery leases and attempts.
//! - [`EddStore`] (`edd`): EDD requests, answers and documents.
//! - [`ConsoleStore`] (`console`): console sessions, sign-in lockout, cross-enterprise reads.
//! - `rows`: the user and event rows every backend stores, and their encoding.

mod access;
mod console;
mod edd;
mod events;
mod idempotency;
mod rows;
mod tenants;
mod tokens;
mod users;
mod webhooks;

use std::sync::Weak;

use async_trait::async_trait;

pub use access::AccessStore;
pub use console::{ConsoleEdd, ConsoleFilter, ConsoleListed, ConsoleStore, Lockout, SessionRecord};
pub use edd::{
    CHUNK_SIZE, ChunkSource, DocumentTotals, DocumentUsage, DocumentsStored, EddAnswering,
    EddAnswers, EddOpening, EddReviewing, EddStore, NewDocument,
};
pub use events::{EventBounds, EventLog};
pub use idempotency::{Claim, IDEMPOTENCY_KEPT, IdempotencyStore, KeptAnswer, RequestTarget};
pub use rows::{EventRow, Rendered, UserRow, from_micros, micros, render};
pub use tenants::TenantStore;
pub use tokens::{Grant, Minting, OutboxEntry, TokenGrant, TokenStore};
pub use users::{Deactivation, Decide, Decided, Listed, ListedJson, UserFilter, UserStore};
pub use webhooks::WebhookStore;

use crate::events::{ChangeNotifier, Retention};
pub use crate::tenant::{Enterprise, EnterpriseId};
use time::OffsetDateTime;

/// What went wrong in storage, in terms the domain can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule refused the write (duplicate `user_id`, enterprise name…).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The advisor named by a new client is missing, deactivated or not an advisor
    /// (checked inside the write, so a concurrent deactivation cannot slip through).
    #[error("advisor unavailable")]
    AdvisorUnavailable,
    /// The database cannot be reached or is not answering.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database's disk has no room for the write (CONTRACT §13).
    #[error("the database's disk is full: {0}")]
    DiskFull(String),
    /// The master keyring cannot open the database's data keys: the wrong
    /// keyring, or one missing a version still in use.
    #[error("the master keyring cannot open this database's data keys: {0}")]
    Keyring(String),
    /// Anything else: a bug or corrupt data. Logged, never shown to clients.
    #[error("storage failure: {0}")]
    Internal(String),
}

/// Every role at once, and what concerns the database as a whole.
#[async_trait]
pub trait Store:
    TenantStore
    + UserStore
    + TokenStore
    + EventLog
    + AccessStore
    + IdempotencyStore
    + WebhookStore
    + EddStore
    + ConsoleStore
    + 'static
{
    /// Answers when the database is reachable (`/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Forwards changes committed by *other* processes sharing the database to
    /// `notifier`, for as long as it lives. Backends that cannot hear them do
    /// nothing; the feed's polling finds those changes anyway, only later.
    async fn forward_changes(&self, notifier: Weak<dyn ChangeNotifier>) {
        let _ = notifier;
    }

    /// Deletes events beyond `retention`, expired user tokens and idempotency
    /// keys older than [`IDEMPOTENCY_KEPT`]; returns how many events went.
    async fn prune(&self, retention: Retention, now: OffsetDateTime) -> Result<u64, StoreError>;

    /// Seals the personal data of every user a release before sealing wrote in
    /// the clear, with everything hanging from it, one user per transaction,
    /// then rewrites the database's files so the plaintext does not linger
    /// (CONTRACT §12). Returns how many users it sealed; resumable.
    async fn seal_legacy_rows(&self) -> Result<u64, StoreError>;
}
