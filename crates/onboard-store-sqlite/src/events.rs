//! The `events` table: append inside a writer's transaction, read by id, prune.

use onboard_core::events::{Event, EventKind, Retention};
use onboard_core::store::{EnterpriseId, EventBounds, EventRow, StoreError, micros};
use onboard_core::user::UserSummary;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use time::OffsetDateTime;

use crate::classify;

/// How long the outbox keeps a message: its code is long dead by then, and the
/// addresses it holds should not linger.
const OUTBOX_RETENTION: time::Duration = time::Duration::hours(24);

/// Appends an event with the enterprise's next `event_id`. Must run inside the
/// writing transaction of the change it records: the bump of `last_event_id` and
/// the insert commit (or vanish) with it, so ids are gap-free and in commit order.
pub(crate) async fn append(
    tx: &mut SqliteConnection,
    enterprise: EnterpriseId,
    kind: EventKind,
    cause: &str,
    user: &UserSummary,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    let row = EventRow::encode(kind, cause, user, now)?;
    let event_id: i64 = sqlx::query_scalar(
        "UPDATE enterprises SET last_event_id = last_event_id + 1 WHERE id = ? \
         RETURNING last_event_id",
    )
    .bind(enterprise.0)
    .fetch_one(&mut *tx)
    .await
    .map_err(classify)?;
    sqlx::query(
        "INSERT INTO events (enterprise_id, event_id, user_id, kind, cause, snapshot, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(enterprise.0)
    .bind(event_id)
    .bind(&user.user_id)
    .bind(&row.kind)
    .bind(&row.cause)
    .bind(&row.snapshot)
    .bind(row.created_at)
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    Ok(event_id)
}

pub(crate) async fn read(
    reader: &SqlitePool,
    enterprise: EnterpriseId,
    after: i64,
    limit: u32,
) -> Result<Vec<Event>, StoreError> {
    let rows = sqlx::query(
        "SELECT event_id, kind, cause, snapshot, created_at FROM events \
         WHERE enterprise_id = ? AND event_id > ? ORDER BY event_id LIMIT ?",
    )
    .bind(enterprise.0)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(reader)
    .await
    .map_err(classify)?;
    rows.iter()
        .map(|r| {
            EventRow {
                event_id: r.try_get("event_id").map_err(classify)?,
                kind: r.try_get("kind").map_err(classify)?,
                cause: r.try_get("cause").map_err(classify)?,
                snapshot: r.try_get("snapshot").map_err(classify)?,
                created_at: r.try_get("created_at").map_err(classify)?,
            }
            .decode()
        })
        .collect()
}

pub(crate) async fn bounds(
    reader: &SqlitePool,
    enterprise: EnterpriseId,
) -> Result<EventBounds, StoreError> {
    let row = sqlx::query(
        "SELECT (SELECT MIN(event_id) FROM events WHERE enterprise_id = ?1) AS oldest, \
                (SELECT last_event_id FROM enterprises WHERE id = ?1) AS latest",
    )
    .bind(enterprise.0)
    .fetch_one(reader)
    .await
    .map_err(classify)?;
    Ok(EventBounds {
        oldest: row.try_get("oldest").map_err(classify)?,
        latest: row
            .try_get::<Option<i64>, _>("latest")
            .map_err(classify)?
            .unwrap_or(0),
    })
}

pub(crate) async fn prune(
    writer: &SqlitePool,
    retention: Retention,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let mut removed = 0;
    if let Some(age) = retention.max_age {
        removed += sqlx::query("DELETE FROM events WHERE created_at < ?")
            .bind(micros(now - age))
            .execute(writer)
            .await
            .map_err(classify)?
            .rows_affected();
    }
    if let Some(keep) = retention.max_events {
        removed += sqlx::query(
            "DELETE FROM events WHERE event_id <= \
             (SELECT last_event_id FROM enterprises WHERE id = events.enterprise_id) - ?",
        )
        .bind(i64::try_from(keep).unwrap_or(i64::MAX))
        .execute(writer)
        .await
        .map_err(classify)?
        .rows_affected();
    }
    sqlx::query("DELETE FROM outbox WHERE sent_at < ?")
        .bind(micros(now - OUTBOX_RETENTION))
        .execute(writer)
        .await
        .map_err(classify)?;
    sqlx::query("DELETE FROM user_tokens WHERE expires_at < ?")
        .bind(micros(now))
        .execute(writer)
        .await
        .map_err(classify)?;
    Ok(removed)
}
