//! The `users` table: insert, read, list by keyset, deactivate.

use onboard_core::store::{EnterpriseId, Listed, StoreError, UserFilter, UserRow};
use onboard_core::user::{AccountRole, User};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite};
use time::OffsetDateTime;

use crate::{classify, micros};

const SUMMARY_COLUMNS: &str = "position, id, account_type, account_role, user_id, \
    advisor_user_id, email, first_name, last_name, phone_number, status, \
    email_required, sms_required";

fn row_from(row: &SqliteRow, with_profile: bool) -> Result<UserRow, sqlx::Error> {
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

pub(crate) async fn insert(
    writer: &SqlitePool,
    enterprise: EnterpriseId,
    user: &User,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let row = UserRow::encode(user)?;
    let mut tx = writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(classify)?;
    if let Some(advisor) = &row.advisor_user_id {
        let role: Option<String> = sqlx::query_scalar(
            "SELECT account_role FROM users WHERE enterprise_id = ? AND user_id = ? AND active = 1",
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
    sqlx::query(
        "INSERT INTO users (enterprise_id, user_id, id, account_type, account_role, \
         advisor_user_id, email, first_name, last_name, phone_number, status, \
         email_required, sms_required, profile, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    tx.commit().await.map_err(classify)
}

pub(crate) async fn find(
    reader: &SqlitePool,
    enterprise: EnterpriseId,
    user_id: &str,
) -> Result<Option<User>, StoreError> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS}, profile FROM users \
         WHERE enterprise_id = ? AND user_id = ? AND active = 1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(enterprise.0)
        .bind(user_id)
        .fetch_optional(reader)
        .await
        .map_err(classify)?;
    match row {
        None => Ok(None),
        Some(row) => row_from(&row, true).map_err(classify)?.decode().map(Some),
    }
}

pub(crate) async fn list(
    reader: &SqlitePool,
    enterprise: EnterpriseId,
    filter: UserFilter,
    after: Option<i64>,
    limit: u32,
) -> Result<Vec<Listed>, StoreError> {
    let mut q = QueryBuilder::<Sqlite>::new(format!("SELECT {SUMMARY_COLUMNS} FROM users "));
    q.push("WHERE enterprise_id = ").push_bind(enterprise.0);
    q.push(" AND active = 1 AND position > ")
        .push_bind(after.unwrap_or(0));
    if let Some(role) = filter.role {
        q.push(" AND account_role = ").push_bind(role.as_str());
    }
    if let Some(status) = filter.status {
        q.push(" AND status = ").push_bind(status.as_str());
    }
    q.push(" ORDER BY position LIMIT ")
        .push_bind(i64::from(limit));
    let rows = q.build().fetch_all(reader).await.map_err(classify)?;
    rows.iter()
        .map(|r| row_from(r, false).map_err(classify)?.decode_summary())
        .collect()
}

pub(crate) async fn deactivate(
    writer: &SqlitePool,
    enterprise: EnterpriseId,
    user_id: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE users SET active = 0, deactivated_at = ?, updated_at = ? \
         WHERE enterprise_id = ? AND user_id = ? AND active = 1",
    )
    .bind(micros(now))
    .bind(micros(now))
    .bind(enterprise.0)
    .bind(user_id)
    .execute(writer)
    .await
    .map_err(classify)?;
    Ok(done.rows_affected() == 1)
}
