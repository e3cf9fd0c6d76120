//! The `webhook_endpoints` and `webhook_attempts` tables: endpoints with their
//! cursor in the event log and their lease, and every attempt (CONTRACT §9).

use crate::SqlStore;
use async_trait::async_trait;
use onboard_core::store::WebhookStore;
use onboard_core::store::{EnterpriseId, StoreError, from_micros, micros};
use onboard_core::webhooks::{
    Attempt, AttemptStatus, Backlog, Endpoint, EndpointChange, Progress, WebhookSecret,
};
use time::OffsetDateTime;

use crate::args;
use crate::engine::{Engine, Row, Tx, Value, first};

const COLUMNS: &str = "id, enterprise_id, url, description, event_types, enabled, \
     disabled_reason, secret, old_secret, old_secret_until, created_at, cursor, attempts, \
     next_attempt_at, failing_since, replay_to, resume_at";

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("unreadable webhook endpoint {what}"))
}

fn endpoint_from(row: &Row) -> Result<Endpoint, StoreError> {
    let secret = WebhookSecret::parse(&row.text("secret")?).ok_or_else(|| corrupt("secret"))?;
    let old_secret = match (
        row.opt_text("old_secret")?,
        row.opt_int("old_secret_until")?,
    ) {
        (Some(old), Some(until)) => Some((
            WebhookSecret::parse(&old).ok_or_else(|| corrupt("old secret"))?,
            from_micros(until),
        )),
        _ => None,
    };
    let event_types = row
        .opt_text("event_types")?
        .map(|json| serde_json::from_str::<Vec<String>>(&json))
        .transpose()
        .map_err(|_| corrupt("event types"))?;
    let replay = match (row.opt_int("replay_to")?, row.opt_int("resume_at")?) {
        (Some(to), Some(resume)) => Some((to, resume)),
        _ => None,
    };
    Ok(Endpoint {
        id: row.text("id")?,
        enterprise: EnterpriseId(row.int("enterprise_id")?),
        url: row.text("url")?,
        description: row.text("description")?,
        event_types,
        enabled: row.bool("enabled")?,
        disabled_reason: row.opt_text("disabled_reason")?,
        secret,
        old_secret,
        created_at: from_micros(row.int("created_at")?),
        cursor: row.int("cursor")?,
        attempts: u32::try_from(row.int("attempts")?).unwrap_or(u32::MAX),
        next_attempt_at: row.opt_int("next_attempt_at")?.map(from_micros),
        failing_since: row.opt_int("failing_since")?.map(from_micros),
        replay,
    })
}

fn types_json(types: &Option<Vec<String>>) -> Option<String> {
    types
        .as_ref()
        .map(|t| serde_json::to_string(t).unwrap_or_else(|_| "[]".into()))
}

fn opt_micros(at: Option<OffsetDateTime>) -> Value {
    Value::Int(at.map(micros))
}

#[async_trait]
impl<E: Engine> WebhookStore for SqlStore<E> {
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<Endpoint, StoreError> {
        let sql = format!(
            "INSERT INTO webhook_endpoints (id, enterprise_id, url, description, event_types, \
             enabled, secret, created_at, cursor) \
             SELECT ?, ?, ?, ?, ?, TRUE, ?, ?, last_event_id FROM enterprises WHERE id = ? \
             RETURNING {COLUMNS}"
        );
        let e = endpoint;
        let params = args![
            e.id.as_str(),
            e.enterprise.0,
            e.url.as_str(),
            e.description.as_str(),
            types_json(&e.event_types),
            e.secret.expose(),
            micros(e.created_at),
            e.enterprise.0
        ];
        let rows = self.engine.write(&sql, params).await?;
        first(rows)
            .as_ref()
            .map(endpoint_from)
            .transpose()?
            .ok_or_else(|| StoreError::Internal("no enterprise for a new endpoint".into()))
    }

