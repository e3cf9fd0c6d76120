//! The storage port (STYLE habit 7): one async trait, one method per use case.
//! Backends live in their own crates and translate driver errors into
//! [`StoreError`] there; nothing above this trait names a driver.

use async_trait::async_trait;
use onboard_api::{Profile, Requirements};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::secret::KeyHash;
use crate::user::{AccountRole, AccountType, Status, User, UserSummary};

/// An enterprise's row id. Every user-facing query is scoped by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnterpriseId(pub i64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enterprise {
    pub id: EnterpriseId,
    pub name: String,
    pub created_at: OffsetDateTime,
}

/// What went wrong in storage, in terms the domain can act on.
#[derive(Debug, thiserror::Error)]
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
    /// Anything else: a bug or corrupt data. Logged, never shown to clients.
    #[error("storage failure: {0}")]
    Internal(String),
}

/// Filters of `GET /v1/enterprise/users` (CONTRACT §2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserFilter {
    pub role: Option<AccountRole>,
    pub status: Option<Status>,
}

/// A user in list order: `position` is the keyset cursor of the next page.
#[derive(Debug, Clone)]
pub struct Listed {
    pub position: i64,
    pub user: UserSummary,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Answers when the database is reachable (`/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates an enterprise whose API key hashes to `key_hash`.
    async fn create_enterprise(
        &self,
        name: &str,
        key_hash: &KeyHash,
        now: OffsetDateTime,
    ) -> Result<Enterprise, StoreError>;

    async fn list_enterprises(&self) -> Result<Vec<Enterprise>, StoreError>;

    async fn enterprise_by_key(&self, key_hash: &KeyHash)
    -> Result<Option<Enterprise>, StoreError>;

    /// Stores a new user durably: when this returns `Ok`, the user survives a crash.
    /// `Conflict` when the `user_id` was ever used in this enterprise;
    /// `AdvisorUnavailable` when `advisor_user_id` names no active advisor.
    async fn insert_user(
        &self,
        enterprise: EnterpriseId,
        user: &User,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// An active user of this enterprise.
    async fn find_user(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
    ) -> Result<Option<User>, StoreError>;

    /// Up to `limit` active users after `after` in list order (oldest first).
    async fn list_users(
        &self,
        enterprise: EnterpriseId,
        filter: UserFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Listed>, StoreError>;

    /// Deactivates an active user; `false` when there was none to deactivate.
    async fn deactivate_user(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}

/// A user row as every backend stores it: the list columns as text, the profile as
/// JSON. [`UserRow::decode`] is the one way back to domain types, so the backends
/// cannot disagree on how a row reads.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub position: i64,
    pub id: String,
    pub account_type: String,
    pub account_role: String,
    pub user_id: String,
    pub advisor_user_id: Option<String>,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone_number: String,
    pub status: String,
    pub email_required: bool,
    pub sms_required: bool,
    /// The profile JSON; absent when only the list columns were read.
    pub profile: Option<String>,
}

impl UserRow {
    /// The columns of a user, for an insert.
    pub fn encode(user: &User) -> Result<UserRow, StoreError> {
        let s = &user.summary;
        let profile = serde_json::to_string(&user.profile)
            .map_err(|e| StoreError::Internal(format!("profile does not serialise: {e}")))?;
        Ok(UserRow {
            position: 0,
            id: user.id.to_string(),
            account_type: s.account_type.as_str().to_owned(),
            account_role: s.account_role.as_str().to_owned(),
            user_id: s.user_id.clone(),
            advisor_user_id: s.advisor_user_id.clone(),
            email: s.email.clone(),
            first_name: s.first_name.clone(),
            last_name: s.last_name.clone(),
            phone_number: s.phone_number.clone(),
            status: s.status.as_str().to_owned(),
            email_required: s.requirements.email,
            sms_required: s.requirements.sms,
            profile: Some(profile),
        })
    }

    pub fn decode_summary(self) -> Result<Listed, StoreError> {
        let corrupt = |what: &str| StoreError::Internal(format!("corrupt user row: {what}"));
        Ok(Listed {
            position: self.position,
            user: UserSummary {
                account_type: AccountType::parse(&self.account_type)
                    .map_err(|_| corrupt("account_type"))?,
                account_role: AccountRole::parse(&self.account_role)
                    .map_err(|_| corrupt("account_role"))?,
                user_id: self.user_id,
                advisor_user_id: self.advisor_user_id,
                email: self.email,
                first_name: self.first_name,
                last_name: self.last_name,
                phone_number: self.phone_number,
                status: Status::parse(&self.status).map_err(|_| corrupt("status"))?,
                requirements: Requirements {
                    email: self.email_required,
                    sms: self.sms_required,
                },
            },
        })
    }

    pub fn decode(mut self) -> Result<User, StoreError> {
        let corrupt = |what: &str| StoreError::Internal(format!("corrupt user row: {what}"));
        let profile = self.profile.take().ok_or_else(|| corrupt("no profile"))?;
        let profile: Profile = serde_json::from_str(&profile).map_err(|_| corrupt("profile"))?;
        let id = Uuid::parse_str(&self.id).map_err(|_| corrupt("id"))?;
        Ok(User {
            summary: self.decode_summary()?.user,
            id,
            profile,
        })
    }
}
