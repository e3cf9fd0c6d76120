//! The `users` table: insert, read, list by keyset, deactivate.

use onboard_core::events::EventKind;
use onboard_core::lifecycle::CodeWrite;
use onboard_core::store::{
    Decide, Decided, EnterpriseId, Listed, StoreError, UserFilter, UserRow, from_micros, micros,
};
use onboard_core::user::{AccountRole, User};
use onboard_core::verification::{Channel, CodeRecord};
use sqlx::postgres::{PgConnection, PgPool, PgRow};
use sqlx::{Postgres, QueryBuilder, Row};
use time::OffsetDateTime;

use crate::{classify, events};

pub(crate) use onboard_core::store::SUMMARY_COLUMNS;

fn row_from(row: &PgRow, with_profile: bool) -> Result<UserRow, sqlx::Error> {
    Ok(UserRow {
        position: row.try_get("position")?,
        id: row.try_get("id")?,
        account_type: row.try_get("account_type")?,
        account_role: row.try_get("account_role")?,
        user_id: row.try_get("user_id")?,
        advisor_user_id: row.try_get("advisor_user_id")?,
        email: row.try_get("email")?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        phone_number: row.try_get("phone_number")?,
        status: row.try_get("status")?,
        email_required: row.try_get("email_required")?,
        sms_required: row.try_get("sms_required")?,
        profile: if with_profile {
            Some(row.try_get("profile")?)
        } else {
            None
        },
    })
}

/// A full user (with profile) from a row of `SUMMARY_COLUMNS, profile`.
pub(crate) fn user_from(row: &PgRow) -> Result<User, StoreError> {
    row_from(row, true).map_err(classify)?.decode()
}

pub(crate) async fn insert(
    pool: &PgPool,
    enterprise: EnterpriseId,
    user: &User,
    cause: &str,
    first_code: Option<(Channel, &CodeRecord)>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let row = UserRow::encode(user)?;
    let mut tx = pool.begin().await.map_err(classify)?;
    if let Some(advisor) = &row.advisor_user_id {
        let role: Option<String> = sqlx::query_scalar(
            "SELECT account_role FROM users WHERE enterprise_id = $1 AND user_id = $2 AND active \
             FOR SHARE",
        )
        .bind(enterprise.0)
        .bind(advisor)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
        if role.as_deref() != Some(AccountRole::Advisor.as_str()) {
            return Err(StoreError::AdvisorUnavailable);
        }
    }
    let position: i64 = sqlx::query_scalar(
        "INSERT INTO users (enterprise_id, user_id, id, account_type, account_role, \
         advisor_user_id, email, first_name, last_name, phone_number, status, \
         email_required, sms_required, profile, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
         RETURNING position",
    )
    .bind(enterprise.0)
    .bind(&row.user_id)
    .bind(&row.id)
    .bind(&row.account_type)
    .bind(&row.account_role)
    .bind(&row.advisor_user_id)
    .bind(&row.email)
    .bind(&row.first_name)
    .bind(&row.last_name)
    .bind(&row.phone_number)
    .bind(&row.status)
    .bind(row.email_required)
    .bind(row.sms_required)
    .bind(&row.profile)
    .bind(micros(now))
    .bind(micros(now))
    .fetch_one(&mut *tx)
    .await
    .map_err(classify)?;
    if let Some((channel, code)) = first_code {
        write_code(&mut tx, position, channel, CodeWrite::Replace(code.clone())).await?;
    }
    events::append(
        &mut tx,
        enterprise,
        EventKind::Registered,
        cause,
        &user.summary,
        now,
    )
    .await?;
    tx.commit().await.map_err(classify)
}

pub(crate) async fn find(
    pool: &PgPool,
    enterprise: EnterpriseId,
    user_id: &str,
) -> Result<Option<User>, StoreError> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS}, profile FROM users \
         WHERE enterprise_id = $1 AND user_id = $2 AND active"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(enterprise.0)
        .bind(user_id)
        .fetch_optional(pool)
        .await
        .map_err(classify)?;
    row.as_ref().map(user_from).transpose()
}

pub(crate) async fn list(
    pool: &PgPool,
    enterprise: EnterpriseId,
    filter: UserFilter,
    after: Option<i64>,
    limit: u32,
) -> Result<Vec<Listed>, StoreError> {
    let mut q = QueryBuilder::<Postgres>::new(format!("SELECT {SUMMARY_COLUMNS} FROM users "));
    q.push("WHERE enterprise_id = ").push_bind(enterprise.0);
    q.push(" AND active AND position > ")
        .push_bind(after.unwrap_or(0));
    if let Some(role) = filter.role {
        q.push(" AND account_role = ").push_bind(role.as_str());
    }
    if let Some(status) = filter.status {
        q.push(" AND status = ").push_bind(status.as_str());
    }
    q.push(" ORDER BY position LIMIT ")
        .push_bind(i64::from(limit));
    let rows = q.build().fetch_all(pool).await.map_err(classify)?;
    rows.iter()
        .map(|r| row_from(r, false).map_err(classify)?.decode_summary())
        .collect()
}

