//! What the operator console (CONTRACT §10) keeps and reads beyond the API's own
//! rows: sessions, failed sign-ins, and reads across every enterprise.

use crate::events::Event;
use crate::store::StoreError;
use crate::tenant::EnterpriseId;
use async_trait::async_trait;
use time::OffsetDateTime;

use crate::edd::EddRequest;
use crate::secret::KeyHash;
use crate::user::{AccountRole, AccountType, Status, UserSummary};

/// A console session as stored: the token itself is never kept, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub token_hash: KeyHash,
    pub operator: String,
    /// The anti-forgery token every form of this session carries.
    pub csrf: String,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    /// `last_seen_at` plus the idle limit.
    pub expires_at: OffsetDateTime,
}

/// The lockout rule the store applies to failed sign-ins of one name: `max`
/// failures within `window` lock the name for `lock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    pub max: i64,
    pub window: time::Duration,
    pub lock: time::Duration,
}

/// Filters of the console's Users page, all optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleFilter {
    pub enterprise: Option<crate::tenant::EnterpriseId>,
    pub status: Option<Status>,
    pub role: Option<AccountRole>,
    pub account_type: Option<AccountType>,
    /// Matches a `user_id` or an email exactly (case-insensitive for emails),
    /// or the start of a first or last name (case-insensitive).
    pub search: Option<String>,
}

/// A user listed by the console, with the name of its enterprise.
#[derive(Debug, Clone)]
pub struct ConsoleListed {
    /// Keyset cursor: the next page starts after it.
    pub position: i64,
    pub enterprise: String,
    pub user: UserSummary,
    pub created_at: OffsetDateTime,
}

/// An EDD request as the console shows it: its enterprise and its answers.
#[derive(Debug, Clone)]
pub struct ConsoleEdd {
    pub enterprise: String,
    pub request: EddRequest,
    /// The answers as stored (JSON), once given.
    pub answers: Option<String>,
    pub reviewed_by: Option<String>,
    pub review_note: Option<String>,
}

/// What the operator console keeps and reads.
#[async_trait]
pub trait ConsoleStore: Send + Sync {
    async fn insert_console_session(&self, session: &SessionRecord) -> Result<(), StoreError>;

    /// The session whose token hashes to `hash`, expired or not.
    async fn console_session(&self, hash: &KeyHash) -> Result<Option<SessionRecord>, StoreError>;

    /// Moves a session's last use to `now` and its expiry to `expires_at`.
    async fn touch_console_session(
        &self,
        hash: &KeyHash,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    async fn delete_console_session(&self, hash: &KeyHash) -> Result<(), StoreError>;

    /// Until when sign-ins of `name` are refused, if they are at `now`.
    async fn sign_in_locked_until(
        &self,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError>;

    /// Counts a failed sign-in of `name` (known or not) under `rule`, in one
    /// write transaction; returns the lock's end when this failure locked it.
    async fn record_sign_in_failure(
        &self,
        name: &str,
        rule: Lockout,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError>;

    /// Forgets the failures of `name` (after a successful sign-in).
    async fn clear_sign_in_failures(&self, name: &str) -> Result<(), StoreError>;

    /// Active users of every enterprise after `after`, in list order.
    async fn console_users(
        &self,
        filter: &ConsoleFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ConsoleListed>, StoreError>;

    /// Active `PENDING` users with no requirement left, oldest first.
    async fn review_queue(&self, limit: u32) -> Result<Vec<ConsoleListed>, StoreError>;

    /// The latest `limit` events about one user, newest first.
    async fn user_events(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError>;

    /// EDD requests with their answers: one user's (any status), or every
    /// enterprise's requests not yet reviewed, oldest first.
    async fn console_edd(
        &self,
        user: Option<(EnterpriseId, &str)>,
        limit: u32,
    ) -> Result<Vec<ConsoleEdd>, StoreError>;
}
