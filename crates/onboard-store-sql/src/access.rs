//! The `api_keys`, `key_generation` and `operators` tables (CONTRACT §8).
//!
//! Every change of a key bumps `key_generation` in its own transaction and stamps
//! the changed row with the new value. On PostgreSQL the bump holds the
//! generation row until commit, so generations become visible in order and a
//! reader asking for "changed after g" never passes over a slower commit.

use crate::SqlStore;
use async_trait::async_trait;
use onboard_core::access::{
    ApiKeyId, ApiKeyRecord, KeyRefusal, NewApiKey, Operator, OperatorChange, OperatorName,
    Revocation, Role, Rotation,
};
use onboard_core::secret::KeyHash;
use onboard_core::store::AccessStore;
use onboard_core::store::{Enterprise, EnterpriseId, StoreError, from_micros, micros};
use time::OffsetDateTime;

use crate::args;
use crate::engine::{Engine, Row, Tx, first, one};

const KEY_COLUMNS: &str = "id, enterprise_id, label, created_at, created_by, last_used_at, \
                           expires_at, revoked_at, revoked_by, replaced_by";

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("corrupt {what} in api_keys"))
}

fn key_from(row: &Row) -> Result<ApiKeyRecord, StoreError> {
    let replaced_by = row
        .opt_text("replaced_by")?
        .map(|id| ApiKeyId::parse(&id).map_err(|_| corrupt("replaced_by")))
        .transpose()?;
    Ok(ApiKeyRecord {
        id: ApiKeyId::parse(&row.text("id")?).map_err(|_| corrupt("id"))?,
        enterprise: EnterpriseId(row.int("enterprise_id")?),
        label: row.text("label")?,
        created_at: from_micros(row.int("created_at")?),
        created_by: row.opt_text("created_by")?,
        last_used_at: row.opt_int("last_used_at")?.map(from_micros),
        expires_at: row.opt_int("expires_at")?.map(from_micros),
        revoked_at: row.opt_int("revoked_at")?.map(from_micros),
        revoked_by: row.opt_text("revoked_by")?,
        replaced_by,
    })
}

/// Moves the key generation; returns the new value. Inside the changing
/// transaction, so the generation and the change commit together.
pub(crate) async fn bump(tx: &mut impl Tx) -> Result<i64, StoreError> {
    let rows = tx
        .fetch(
            "UPDATE key_generation SET value = value + 1 WHERE id = 1 RETURNING value",
            Vec::new(),
        )
        .await?;
    one(rows)?.int("value")
}

pub(crate) async fn insert_in(
    tx: &mut impl Tx,
    key: &NewApiKey,
    generation: i64,
    now: OffsetDateTime,
) -> Result<ApiKeyRecord, StoreError> {
    let sql = format!(
        "INSERT INTO api_keys (id, enterprise_id, label, key_hash, created_at, created_by, \
         expires_at, generation) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING {KEY_COLUMNS}"
    );
    let params = args![
        key.id.as_str(),
        key.enterprise.0,
        &key.label,
        key.hash.as_str(),
        micros(now),
        &key.created_by,
        key.expires_at.map(micros),
        generation
    ];
    key_from(&one(tx.fetch(&sql, params).await?)?)
}

