//! The `enterprises` and `server_secrets` tables.

use async_trait::async_trait;
use onboard_core::access::{ApiKeyId, NewApiKey};
use onboard_core::secret::KeyHash;
use onboard_core::store::{
    AccessStore, Enterprise, EnterpriseId, StoreError, TenantStore, from_micros, micros,
};
use time::OffsetDateTime;

use crate::access::{bump, insert_in};
use crate::engine::{Engine, Row, Tx, first, one};
use crate::{SqlStore, args};

const ENTERPRISE_COLUMNS: &str = "id, name, created_at";

fn enterprise_from(row: &Row) -> Result<Enterprise, StoreError> {
    Ok(Enterprise {
        id: EnterpriseId(row.int("id")?),
        name: row.text("name")?,
        created_at: from_micros(row.int("created_at")?),
    })
}

#[async_trait]
impl<E: Engine> TenantStore for SqlStore<E> {
    /// The enterprise row and its first key, in one transaction.
    async fn create_enterprise(
        &self,
        name: &str,
        key_hash: &KeyHash,
        now: OffsetDateTime,
    ) -> Result<Enterprise, StoreError> {
        let mut tx = self.engine.begin().await?;
        let sql = format!(
            "INSERT INTO enterprises (name, api_key_hash, created_at) VALUES (?, ?, ?) \
             RETURNING {ENTERPRISE_COLUMNS}"
        );
        let rows = tx
            .fetch(&sql, args![name, key_hash.as_str(), micros(now)])
            .await?;
        let enterprise = enterprise_from(&one(rows)?)?;
        let first_key = NewApiKey {
            id: ApiKeyId::generate(),
            enterprise: enterprise.id,
            label: "first key".to_owned(),
            hash: key_hash.clone(),
            expires_at: None,
            created_by: None,
        };
        let generation = bump(&mut tx).await?;
        insert_in(&mut tx, &first_key, generation, now).await?;
        tx.commit().await?;
        Ok(enterprise)
    }

    async fn list_enterprises(&self) -> Result<Vec<Enterprise>, StoreError> {
        let sql = format!("SELECT {ENTERPRISE_COLUMNS} FROM enterprises ORDER BY id");
        let rows = self.engine.read(&sql, Vec::new()).await?;
        rows.iter().map(enterprise_from).collect()
    }

    async fn enterprise_by_key(
        &self,
        key_hash: &KeyHash,
    ) -> Result<Option<Enterprise>, StoreError> {
        // Any key not revoked; expiry needs the service's clock, which the
        // authenticating caller (`api_key_by_hash`) applies.
        Ok(self
            .api_key_by_hash(key_hash)
            .await?
            .filter(|(_, key)| key.revoked_at.is_none())
            .map(|(enterprise, _)| enterprise))
    }

    async fn enterprise_by_name(&self, name: &str) -> Result<Option<Enterprise>, StoreError> {
        let sql = format!("SELECT {ENTERPRISE_COLUMNS} FROM enterprises WHERE name = ?");
        let rows = self.engine.read(&sql, args![name]).await?;
        first(rows).as_ref().map(enterprise_from).transpose()
    }

    async fn server_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        self.engine
            .write_count(
                "INSERT INTO server_secrets (name, value) VALUES (?, ?) \
                 ON CONFLICT (name) DO NOTHING",
                args![name, candidate],
            )
            .await?;
        let rows = self
            .engine
            .read(
                "SELECT value FROM server_secrets WHERE name = ?",
                args![name],
            )
            .await?;
        one(rows)?.text("value")
    }
}