    async fn endpoints(&self, enterprise: EnterpriseId) -> Result<Vec<Endpoint>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM webhook_endpoints WHERE enterprise_id = ? ORDER BY created_at, id"
        );
        let rows = self.engine.read(&sql, args![enterprise.0]).await?;
        rows.iter().map(endpoint_from).collect()
    }

    async fn endpoint(
        &self,
        enterprise: EnterpriseId,
        id: &str,
    ) -> Result<Option<Endpoint>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM webhook_endpoints WHERE enterprise_id = ? AND id = ?");
        let rows = self.engine.read(&sql, args![enterprise.0, id]).await?;
        first(rows).as_ref().map(endpoint_from).transpose()
    }

    async fn change_endpoint(
        &self,
        enterprise: EnterpriseId,
        id: &str,
        change: &EndpointChange,
    ) -> Result<Option<Endpoint>, StoreError> {
        let (set, mut params): (&str, Vec<Value>) = match change {
            EndpointChange::Settings {
                url,
                description,
                event_types,
                enabled,
            } => (
                // Enabling clears the failure streak and the wait, so that delivery
                // starts again at once.
                "url = ?, description = ?, event_types = ?, \
                 failing_since = CASE WHEN ? THEN NULL ELSE failing_since END, \
                 next_attempt_at = CASE WHEN ? AND enabled = FALSE THEN NULL \
                 ELSE next_attempt_at END, \
                 attempts = CASE WHEN ? AND enabled = FALSE THEN 0 ELSE attempts END, \
                 disabled_reason = CASE WHEN ? THEN NULL ELSE disabled_reason END, \
                 enabled = ?",
                args![
                    url.as_str(),
                    description.as_str(),
                    types_json(event_types),
                    *enabled,
                    *enabled,
                    *enabled,
                    *enabled,
                    *enabled
                ],
            ),
            EndpointChange::Rotate {
                secret,
                old,
                old_until,
            } => (
                "secret = ?, old_secret = ?, old_secret_until = ?",
                args![secret.expose(), old.expose(), micros(*old_until)],
            ),
            EndpointChange::ReplayAfter(after) => (
                "cursor = CASE WHEN cursor > ? THEN ? ELSE cursor END, \
                 replay_to = NULL, resume_at = NULL, attempts = 0, next_attempt_at = NULL",
                args![*after, *after],
            ),
            EndpointChange::ReplayOne(event_id) => (
                // The endpoint goes back to just before the event, and comes back to
                // the furthest point it had reached once the event is sent.
                "resume_at = CASE WHEN resume_at IS NOT NULL AND resume_at > cursor \
                 THEN resume_at ELSE cursor END, \
                 cursor = ?, replay_to = ?, attempts = 0, next_attempt_at = NULL",
                args![*event_id - 1, *event_id],
            ),
        };
        // A change to what is delivered, or from where, ends the dispatcher's lease:
        // its next record of progress (made from the endpoint as it was) then finds
        // the lease gone and changes nothing, and the next lease starts from this.
        // A new secret changes nothing the dispatcher records.
        let lease = match change {
            EndpointChange::Rotate { .. } => "",
            _ => ", lease_owner = NULL, lease_until = NULL",
        };
        let sql = format!(
            "UPDATE webhook_endpoints SET {set}{lease} WHERE enterprise_id = ? AND id = ? \
             RETURNING {COLUMNS}"
        );
        params.extend(args![enterprise.0, id]);
        let rows = self.engine.write(&sql, params).await?;
        first(rows).as_ref().map(endpoint_from).transpose()
    }

    async fn delete_endpoint(
        &self,
        enterprise: EnterpriseId,
        id: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.engine.begin().await?;
        tx.execute(
            "DELETE FROM webhook_attempts WHERE endpoint_id IN \
             (SELECT id FROM webhook_endpoints WHERE enterprise_id = ? AND id = ?)",
            args![enterprise.0, id],
        )
        .await?;
        let deleted = tx
            .execute(
                "DELETE FROM webhook_endpoints WHERE enterprise_id = ? AND id = ?",
                args![enterprise.0, id],
            )
            .await?;
        tx.commit().await?;
        Ok(deleted > 0)
    }

    async fn lease_endpoints(
        &self,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Endpoint>, StoreError> {
        let sql = format!(
            "UPDATE webhook_endpoints SET lease_owner = ?, lease_until = ? WHERE id IN \
             (SELECT w.id FROM webhook_endpoints w WHERE w.enabled = TRUE \
              AND (w.lease_until IS NULL OR w.lease_until < ?) \
              AND (w.next_attempt_at IS NULL OR w.next_attempt_at <= ?) \
              AND (w.replay_to IS NOT NULL OR w.cursor < \
                   (SELECT e.last_event_id FROM enterprises e WHERE e.id = w.enterprise_id)) \
              ORDER BY w.next_attempt_at, w.id LIMIT ?{}) \
             RETURNING {COLUMNS}",
            E::DIALECT.skip_locked
        );
        let params = args![
            owner,
            micros(until),
            micros(now),
            micros(now),
            i64::from(limit)
        ];
        let rows = self.engine.write(&sql, params).await?;
        rows.iter().map(endpoint_from).collect()
    }

    async fn record_progress(
        &self,
        owner: &str,
        endpoint_id: &str,
        progress: &Progress,
        attempt: Option<&Attempt>,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut tx = self.engine.begin().await?;
        let p = progress;
        let (replay_to, resume_at) = match p.replay {
            Some((to, resume)) => (Some(to), Some(resume)),
            None => (None, None),
        };
        let updated = tx
            .execute(
                "UPDATE webhook_endpoints SET cursor = ?, attempts = ?, next_attempt_at = ?, \
                 failing_since = ?, enabled = ?, disabled_reason = ?, replay_to = ?, \
                 resume_at = ?, lease_until = ? WHERE id = ? AND lease_owner = ?",
                args![
                    p.cursor,
                    i64::from(p.attempts),
                    opt_micros(p.next_attempt_at),
                    opt_micros(p.failing_since),
                    p.enabled,
                    p.disabled_reason.clone(),
                    replay_to,
                    resume_at,
                    micros(until),
                    endpoint_id,
                    owner
                ],
            )
            .await?;
        if updated == 0 {
            return Ok(false);
        }
        if let Some(a) = attempt {
            tx.execute(
                "INSERT INTO webhook_attempts (endpoint_id, event_id, message_id, attempt, \
                 attempted_at, status, status_code, duration_ms, response) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                args![
                    endpoint_id,
                    a.event_id,
                    a.message_id.as_str(),
                    i64::from(a.attempt),
                    micros(a.attempted_at),
                    a.status.as_str(),
                    a.status_code.map(i64::from),
                    a.duration_ms,
                    a.response.as_str()
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn release_endpoint(&self, owner: &str, endpoint_id: &str) -> Result<(), StoreError> {
        self.engine
            .write_count(
                "UPDATE webhook_endpoints SET lease_owner = NULL, lease_until = NULL \
                 WHERE id = ? AND lease_owner = ?",
                args![endpoint_id, owner],
            )
            .await?;
        Ok(())
    }

    async fn webhook_backlog(&self) -> Result<Vec<Backlog>, StoreError> {
        let rows = self
            .engine
            .read(
                "SELECT w.id, e.last_event_id - w.cursor AS depth, \
                 (SELECT MIN(ev.created_at) FROM events ev \
                  WHERE ev.enterprise_id = w.enterprise_id AND ev.event_id > w.cursor) AS oldest \
                 FROM webhook_endpoints w JOIN enterprises e ON e.id = w.enterprise_id \
                 WHERE w.enabled = TRUE ORDER BY w.id",
                Vec::new(),
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Backlog {
                    endpoint_id: row.text("id")?,
                    depth: row.int("depth")?.max(0),
                    oldest: row.opt_int("oldest")?.map(from_micros),
                })
            })
            .collect()
    }

    async fn attempts(
        &self,
        enterprise: EnterpriseId,
        endpoint_id: &str,
        status: Option<AttemptStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Attempt>, StoreError> {
        let mut sql = String::from(
            "SELECT a.id, a.event_id, a.message_id, a.attempt, a.attempted_at, a.status, \
             a.status_code, a.duration_ms, a.response FROM webhook_attempts a \
             JOIN webhook_endpoints w ON w.id = a.endpoint_id \
             WHERE w.enterprise_id = ? AND a.endpoint_id = ?",
        );
        let mut params = args![enterprise.0, endpoint_id];
        if let Some(status) = status {
            sql.push_str(" AND a.status = ?");
            params.push(Value::from(status.as_str()));
        }
        if let Some(before) = before {
            sql.push_str(" AND a.id < ?");
            params.push(Value::from(before));
        }
        sql.push_str(" ORDER BY a.id DESC LIMIT ?");
        params.push(Value::from(i64::from(limit)));
        let rows = self.engine.read(&sql, params).await?;
        rows.iter()
            .map(|row| {
                Ok(Attempt {
                    position: row.int("id")?,
                    event_id: row.int("event_id")?,
                    message_id: row.text("message_id")?,
                    attempt: u32::try_from(row.int("attempt")?).unwrap_or(u32::MAX),
                    attempted_at: from_micros(row.int("attempted_at")?),
                    status: AttemptStatus::parse(&row.text("status")?)
                        .ok_or_else(|| corrupt("attempt status"))?,
                    status_code: row
                        .opt_int("status_code")?
                        .and_then(|c| u16::try_from(c).ok()),
                    duration_ms: row.int("duration_ms")?,
                    response: row.text("response")?,
                })
            })
            .collect()
    }
}