#[async_trait]
impl<E: Engine> AccessStore for SqlStore<E> {
    async fn insert_api_key(
        &self,
        key: &NewApiKey,
        now: OffsetDateTime,
    ) -> Result<ApiKeyRecord, StoreError> {
        let mut tx = self.engine.begin().await?;
        let generation = bump(&mut tx).await?;
        let record = insert_in(&mut tx, key, generation, now).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn list_api_keys(
        &self,
        enterprise: EnterpriseId,
    ) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE enterprise_id = ? ORDER BY created_at, id"
        );
        let rows = self.engine.read(&sql, args![enterprise.0]).await?;
        rows.iter().map(key_from).collect()
    }

    async fn api_key_by_hash(
        &self,
        hash: &KeyHash,
    ) -> Result<Option<(Enterprise, ApiKeyRecord)>, StoreError> {
        let columns = KEY_COLUMNS.replace(", ", ", k.");
        let sql = format!(
            "SELECT k.{columns}, e.name, e.created_at AS enterprise_created_at \
             FROM api_keys k JOIN enterprises e ON e.id = k.enterprise_id WHERE k.key_hash = ?"
        );
        let rows = self.engine.read(&sql, args![hash.as_str()]).await?;
        let Some(row) = first(rows) else {
            return Ok(None);
        };
        let key = key_from(&row)?;
        let enterprise = Enterprise {
            id: key.enterprise,
            name: row.text("name")?,
            created_at: from_micros(row.int("enterprise_created_at")?),
        };
        Ok(Some((enterprise, key)))
    }

    async fn revoke_api_key(
        &self,
        enterprise: EnterpriseId,
        id: &ApiKeyId,
        by: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Revocation, StoreError> {
        let mut tx = self.engine.begin().await?;
        let Some(key) = locked::<E>(&mut tx, enterprise, id).await? else {
            return Ok(Revocation::Refused(KeyRefusal::Unknown));
        };
        if let Some(at) = key.revoked_at {
            return Ok(Revocation::Refused(KeyRefusal::AlreadyRevoked(at)));
        }
        let generation = bump(&mut tx).await?;
        let sql = format!(
            "UPDATE api_keys SET revoked_at = ?, revoked_by = ?, generation = ? WHERE id = ? \
             RETURNING {KEY_COLUMNS}"
        );
        let params = args![micros(now), by.map(str::to_owned), generation, id.as_str()];
        let revoked = key_from(&one(tx.fetch(&sql, params).await?)?)?;
        tx.commit().await?;
        Ok(Revocation::Revoked(revoked))
    }

    async fn rotate_api_key(
        &self,
        id: &ApiKeyId,
        successor: &NewApiKey,
        old_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        let mut tx = self.engine.begin().await?;
        let Some(key) = locked::<E>(&mut tx, successor.enterprise, id).await? else {
            return Ok(Rotation::Refused(KeyRefusal::Unknown));
        };
        let refusal = match (&key.revoked_at, &key.expires_at, &key.replaced_by) {
            (Some(at), _, _) => Some(KeyRefusal::AlreadyRevoked(*at)),
            (_, Some(at), _) if *at <= now => Some(KeyRefusal::Expired(*at)),
            (_, _, Some(next)) => Some(KeyRefusal::AlreadyRotated(next.clone())),
            _ => None,
        };
        if let Some(refusal) = refusal {
            return Ok(Rotation::Refused(refusal));
        }
        let expires_at = key
            .expires_at
            .map_or(old_expires_at, |at| at.min(old_expires_at));
        let generation = bump(&mut tx).await?;
        let new = insert_in(&mut tx, successor, generation, now).await?;
        let sql = format!(
            "UPDATE api_keys SET expires_at = ?, replaced_by = ?, generation = ? \
             WHERE id = ? RETURNING {KEY_COLUMNS}"
        );
        let params = args![
            micros(expires_at),
            successor.id.as_str(),
            generation,
            id.as_str()
        ];
        let old = key_from(&one(tx.fetch(&sql, params).await?)?)?;
        tx.commit().await?;
        Ok(Rotation::Rotated {
            old: Box::new(old),
            new: Box::new(new),
        })
    }

    async fn touch_api_key(&self, id: &ApiKeyId, now: OffsetDateTime) -> Result<(), StoreError> {
        let a_minute_ago = micros(now - time::Duration::minutes(1));
        self.engine
            .write_count(
                "UPDATE api_keys SET last_used_at = ? \
                 WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)",
                args![micros(now), id.as_str(), a_minute_ago],
            )
            .await?;
        Ok(())
    }

    async fn key_generation(&self) -> Result<i64, StoreError> {
        generation(&self.engine).await
    }

    async fn api_keys_changed_since(
        &self,
        since: i64,
    ) -> Result<(Vec<ApiKeyRecord>, i64), StoreError> {
        // The generation first, and rows up to it only: a change committing between
        // the two reads is left whole for the next call.
        let reached = generation(&self.engine).await?;
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE generation > ? AND generation <= ? \
             ORDER BY generation"
        );
        let rows = self.engine.read(&sql, args![since, reached]).await?;
        let keys = rows.iter().map(key_from).collect::<Result<_, _>>()?;
        Ok((keys, reached))
    }

    async fn insert_operator(&self, operator: &Operator) -> Result<(), StoreError> {
        self.engine
            .write_count(
                "INSERT INTO operators (name, role, password_hash, created_at, password_set_at, \
                 disabled_at) VALUES (?, ?, ?, ?, ?, ?)",
                args![
                    operator.name.as_str(),
                    operator.role.as_str(),
                    &operator.password_hash,
                    micros(operator.created_at),
                    micros(operator.password_set_at),
                    operator.disabled_at.map(micros)
                ],
            )
            .await?;
        Ok(())
    }

    async fn list_operators(&self) -> Result<Vec<Operator>, StoreError> {
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operators ORDER BY name");
        let rows = self.engine.read(&sql, Vec::new()).await?;
        rows.iter().map(operator_from).collect()
    }

    async fn operator_by_name(&self, name: &str) -> Result<Option<Operator>, StoreError> {
        operator_by_name(&self.engine, name).await
    }

    async fn disable_operator(
        &self,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<OperatorChange, StoreError> {
        let changed = self
            .engine
            .write_count(
                "UPDATE operators SET disabled_at = ? WHERE name = ? AND disabled_at IS NULL",
                args![micros(now), name],
            )
            .await?;
        if changed == 1 {
            return Ok(OperatorChange::Changed);
        }
        Ok(match operator_by_name(&self.engine, name).await? {
            Some(_) => OperatorChange::AlreadyDisabled,
            None => OperatorChange::Unknown,
        })
    }

    async fn set_operator_password(
        &self,
        name: &str,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> Result<OperatorChange, StoreError> {
        // A new password (what one sets after a suspected compromise) also ends the
        // operator's console sessions, in the same transaction.
        let mut tx = self.engine.begin().await?;
        let changed = tx
            .execute(
                "UPDATE operators SET password_hash = ?, password_set_at = ? WHERE name = ?",
                args![password_hash, micros(now), name],
            )
            .await?;
        tx.execute(
            "DELETE FROM console_sessions WHERE operator = ?",
            args![name],
        )
        .await?;
        tx.commit().await?;
        Ok(if changed == 1 {
            OperatorChange::Changed
        } else {
            OperatorChange::Unknown
        })
    }
}

/// The key under the write lock, if it belongs to the enterprise.
async fn locked<E: Engine>(
    tx: &mut E::Tx,
    enterprise: EnterpriseId,
    id: &ApiKeyId,
) -> Result<Option<ApiKeyRecord>, StoreError> {
    let sql = format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ? AND enterprise_id = ?{}",
        E::DIALECT.for_update
    );
    let rows = tx.fetch(&sql, args![id.as_str(), enterprise.0]).await?;
    first(rows).as_ref().map(key_from).transpose()
}

pub(crate) async fn generation<E: Engine>(engine: &E) -> Result<i64, StoreError> {
    let rows = engine
        .read("SELECT value FROM key_generation WHERE id = 1", Vec::new())
        .await?;
    one(rows)?.int("value")
}

const OPERATOR_COLUMNS: &str =
    "name, role, password_hash, created_at, password_set_at, disabled_at";

fn operator_from(row: &Row) -> Result<Operator, StoreError> {
    let bad = |what: &str| StoreError::Internal(format!("corrupt {what} in operators"));
    Ok(Operator {
        name: OperatorName::parse(&row.text("name")?).map_err(|_| bad("name"))?,
        role: Role::parse(&row.text("role")?).map_err(|_| bad("role"))?,
        password_hash: row.text("password_hash")?,
        created_at: from_micros(row.int("created_at")?),
        password_set_at: from_micros(row.int("password_set_at")?),
        disabled_at: row.opt_int("disabled_at")?.map(from_micros),
    })
}

pub(crate) async fn operator_by_name<E: Engine>(
    engine: &E,
    name: &str,
) -> Result<Option<Operator>, StoreError> {
    let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE name = ?");
    let rows = engine.read(&sql, args![name]).await?;
    first(rows).as_ref().map(operator_from).transpose()
}
