//! API keys and operators (CONTRACT §8).

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;
use crate::access::{
    ApiKeyId, ApiKeyRecord, NewApiKey, Operator, OperatorChange, Revocation, Rotation,
};
use crate::secret::KeyHash;
use crate::tenant::{Enterprise, EnterpriseId};

/// API keys and operators.
#[async_trait]
pub trait AccessStore: Send + Sync {
    /// Stores a new key of an existing enterprise and moves the key generation.
    async fn insert_api_key(
        &self,
        key: &NewApiKey,
        now: OffsetDateTime,
    ) -> Result<ApiKeyRecord, StoreError>;

    /// The enterprise's keys, oldest first, revoked and expired ones included.
    async fn list_api_keys(
        &self,
        enterprise: EnterpriseId,
    ) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// The key that hashes to `hash` and its enterprise, whatever its state.
    async fn api_key_by_hash(
        &self,
        hash: &KeyHash,
    ) -> Result<Option<(Enterprise, ApiKeyRecord)>, StoreError>;

    /// Revokes a key of the enterprise (refused when unknown or already
    /// revoked) and moves the key generation, in one transaction.
    async fn revoke_api_key(
        &self,
        enterprise: EnterpriseId,
        id: &ApiKeyId,
        by: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Revocation, StoreError>;

    /// Stores `successor` and makes the key `id` expire at `old_expires_at` (or
    /// its own earlier expiry), in one transaction that moves the key
    /// generation. Refused when the key is unknown, revoked, expired at `now`
    /// or already rotated.
    async fn rotate_api_key(
        &self,
        id: &ApiKeyId,
        successor: &NewApiKey,
        old_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError>;

    /// Records a use of the key, unless one was recorded less than a minute
    /// before `now` (so a busy key costs one write a minute, cluster-wide).
    async fn touch_api_key(&self, id: &ApiKeyId, now: OffsetDateTime) -> Result<(), StoreError>;

    /// The key generation: moves with every change of any key.
    async fn key_generation(&self) -> Result<i64, StoreError>;

    /// The keys whose last change came after `generation`, and the generation
    /// they bring the reader to.
    async fn api_keys_changed_since(
        &self,
        generation: i64,
    ) -> Result<(Vec<ApiKeyRecord>, i64), StoreError>;

    /// Stores a new operator; `Conflict` when the name is taken.
    async fn insert_operator(&self, operator: &Operator) -> Result<(), StoreError>;

    /// Every operator, by name.
    async fn list_operators(&self) -> Result<Vec<Operator>, StoreError>;

    async fn operator_by_name(&self, name: &str) -> Result<Option<Operator>, StoreError>;

    /// Disables an operator from `now` on.
    async fn disable_operator(
        &self,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<OperatorChange, StoreError>;

    /// Replaces an operator's password hash (a disabled operator's too: it
    /// stays disabled).
    async fn set_operator_password(
        &self,
        name: &str,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> Result<OperatorChange, StoreError>;
}
