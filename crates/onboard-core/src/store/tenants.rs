//! Enterprises (the tenants every other row belongs to) and the secrets that
//! every node sharing one database must agree on.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;
use crate::secret::KeyHash;
use crate::tenant::Enterprise;

/// Enterprises and shared server secrets.
#[async_trait]
pub trait TenantStore: Send + Sync {
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

    async fn enterprise_by_name(&self, name: &str) -> Result<Option<Enterprise>, StoreError>;

    /// The server secret called `name`: the one already stored, or else
    /// `candidate`, stored now. Every process sharing the database gets the same.
    async fn server_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError>;
}
