//! The `events` table: append inside a writer's transaction, read by id, prune.

use crate::SqlStore;
use async_trait::async_trait;
use onboard_core::access::Attribution;
use onboard_core::events::{Event, EventKind, Retention};
use onboard_core::store::EventLog;
use onboard_core::store::{EnterpriseId, EventBounds, EventRow, StoreError, micros};
use onboard_core::user::UserSummary;
use time::OffsetDateTime;

use crate::args;
use crate::engine::{Engine, Tx, one};

/// How long the outbox keeps a message: its code is long dead by then, and the
/// addresses it holds should not linger.
const OUTBOX_RETENTION: time::Duration = time::Duration::hours(24);

/// Appends an event with the enterprise's next `event_id`. Must be the last write
/// of the change's transaction: bumping `last_event_id` holds the enterprise row
/// (or the database's single writer) until commit, so ids are gap-free and a later
/// id never becomes visible before an earlier one, whichever process writes.
pub(crate) async fn append<E: Engine>(
    tx: &mut E::Tx,
    enterprise: EnterpriseId,
    kind: EventKind,
    cause: &str,
    by: Option<&Attribution>,
    user: &UserSummary,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    let mut row = EventRow::encode(kind, cause, user, now)?;
    row.operator = by.map(|by| by.operator.clone());
    row.note = by.map(|by| by.note.clone());
    append_row::<E>(tx, enterprise, user.user_id.as_str(), row).await
}

/// [`append`] of a row already encoded (an EDD or document event, with detail).
pub(crate) async fn append_row<E: Engine>(
    tx: &mut E::Tx,
    enterprise: EnterpriseId,
    user_id: &str,
    row: EventRow,
) -> Result<i64, StoreError> {
    let bumped = tx
        .fetch(
            "UPDATE enterprises SET last_event_id = last_event_id + 1 WHERE id = ? \
             RETURNING last_event_id",
            args![enterprise.0],
        )
        .await?;
    let event_id = one(bumped)?.int("last_event_id")?;
    tx.execute(
        "INSERT INTO events (enterprise_id, event_id, user_id, kind, cause, operator, note, \
         snapshot, created_at, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        args![
            enterprise.0,
            event_id,
            user_id,
            row.kind,
            row.cause,
            row.operator,
            row.note,
            row.snapshot,
            row.created_at,
            row.detail
        ],
    )
    .await?;
    if let Some(notify) = E::DIALECT.notify_event {
        tx.execute(notify, args![enterprise.0.to_string()]).await?;
    }
    Ok(event_id)
}

#[async_trait]
impl<E: Engine> EventLog for SqlStore<E> {
    async fn read_events(
        &self,
        enterprise: EnterpriseId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        // The limit is part of the text, as in `users::list`.
        let rows = self
            .engine
            .read(
                &format!(
                    "SELECT event_id, kind, cause, operator, note, snapshot, created_at, detail \
                     FROM events \
                     WHERE enterprise_id = ? AND event_id > ? ORDER BY event_id LIMIT {limit}"
                ),
                args![enterprise.0, after],
            )
            .await?;
        rows.into_iter().map(event_from).collect()
    }

    async fn event_bounds(&self, enterprise: EnterpriseId) -> Result<EventBounds, StoreError> {
        let rows = self
            .engine
            .read(
                "SELECT (SELECT MIN(event_id) FROM events WHERE enterprise_id = ?) AS oldest, \
                        (SELECT last_event_id FROM enterprises WHERE id = ?) AS latest",
                args![enterprise.0, enterprise.0],
            )
            .await?;
        let row = one(rows)?;
        Ok(EventBounds {
            oldest: row.opt_int("oldest")?,
            latest: row.opt_int("latest")?.unwrap_or(0),
        })
    }
}

/// The columns [`event_from`] reads.
pub(crate) const EVENT_COLUMNS: &str =
    "event_id, kind, cause, operator, note, snapshot, created_at, detail";

/// An event from a row of [`EVENT_COLUMNS`], its text handed over, not copied.
pub(crate) fn event_from(mut r: crate::engine::Row) -> Result<Event, StoreError> {
    EventRow {
        event_id: r.int("event_id")?,
        kind: r.take_text("kind")?,
        cause: r.take_text("cause")?,
        operator: r.take_opt_text("operator")?,
        note: r.take_opt_text("note")?,
        snapshot: r.take_text("snapshot")?,
        created_at: r.int("created_at")?,
        detail: r.take_opt_text("detail")?,
    }
    .decode()
}

pub(crate) async fn prune<E: Engine>(
    engine: &E,
    retention: Retention,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let mut removed = 0;
    if let Some(age) = retention.max_age {
        let cutoff = now.checked_sub(age).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        removed += engine
            .write_count(
                "DELETE FROM events WHERE created_at < ?",
                args![micros(cutoff)],
            )
            .await?;
    }
    if let Some(keep) = retention.max_events {
        removed += engine
            .write_count(
                "DELETE FROM events WHERE event_id <= \
             (SELECT last_event_id FROM enterprises WHERE id = events.enterprise_id) - ?",
                args![i64::try_from(keep).unwrap_or(i64::MAX)],
            )
            .await?;
    }
    engine
        .write_count(
            "DELETE FROM outbox WHERE sent_at < ?",
            args![micros(now - OUTBOX_RETENTION)],
        )
        .await?;
    engine
        .write_count(
            "DELETE FROM user_tokens WHERE expires_at < ?",
            args![micros(now)],
        )
        .await?;
    Ok(removed)
}
