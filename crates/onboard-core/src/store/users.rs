//! End users and their verification codes: registration, the lifecycle's
//! read-decide-write, reads and lists (CONTRACT §2–§5).

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;
use crate::lifecycle::{Decision, Refusal};
use crate::tenant::EnterpriseId;
use crate::user::{AccountRole, Status, User, UserSummary};
use crate::verification::{Channel, CodeRecord};

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

/// A user in list order as its list-shape JSON (`EndUserSummary`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedJson {
    pub position: i64,
    pub json: String,
}

/// What [`UserStore::deactivate_user`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deactivation {
    Deactivated,
    /// There was no active user of that id to deactivate.
    NoActiveUser,
}

/// A lifecycle rule run by [`UserStore::decide`] inside the write transaction.
pub type Decide<'a> = &'a (dyn Fn(&User, Option<&CodeRecord>) -> Decision + Send + Sync);

/// What [`UserStore::decide`] did: the rule's answer and the user after the write.
#[derive(Debug, Clone)]
pub struct Decided {
    pub outcome: Result<(), Refusal>,
    pub user: User,
    /// The code on the channel as it was before the decision.
    pub previous_code: Option<CodeRecord>,
}

/// End users and their codes.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Stores a new user durably, with its `user.registered` event (whose cause is
    /// `cause`) and, if given, its first code, in one transaction: when this
    /// returns, all of it survives a crash.
    /// `Conflict` when the `user_id` was ever used in this enterprise;
    /// `AdvisorUnavailable` when `advisor_user_id` names no active advisor.
    async fn insert_user(
        &self,
        enterprise: EnterpriseId,
        user: &User,
        cause: &str,
        first_code: Option<(Channel, &CodeRecord)>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Runs a lifecycle decision on an active user under the write lock: loads the
    /// user and its code on `channel`, calls `decide`, and writes what it decided
    /// (code, status, requirements and a `user.updated` event) atomically.
    /// `None` when there is no such active user.
    async fn decide(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        channel: Option<Channel>,
        now: OffsetDateTime,
        decide: Decide<'_>,
    ) -> Result<Option<Decided>, StoreError>;

    /// Undoes a code whose delivery failed: the code sent at `failed` is replaced
    /// by `previous` (the code it had replaced, still usable) or removed, so that a
    /// new one can be requested at once. A newer code is left alone.
    async fn restore_code(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        channel: Channel,
        failed: OffsetDateTime,
        previous: Option<&CodeRecord>,
    ) -> Result<(), StoreError>;

    /// An active user of this enterprise.
    async fn find_user(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
    ) -> Result<Option<User>, StoreError>;

    /// An active user of this enterprise as its full wire JSON (`EndUser`), the
    /// same text [`User::to_wire`] gives for [`UserStore::find_user`]'s user.
    async fn user_json(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
    ) -> Result<Option<String>, StoreError>;

    /// [`UserStore::list_users`], each user as its list-shape JSON, the same text
    /// `UserSummary::to_wire` gives.
    async fn list_users_json(
        &self,
        enterprise: EnterpriseId,
        filter: UserFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ListedJson>, StoreError>;

    /// Up to `limit` active users after `after` in list order (oldest first).
    async fn list_users(
        &self,
        enterprise: EnterpriseId,
        filter: UserFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Listed>, StoreError>;

    /// Deactivates an active user and appends its `user.deactivated` event.
    async fn deactivate_user(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<Deactivation, StoreError>;

    /// Which of `user_ids` are active users of the enterprise (one read).
    async fn active_among(
        &self,
        enterprise: EnterpriseId,
        user_ids: &[String],
    ) -> Result<Vec<String>, StoreError>;
}
