//! The `user_tokens` and `outbox` tables.

use onboard_core::secret::KeyHash;
use onboard_core::store::{EnterpriseId, OutboxEntry, StoreError, TokenGrant, from_micros, micros};
use onboard_core::user::User;
use onboard_core::verification::Channel;
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{Postgres, QueryBuilder, Row};
use time::OffsetDateTime;

use crate::classify;
use crate::users::{SUMMARY_COLUMNS, user_from};

pub(crate) async fn mint(
    pool: &PgPool,
    enterprise: EnterpriseId,
    grants: &[TokenGrant],
    now: OffsetDateTime,
) -> Result<Result<(), String>, StoreError> {
    let mut tx = pool.begin().await.map_err(classify)?;
    for grant in grants {
        if !grant_one(&mut tx, enterprise, grant, now).await? {
            return Ok(Err(grant.user_id.clone()));
        }
    }
    tx.commit().await.map_err(classify)?;
    Ok(Ok(()))
}

pub(crate) async fn grant_best_effort(
    pool: &PgPool,
    enterprise: EnterpriseId,
    grants: &[TokenGrant],
    now: OffsetDateTime,
) -> Result<Vec<bool>, StoreError> {
    let mut tx = pool.begin().await.map_err(classify)?;
    let mut granted = Vec::with_capacity(grants.len());
    for grant in grants {
        granted.push(grant_one(&mut tx, enterprise, grant, now).await?);
    }
    tx.commit().await.map_err(classify)?;
    Ok(granted)
}

/// Stores one token hash if the user is active; `false` if it is not.
async fn grant_one(
    tx: &mut PgConnection,
    enterprise: EnterpriseId,
    grant: &TokenGrant,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO user_tokens (token_hash, user_position, expires_at, created_at) \
         SELECT $1, position, $2, $3 FROM users \
         WHERE enterprise_id = $4 AND user_id = $5 AND active",
    )
    .bind(grant.hash.as_str())
    .bind(micros(grant.expires_at))
    .bind(micros(now))
    .bind(enterprise.0)
    .bind(&grant.user_id)
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    Ok(inserted.rows_affected() == 1)
}

pub(crate) async fn user_by_token(
    pool: &PgPool,
    hash: &KeyHash,
    now: OffsetDateTime,
) -> Result<Option<User>, StoreError> {
    let columns = SUMMARY_COLUMNS.replace(", ", ", u.");
    let sql = format!(
        "SELECT u.{columns}, u.profile FROM user_tokens t \
         JOIN users u ON u.position = t.user_position \
         WHERE t.token_hash = $1 AND t.expires_at > $2 AND u.active"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(hash.as_str())
        .bind(micros(now))
        .fetch_optional(pool)
        .await
        .map_err(classify)?;
    row.as_ref().map(user_from).transpose()
}

pub(crate) async fn append_outbox(pool: &PgPool, m: &OutboxEntry) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox (enterprise_id, user_id, channel, recipient, code, sent_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(m.enterprise.0)
    .bind(&m.user_id)
    .bind(m.channel.as_str())
    .bind(&m.to)
    .bind(&m.code)
    .bind(micros(m.sent_at))
    .execute(pool)
    .await
    .map_err(classify)?;
    Ok(())
}

pub(crate) async fn list_outbox(
    pool: &PgPool,
    enterprise: Option<EnterpriseId>,
    user_id: Option<&str>,
    limit: u32,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut q = QueryBuilder::<Postgres>::new(
        "SELECT enterprise_id, user_id, channel, recipient, code, sent_at FROM outbox WHERE TRUE",
    );
    if let Some(e) = enterprise {
        q.push(" AND enterprise_id = ").push_bind(e.0);
    }
    if let Some(u) = user_id {
        q.push(" AND user_id = ").push_bind(u.to_owned());
    }
    q.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(limit));
    let rows = q.build().fetch_all(pool).await.map_err(classify)?;
    rows.iter()
        .map(|r| {
            let channel: String = r.try_get("channel").map_err(classify)?;
            Ok(OutboxEntry {
                enterprise: EnterpriseId(r.try_get("enterprise_id").map_err(classify)?),
                user_id: r.try_get("user_id").map_err(classify)?,
                channel: Channel::parse(&channel)
                    .map_err(|_| StoreError::Internal("corrupt outbox channel".into()))?,
                to: r.try_get("recipient").map_err(classify)?,
                code: r.try_get("code").map_err(classify)?,
                sent_at: from_micros(r.try_get("sent_at").map_err(classify)?),
            })
        })
        .collect()
}
