//! The operator console's rows (CONTRACT §10): sessions, failed sign-ins, and the
//! reads that span every enterprise (users, the review queue, open EDD requests).

use crate::SqlStore;
use crate::users::SUMMARY_COLUMNS;
use async_trait::async_trait;
use onboard_core::events::Event;
use onboard_core::secret::KeyHash;
use onboard_core::store::ConsoleStore;
use onboard_core::store::{
    ConsoleEdd, ConsoleFilter, ConsoleListed, EnterpriseId, Lockout, SessionRecord, StoreError,
    from_micros, micros,
};
use time::OffsetDateTime;

use crate::engine::{Engine, Row, Tx, Value, first, one};
use crate::{args, edd, events, users};

/// `a, b` → `t.a, t.b`: the shared column lists, for statements that join.
fn prefixed(table: &str, columns: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{table}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn session_from(row: &Row) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        token_hash: KeyHash::from_stored(row.text("token_hash")?),
        operator: row.text("operator")?,
        csrf: row.text("csrf")?,
        created_at: from_micros(row.int("created_at")?),
        last_seen_at: from_micros(row.int("last_seen_at")?),
        expires_at: from_micros(row.int("expires_at")?),
    })
}

#[async_trait]
impl<E: Engine> ConsoleStore for SqlStore<E> {
    async fn insert_console_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        self.engine
            .write_count(
                "INSERT INTO console_sessions (token_hash, operator, csrf, created_at, \
                 last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                args![
                    s.token_hash.as_str(),
                    s.operator.as_str(),
                    s.csrf.as_str(),
                    micros(s.created_at),
                    micros(s.last_seen_at),
                    micros(s.expires_at)
                ],
            )
            .await?;
        Ok(())
    }

    async fn console_session(&self, hash: &KeyHash) -> Result<Option<SessionRecord>, StoreError> {
        let rows = self
            .engine
            .read(
                "SELECT token_hash, operator, csrf, created_at, last_seen_at, expires_at \
                 FROM console_sessions WHERE token_hash = ?",
                args![hash.as_str()],
            )
            .await?;
        first(rows).map(|r| session_from(&r)).transpose()
    }

    async fn touch_console_session(
        &self,
        hash: &KeyHash,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.engine
            .write_count(
                "UPDATE console_sessions SET last_seen_at = ?, expires_at = ? WHERE token_hash = ?",
                args![micros(now), micros(expires_at), hash.as_str()],
            )
            .await?;
        Ok(())
    }

    async fn delete_console_session(&self, hash: &KeyHash) -> Result<(), StoreError> {
        self.engine
            .write_count(
                "DELETE FROM console_sessions WHERE token_hash = ?",
                args![hash.as_str()],
            )
            .await?;
        Ok(())
    }

    async fn sign_in_locked_until(
        &self,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let rows = self
            .engine
            .read(
                "SELECT locked_until FROM console_sign_in_failures \
                 WHERE name = ? AND locked_until > ?",
                args![name, micros(now)],
            )
            .await?;
        first(rows)
            .map(|r| r.int("locked_until").map(from_micros))
            .transpose()
    }

    /// One failure more for `name`. The row is created first (a no-op when it
    /// exists) so that two nodes counting the same name lock the same row.
    async fn record_sign_in_failure(
        &self,
        name: &str,
        rule: Lockout,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let mut tx = self.engine.begin().await?;
        tx.execute(
            "INSERT INTO console_sign_in_failures (name, window_start, failures, locked_until, \
             forget_at) VALUES (?, ?, 0, NULL, ?) ON CONFLICT (name) DO NOTHING",
            args![name, micros(now), micros(now + rule.window)],
        )
        .await?;
        let sql = format!(
            "SELECT window_start, failures, locked_until FROM console_sign_in_failures \
             WHERE name = ?{}",
            E::DIALECT.for_update
        );
        let row = one(tx.fetch(&sql, args![name]).await?)?;
        let locked = row.opt_int("locked_until")?.map(from_micros);
        if locked.is_some_and(|until| until > now) {
            // Already locked: attempts during the lock neither extend nor renew it.
            // Committed (nothing changed) rather than dropped, so that the lock read
            // here is durable before the caller acts on it.
            tx.commit().await?;
            return Ok(None);
        }
        let mut start = from_micros(row.int("window_start")?);
        let mut failures = row.int("failures")?;
        if start + rule.window <= now || locked.is_some() {
            start = now;
            failures = 0;
        }
        failures += 1;
        let locked_until = (failures >= rule.max).then(|| now + rule.lock);
        let forget_at = locked_until.map_or(start + rule.window, |l| l.max(start + rule.window));
        tx.execute(
            "UPDATE console_sign_in_failures SET window_start = ?, failures = ?, \
             locked_until = ?, forget_at = ? WHERE name = ?",
            vec![
                Value::from(micros(start)),
                Value::from(failures),
                Value::Int(locked_until.map(micros)),
                Value::from(micros(forget_at)),
                Value::from(name),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(locked_until)
    }

    async fn clear_sign_in_failures(&self, name: &str) -> Result<(), StoreError> {
        self.engine
            .write_count(
                "DELETE FROM console_sign_in_failures WHERE name = ?",
                args![name],
            )
            .await?;
        Ok(())
    }

    async fn console_users(
        &self,
        filter: &ConsoleFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ConsoleListed>, StoreError> {
        let mut sql = listed_select();
        sql.push_str(" AND u.position > ?");
        let mut params = args![after.unwrap_or(0)];
        if let Some(enterprise) = filter.enterprise {
            sql.push_str(" AND u.enterprise_id = ?");
            params.push(enterprise.0.into());
        }
        let text_filters = [
            ("u.status", filter.status.map(|s| s.as_str())),
            ("u.account_role", filter.role.map(|r| r.as_str())),
            ("u.account_type", filter.account_type.map(|t| t.as_str())),
        ];
        for (column, value) in text_filters {
            if let Some(value) = value {
                sql.push_str(&format!(" AND {column} = ?"));
                params.push(value.into());
            }
        }
        if let Some(search) = &filter.search {
            sql.push_str(
                " AND (u.user_id = ? OR LOWER(u.email) = ? \
                 OR LOWER(u.first_name) LIKE ? ESCAPE '\\' OR LOWER(u.last_name) LIKE ? ESCAPE '\\')",
            );
            let prefix = like_prefix(search);
            params.extend(args![
                search.as_str(),
                search.to_lowercase(),
                prefix.as_str(),
                prefix.as_str()
            ]);
        }
        sql.push_str(" ORDER BY u.position LIMIT ?");
        params.push(i64::from(limit).into());
        let rows = self.engine.read(&sql, params).await?;
        rows.into_iter().map(listed_from).collect()
    }

    async fn review_queue(&self, limit: u32) -> Result<Vec<ConsoleListed>, StoreError> {
        let sql = format!(
            "{} AND u.status = 'PENDING' AND u.email_required = ? AND u.sms_required = ? \
             ORDER BY u.position LIMIT ?",
            listed_select()
        );
        let rows = self
            .engine
            .read(&sql, args![false, false, i64::from(limit)])
            .await?;
        rows.into_iter().map(listed_from).collect()
    }

    async fn user_events(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let sql = format!(
            "SELECT {} FROM events WHERE enterprise_id = ? AND user_id = ? \
             ORDER BY event_id DESC LIMIT ?",
            events::EVENT_COLUMNS
        );
        let rows = self
            .engine
            .read(&sql, args![enterprise.0, user_id, i64::from(limit)])
            .await?;
        rows.into_iter().map(events::event_from).collect()
    }

    async fn console_edd(
        &self,
        user: Option<(EnterpriseId, &str)>,
        limit: u32,
    ) -> Result<Vec<ConsoleEdd>, StoreError> {
        let mut sql = format!(
            "SELECT {}, r.answers, r.reviewed_by, r.review_note, e.name AS enterprise \
             FROM edd_requests r JOIN enterprises e ON e.id = r.enterprise_id",
            prefixed("r", edd::REQUEST_COLUMNS)
        );
        let mut params = Vec::new();
        match user {
            Some((enterprise, user_id)) => {
                sql.push_str(" WHERE r.enterprise_id = ? AND r.user_id = ? ORDER BY r.id DESC");
                params.extend(args![enterprise.0, user_id]);
            }
            None => sql.push_str(" WHERE r.status <> 'REVIEWED' ORDER BY r.id"),
        }
        sql.push_str(" LIMIT ?");
        params.push(i64::from(limit).into());
        let rows = self.engine.read(&sql, params).await?;
        rows.iter()
            .map(|row| {
                Ok(ConsoleEdd {
                    enterprise: row.text("enterprise")?,
                    request: edd::request_from(row)?,
                    answers: row.opt_text("answers")?,
                    reviewed_by: row.opt_text("reviewed_by")?,
                    review_note: row.opt_text("review_note")?,
                })
            })
            .collect()
    }
}

/// Housekeeping: sessions past their idle expiry, failure rows past their use.
pub(crate) async fn prune<E: Engine>(engine: &E, now: OffsetDateTime) -> Result<(), StoreError> {
    engine
        .write_count(
            "DELETE FROM console_sessions WHERE expires_at <= ?",
            args![micros(now)],
        )
        .await?;
    engine
        .write_count(
            "DELETE FROM console_sign_in_failures WHERE forget_at <= ?",
            args![micros(now)],
        )
        .await?;
    Ok(())
}

fn listed_from(mut row: Row) -> Result<ConsoleListed, StoreError> {
    let enterprise = row.take_text("enterprise")?;
    let created_at = from_micros(row.int("created_at")?);
    let listed = users::row_from(row, false)?.decode_summary()?;
    Ok(ConsoleListed {
        position: listed.position,
        enterprise,
        user: listed.user,
        created_at,
    })
}

fn listed_select() -> String {
    format!(
        "SELECT {}, u.created_at, e.name AS enterprise FROM users u \
         JOIN enterprises e ON e.id = u.enterprise_id WHERE u.active = TRUE",
        prefixed("u", SUMMARY_COLUMNS)
    )
}

/// `%` and `_` typed into the search box are literal characters.
fn like_prefix(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 1);
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    escaped
}