pub(crate) async fn deactivate(
    pool: &PgPool,
    enterprise: EnterpriseId,
    user_id: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await.map_err(classify)?;
    let sql = format!(
        "UPDATE users SET active = FALSE, deactivated_at = $1, updated_at = $1 \
         WHERE enterprise_id = $2 AND user_id = $3 AND active RETURNING {SUMMARY_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(micros(now))
        .bind(enterprise.0)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
    let Some(row) = row else {
        return Ok(false);
    };
    let summary = row_from(&row, false)
        .map_err(classify)?
        .decode_summary()?
        .user;
    events::append(
        &mut tx,
        enterprise,
        EventKind::Deactivated,
        "deactivated",
        &summary,
        now,
    )
    .await?;
    tx.commit().await.map_err(classify)?;
    Ok(true)
}

/// See `Store::decide`: the whole read-decide-write runs holding the user row lock.
pub(crate) async fn decide(
    pool: &PgPool,
    enterprise: EnterpriseId,
    user_id: &str,
    channel: Option<Channel>,
    now: OffsetDateTime,
    decide: Decide<'_>,
) -> Result<Option<Decided>, StoreError> {
    let mut tx = pool.begin().await.map_err(classify)?;
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS}, profile FROM users \
         WHERE enterprise_id = $1 AND user_id = $2 AND active FOR UPDATE"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(enterprise.0)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let position: i64 = row.try_get("position").map_err(classify)?;
    let mut user = user_from(&row)?;
    let code = match channel {
        Some(c) => read_code(&mut tx, position, c).await?,
        None => None,
    };
    let decision = decide(&user, code.as_ref());
    if let Some(c) = channel {
        write_code(&mut tx, position, c, decision.code).await?;
    }
    if let Some(t) = decision.transition {
        let s = &mut user.summary;
        if (t.status, t.requirements) != (s.status, s.requirements) {
            s.status = t.status;
            s.requirements = t.requirements;
            sqlx::query(
                "UPDATE users SET status = $1, email_required = $2, sms_required = $3, \
                 updated_at = $4 WHERE position = $5",
            )
            .bind(s.status.as_str())
            .bind(s.requirements.email)
            .bind(s.requirements.sms)
            .bind(micros(now))
            .bind(position)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
            events::append(&mut tx, enterprise, EventKind::Updated, &t.cause, s, now).await?;
        }
    }
    tx.commit().await.map_err(classify)?;
    Ok(Some(Decided {
        outcome: decision.outcome,
        user,
        previous_code: code,
    }))
}

async fn read_code(
    tx: &mut PgConnection,
    position: i64,
    channel: Channel,
) -> Result<Option<CodeRecord>, StoreError> {
    let row = sqlx::query(
        "SELECT code_hash, sent_at, expires_at, failed_attempts FROM verification_codes \
         WHERE user_position = $1 AND channel = $2",
    )
    .bind(position)
    .bind(channel.as_str())
    .fetch_optional(&mut *tx)
    .await
    .map_err(classify)?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(CodeRecord {
        hash: row.try_get("code_hash").map_err(classify)?,
        sent_at: from_micros(row.try_get("sent_at").map_err(classify)?),
        expires_at: from_micros(row.try_get("expires_at").map_err(classify)?),
        failed_attempts: row.try_get::<i32, _>("failed_attempts").map_err(classify)? as u32,
    }))
}

async fn write_code(
    tx: &mut PgConnection,
    position: i64,
    channel: Channel,
    write: CodeWrite,
) -> Result<(), StoreError> {
    let query = match write {
        CodeWrite::Keep => return Ok(()),
        CodeWrite::Replace(code) => sqlx::query(
            "INSERT INTO verification_codes \
             (user_position, channel, code_hash, sent_at, expires_at, failed_attempts) \
             VALUES ($1, $2, $3, $4, $5, 0) \
             ON CONFLICT (user_position, channel) DO UPDATE SET code_hash = EXCLUDED.code_hash, \
             sent_at = EXCLUDED.sent_at, expires_at = EXCLUDED.expires_at, failed_attempts = 0",
        )
        .bind(position)
        .bind(channel.as_str())
        .bind(code.hash)
        .bind(micros(code.sent_at))
        .bind(micros(code.expires_at)),
        CodeWrite::Consume => sqlx::query(
            "UPDATE verification_codes SET code_hash = NULL \
             WHERE user_position = $1 AND channel = $2",
        )
        .bind(position)
        .bind(channel.as_str()),
        CodeWrite::CountFailure => sqlx::query(
            "UPDATE verification_codes SET failed_attempts = failed_attempts + 1 \
             WHERE user_position = $1 AND channel = $2",
        )
        .bind(position)
        .bind(channel.as_str()),
    };
    query.execute(&mut *tx).await.map_err(classify)?;
    Ok(())
}

pub(crate) async fn restore_code(
    pool: &PgPool,
    enterprise: EnterpriseId,
    user_id: &str,
    channel: Channel,
    failed: OffsetDateTime,
    previous: Option<&CodeRecord>,
) -> Result<(), StoreError> {
    // The code row of the failed send; a newer send has another `sent_at`.
    let target = "channel = $1 AND sent_at = $2 AND user_position = \
         (SELECT position FROM users WHERE enterprise_id = $3 AND user_id = $4)";
    let query = match previous {
        None => sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM verification_codes WHERE {target}"
        ))),
        Some(_) => sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE verification_codes SET code_hash = $5, sent_at = $6, expires_at = $7, \
             failed_attempts = $8 WHERE {target}"
        ))),
    };
    let query = query
        .bind(channel.as_str())
        .bind(micros(failed))
        .bind(enterprise.0)
        .bind(user_id);
    let query = match previous {
        None => query,
        Some(code) => query
            .bind(code.hash.clone())
            .bind(micros(code.sent_at))
            .bind(micros(code.expires_at))
            .bind(code.failed_attempts as i32),
    };
    query.execute(pool).await.map_err(classify)?;
    Ok(())
}
