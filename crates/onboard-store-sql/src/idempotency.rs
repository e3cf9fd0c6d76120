//! The `idempotency_keys` table: a claim while the first request runs, then its
//! answer, kept for retries (CONTRACT §8).

use crate::SqlStore;
use async_trait::async_trait;
use onboard_core::store::IdempotencyStore;
use onboard_core::store::{
    Claim, EnterpriseId, IDEMPOTENCY_KEPT, KeptAnswer, RequestTarget, StoreError, micros,
};
use time::OffsetDateTime;

use crate::args;
use crate::engine::{Engine, Row, Tx, first};

const COLUMNS: &str = "request_method, request_path, fingerprint, status, response_body, \
     created_at, locked_until";

/// What a stored row says to a new request at `now`.
fn standing(row: &Row, now: OffsetDateTime) -> Result<Option<Claim>, StoreError> {
    let kept_since = micros(now - IDEMPOTENCY_KEPT);
    let request = RequestTarget {
        method: row.text("request_method")?,
        path: row.text("request_path")?,
    };
    match row.opt_int("status")? {
        Some(status) if row.int("created_at")? >= kept_since => {
            Ok(Some(Claim::Answered(KeptAnswer {
                request,
                fingerprint: row.text("fingerprint")?,
                status: u16::try_from(status)
                    .map_err(|_| StoreError::Internal(format!("kept status {status}")))?,
                body: row.text("response_body")?,
            })))
        }
        // An answer past its time: the key is free again.
        Some(_) => Ok(None),
        None if row.int("locked_until")? > micros(now) => Ok(Some(Claim::InFlight)),
        // A claim whose node never answered: free again.
        None => Ok(None),
    }
}

#[async_trait]
impl<E: Engine> IdempotencyStore for SqlStore<E> {
    async fn claim_idempotency_key(
        &self,
        enterprise: EnterpriseId,
        key: &str,
        request: &RequestTarget,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Claim, StoreError> {
        let select = format!(
            "SELECT {COLUMNS} FROM idempotency_keys WHERE enterprise_id = ? AND idem_key = ?"
        );
        // A plain read first: retries and waiters answer without taking the write lock.
        if let Some(row) = first(self.engine.read(&select, args![enterprise.0, key]).await?)
            && let Some(held) = standing(&row, now)?
        {
            return Ok(held);
        }
        let mut tx = self.engine.begin().await?;
        let locked = format!("{select}{}", E::DIALECT.for_update);
        let rows = tx.fetch(&locked, args![enterprise.0, key]).await?;
        if let Some(row) = first(rows)
            && let Some(held) = standing(&row, now)?
        {
            return Ok(held);
        }
        // No row, or one that no longer holds the key: this request takes it. The
        // update's condition repeats that test, for a row another node inserted
        // after the read above (PostgreSQL has nothing to lock while no row exists).
        let claimed = tx
            .execute(
                "INSERT INTO idempotency_keys (enterprise_id, idem_key, request_method, \
                 request_path, created_at, locked_until) VALUES (?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (enterprise_id, idem_key) DO UPDATE SET \
                 request_method = excluded.request_method, request_path = excluded.request_path, \
                 fingerprint = NULL, status = NULL, response_body = NULL, \
                 created_at = excluded.created_at, locked_until = excluded.locked_until \
                 WHERE (idempotency_keys.status IS NULL AND idempotency_keys.locked_until <= ?) \
                 OR (idempotency_keys.status IS NOT NULL AND idempotency_keys.created_at < ?)",
                args![
                    enterprise.0,
                    key,
                    request.method.as_str(),
                    request.path.as_str(),
                    micros(now),
                    micros(lease_until),
                    micros(now),
                    micros(now - IDEMPOTENCY_KEPT)
                ],
            )
            .await?;
        if claimed == 0 {
            // Taken by another node a moment ago.
            return Ok(Claim::InFlight);
        }
        tx.commit().await?;
        Ok(Claim::Claimed)
    }

    async fn keep_idempotent_answer(
        &self,
        enterprise: EnterpriseId,
        key: &str,
        answer: &KeptAnswer,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.engine
            .write_count(
                "UPDATE idempotency_keys SET fingerprint = ?, status = ?, response_body = ?, \
                 request_method = ?, request_path = ?, created_at = ? \
                 WHERE enterprise_id = ? AND idem_key = ? AND status IS NULL",
                args![
                    answer.fingerprint.as_str(),
                    i64::from(answer.status),
                    answer.body.as_str(),
                    answer.request.method.as_str(),
                    answer.request.path.as_str(),
                    micros(now),
                    enterprise.0,
                    key
                ],
            )
            .await?;
        Ok(())
    }

    async fn release_idempotency_key(
        &self,
        enterprise: EnterpriseId,
        key: &str,
    ) -> Result<(), StoreError> {
        self.engine
            .write_count(
                "DELETE FROM idempotency_keys \
                 WHERE enterprise_id = ? AND idem_key = ? AND status IS NULL",
                args![enterprise.0, key],
            )
            .await?;
        Ok(())
    }
}

/// Deletes the answers and claims that no longer hold their key.
pub(crate) async fn prune<E: Engine>(engine: &E, now: OffsetDateTime) -> Result<(), StoreError> {
    engine
        .write_count(
            "DELETE FROM idempotency_keys WHERE created_at < ? AND locked_until < ?",
            args![micros(now - IDEMPOTENCY_KEPT), micros(now)],
        )
        .await?;
    Ok(())
}
