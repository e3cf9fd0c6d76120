//! The `users` and `verification_codes` tables: insert, read, list by keyset,
//! deactivate, and the read-decide-write of a lifecycle rule.

pub(crate) mod batch;
pub(crate) mod lookups;

use crate::SqlStore;
use async_trait::async_trait;
use onboard_core::events::EventKind;
use onboard_core::lifecycle::CodeWrite;
use onboard_core::store::UserStore;
use onboard_core::store::{
    Deactivation, Decide, Decided, EnterpriseId, Listed, ListedJson, Rendered, StoreError,
    UserFilter, UserRow, from_micros, micros, render,
};
use onboard_core::user::{AccountRole, User};
use onboard_core::verification::{Channel, CodeRecord};
use time::OffsetDateTime;

use crate::engine::{Engine, Row, Tx, first, one};
use crate::{args, events, sealing};
use onboard_core::seal::{DataKey, Sealer};
use std::sync::LazyLock;

/// The columns every statement reads for a [`UserRow`] without its profile, in one
/// place so that no statement reads a different set.
pub(crate) const SUMMARY_COLUMNS: &str = "position, enterprise_id, id, account_type, \
    account_role, user_id, advisor_user_id, email, first_name, last_name, phone_number, status, \
    email_required, sms_required, data_key, sealed";

/// The `INSERT` of a user row; its parameters are [`insert_args`].
pub const INSERT_USER: &str = "INSERT INTO users (enterprise_id, user_id, id, account_type, \
     account_role, advisor_user_id, email, first_name, last_name, phone_number, status, \
     email_required, sms_required, profile, list_json, user_json, rendered_at, created_at, \
     updated_at, data_key, sealed, email_index, first_name_index, last_name_index) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// The parameters of [`INSERT_USER`] for `row`, its personal data sealed under a
/// new data key: the plain personal columns hold empty text.
pub fn insert_args(
    sealer: &Sealer,
    enterprise: EnterpriseId,
    row: &UserRow,
    now: OffsetDateTime,
) -> Result<(Vec<crate::Value>, DataKey), StoreError> {
    let (key, wrapped) = sealing::new_key(sealer, enterprise, &row.user_id);
    let sealed = sealing::seal_user(sealer, enterprise, row, &key, wrapped)?;
    let args = args![
        enterprise.0,
        &row.user_id,
        &row.id,
        &row.account_type,
        &row.account_role,
        &row.advisor_user_id,
        "",
        "",
        "",
        "",
        &row.status,
        row.email_required,
        row.sms_required,
        "{}",
        sealed.list_json,
        sealed.user_json,
        row.rendered.as_ref().map(|_| micros(now)),
        micros(now),
        micros(now),
        sealed.data_key,
        sealed.sealed,
        sealed.email_index,
        sealed.first_name_index,
        sealed.last_name_index,
    ];
    Ok((args, key))
}

/// A user row read with [`SUMMARY_COLUMNS`] (and `profile` when
/// `with_profile`), its sealed personal data opened.
pub(crate) fn row_from(
    mut row: Row,
    with_profile: bool,
    sealer: &Sealer,
) -> Result<UserRow, StoreError> {
    let enterprise = EnterpriseId(row.int("enterprise_id")?);
    let data_key = row.take_opt_text("data_key")?;
    let sealed = row.take_opt_text("sealed")?;
    let mut user = UserRow {
        position: row.int("position")?,
        id: row.take_text("id")?,
        account_type: row.take_text("account_type")?,
        account_role: row.take_text("account_role")?,
        user_id: row.take_text("user_id")?,
        advisor_user_id: row.take_opt_text("advisor_user_id")?,
        email: row.take_text("email")?,
        first_name: row.take_text("first_name")?,
        last_name: row.take_text("last_name")?,
        phone_number: row.take_text("phone_number")?,
        status: row.take_text("status")?,
        email_required: row.bool("email_required")?,
        sms_required: row.bool("sms_required")?,
        profile: if with_profile {
            Some(row.take_text("profile")?)
        } else {
            None
        },
        rendered: None,
    };
    if let (Some(wrapped), Some(sealed)) = (data_key, sealed) {
        let key = sealing::key_of(sealer, enterprise, &user.user_id, &wrapped)?;
        sealing::open_user(enterprise, &mut user, &key, &sealed)?;
    }
    Ok(user)
}

/// A full user (with profile) from a row of `SUMMARY_COLUMNS, profile`.
pub(crate) fn user_from(row: Row, sealer: &Sealer) -> Result<User, StoreError> {
    row_from(row, true, sealer)?.decode()
}

/// The data key of a user row read with [`SUMMARY_COLUMNS`]; `None` for a row
/// written before sealing.
pub(crate) fn key_from(
    row: &Row,
    sealer: &Sealer,
    enterprise: EnterpriseId,
) -> Result<Option<DataKey>, StoreError> {
    let Some(wrapped) = row.opt_text("data_key")? else {
        return Ok(None);
    };
    let user_id = row.text("user_id")?;
    sealing::key_of(sealer, enterprise, &user_id, &wrapped).map(Some)
}

fn select_active(lock: &str) -> String {
    format!(
        "SELECT {SUMMARY_COLUMNS}, profile FROM users \
         WHERE enterprise_id = ? AND user_id = ? AND active = TRUE{lock}"
    )
}

pub(crate) async fn insert<E: Engine>(
    engine: &E,
    sealer: &Sealer,
    enterprise: EnterpriseId,
    user: &User,
    cause: &str,
    first_code: Option<(Channel, &CodeRecord)>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut tx = engine.begin().await?;
    let key = insert_rows::<E>(&mut tx, sealer, enterprise, user, first_code, now).await?;
    let kind = EventKind::Registered;
    let summary = &user.summary;
    events::append::<E>(
        &mut tx,
        enterprise,
        kind,
        cause,
        None,
        events::About {
            user: summary,
            key: Some(&key),
        },
        now,
    )
    .await?;
    tx.commit().await
}

/// What a registration writes before its event: the advisor check (the advisor
/// row held `FOR SHARE`), the user and its first code. Its event comes after,
/// so that user rows are locked before the enterprise row, as everywhere.
pub(crate) async fn insert_rows<E: Engine>(
    tx: &mut E::Tx,
    sealer: &Sealer,
    enterprise: EnterpriseId,
    user: &User,
    first_code: Option<(Channel, &CodeRecord)>,
    now: OffsetDateTime,
) -> Result<DataKey, StoreError> {
    let row = UserRow::encode(user)?;
    if let Some(advisor) = &row.advisor_user_id {
        let sql = format!(
            "SELECT account_role FROM users \
             WHERE enterprise_id = ? AND user_id = ? AND active = TRUE{}",
            E::DIALECT.for_share
        );
        let found = first(tx.fetch(&sql, args![enterprise.0, advisor]).await?);
        let role = found.map(|r| r.text("account_role")).transpose()?;
        if role.as_deref() != Some(AccountRole::Advisor.as_str()) {
            return Err(StoreError::AdvisorUnavailable);
        }
    }
    let sql = format!("{INSERT_USER} RETURNING position");
    let (args, key) = insert_args(sealer, enterprise, &row, now)?;
    let position = one(tx.fetch(&sql, args).await?)?.int("position")?;
    if let Some((channel, code)) = first_code {
        write_code(tx, position, channel, CodeWrite::Replace(code.clone())).await?;
    }
    Ok(key)
}

pub(crate) async fn find<E: Engine>(
    engine: &E,
    sealer: &Sealer,
    enterprise: EnterpriseId,
    user_id: &str,
) -> Result<Option<User>, StoreError> {
    let rows = engine
        .read(&select_active(""), args![enterprise.0, user_id])
        .await?;
    first(rows).map(|row| user_from(row, sealer)).transpose()
}

/// [`find`], as the full wire JSON stored with the row.
pub(crate) async fn find_json<E: Engine>(
    engine: &E,
    sealer: &Sealer,
    enterprise: EnterpriseId,
    user_id: &str,
) -> Result<Option<String>, StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT CASE WHEN rendered_at = updated_at THEN {} END AS user_json \
             FROM users WHERE enterprise_id = ? AND user_id = ? AND active = TRUE",
            sealing::stored_json_sql("user_json")
        )
    });
    let rows = engine.read(&SQL, args![enterprise.0, user_id]).await?;
    let Some(mut row) = first(rows) else {
        return Ok(None);
    };
    if let Some(stored) = row.take_opt_text("user_json")? {
        return sealing::open_stored_json(sealer, enterprise, "user_json", &stored).map(Some);
    }
    // A row written without its JSON (see the note above `list_query`).
    find_rendered(engine, sealer, enterprise, user_id).await
}

/// [`find_json`] of a row whose stored JSON is missing or out of date: the JSON
/// rendered from its columns.
pub(crate) async fn find_rendered<E: Engine>(
    engine: &E,
    sealer: &Sealer,
    enterprise: EnterpriseId,
    user_id: &str,
) -> Result<Option<String>, StoreError> {
    find(engine, sealer, enterprise, user_id)
        .await?
        .map(|user| render(&user.to_wire()))
        .transpose()
}

pub(crate) async fn list<E: Engine>(
    engine: &E,
    sealer: &Sealer,
    enterprise: EnterpriseId,
    filter: UserFilter,
    after: Option<i64>,
    limit: u32,
) -> Result<Vec<Listed>, StoreError> {
    let (sql, params) = list_query(SUMMARY_COLUMNS, enterprise, filter, after, limit);
    let rows = engine.read(&sql, params).await?;
    rows.into_iter()
        .map(|r| row_from(r, false, sealer)?.decode_summary())
        .collect()
}

impl<E: Engine> SqlStore<E> {
    /// Bulk-loads user rows into one enterprise in a single transaction, for
    /// benchmarks and imports: the rows are written as they are, with no event,
    /// code or token (so the feed does not announce them).
    pub async fn import_users(
        &self,
        enterprise: EnterpriseId,
        rows: &[UserRow],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        for row in rows {
            let (args, _) = insert_args(&self.sealer, enterprise, row, now)?;
            tx.execute(INSERT_USER, args).await?;
        }
        tx.commit().await
    }
}

#[async_trait]
impl<E: Engine> UserStore for SqlStore<E> {
    /// See `Store::decide`: the whole read-decide-write runs in one write transaction
    /// holding the user row.
    async fn decide(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        channel: Option<Channel>,
        now: OffsetDateTime,
        decide: Decide<'_>,
    ) -> Result<Option<Decided>, StoreError> {
        let mut tx = self.engine.begin().await?;
        let sql = select_active(E::DIALECT.for_update);
        let Some(row) = first(tx.fetch(&sql, args![enterprise.0, user_id]).await?) else {
            return Ok(None);
        };
        let position = row.int("position")?;
        let key = key_from(&row, &self.sealer, enterprise)?;
        let mut user = user_from(row, &self.sealer)?;
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
                let rendered = Rendered::of(&user)?;
                let (list_json, user_json) = match &key {
                    Some(key) => sealing::seal_rendered(enterprise, user_id, key, &rendered),
                    None => (rendered.list, rendered.full),
                };
                let s = &user.summary;
                tx.execute(
                    "UPDATE users SET status = ?, email_required = ?, sms_required = ?, \
                     list_json = ?, user_json = ?, rendered_at = ?, updated_at = ? \
                     WHERE position = ?",
                    args![
                        s.status.as_str(),
                        s.requirements.email,
                        s.requirements.sms,
                        list_json,
                        user_json,
                        micros(now),
                        micros(now),
                        position
                    ],
                )
                .await?;
                let by = t.by.as_ref();
                events::append::<E>(
                    &mut tx,
                    enterprise,
                    EventKind::Updated,
                    &t.cause,
                    by,
                    events::About {
                        user: s,
                        key: key.as_ref(),
                    },
                    now,
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(Some(Decided {
            outcome: decision.outcome,
            user,
            previous_code: code,
        }))
    }

    async fn restore_code(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        channel: Channel,
        failed: OffsetDateTime,
        previous: Option<&CodeRecord>,
    ) -> Result<(), StoreError> {
        // The code row of the failed send; a newer send has another `sent_at`.
        const TARGET: &str = "WHERE channel = ? AND sent_at = ? AND user_position = \
             (SELECT position FROM users WHERE enterprise_id = ? AND user_id = ?)";
        let target = args![channel.as_str(), micros(failed), enterprise.0, user_id];
        let (sql, params) = match previous {
            None => (format!("DELETE FROM verification_codes {TARGET}"), target),
            Some(code) => (
                format!(
                    "UPDATE verification_codes SET code_hash = ?, sent_at = ?, expires_at = ?, \
                     failed_attempts = ?, recent_sends = ? {TARGET}"
                ),
                [
                    args![
                        code.hash.clone(),
                        micros(code.sent_at),
                        micros(code.expires_at),
                        i64::from(code.failed_attempts),
                        sends_text(&code.recent_sends)
                    ],
                    target,
                ]
                .concat(),
            ),
        };
        self.engine.write_count(&sql, params).await?;
        Ok(())
    }

    async fn find_user(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
    ) -> Result<Option<User>, StoreError> {
        find(&self.engine, &self.sealer, enterprise, user_id).await
    }

    /// [`list`], each user as the list-shape JSON stored with its row.
    async fn list_users_json(
        &self,
        enterprise: EnterpriseId,
        filter: UserFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ListedJson>, StoreError> {
        static COLUMNS: LazyLock<String> = LazyLock::new(|| {
            format!(
                "position, CASE WHEN rendered_at = updated_at THEN {} END AS list_json",
                sealing::stored_json_sql("list_json")
            )
        });
        let (sql, params) = list_query(&COLUMNS, enterprise, filter, after, limit);
        let rows = self.engine.read_pairs(&sql, params).await?;
        let mut listed = Vec::with_capacity(rows.len());
        for (position, json) in rows {
            let Some(json) = json else {
                // A row written without its JSON (see the note above `list_query`): render the page.
                return list(&self.engine, &self.sealer, enterprise, filter, after, limit)
                    .await?
                    .into_iter()
                    .map(|l| {
                        Ok(ListedJson {
                            position: l.position,
                            json: render(&l.user.to_wire())?,
                        })
                    })
                    .collect();
            };
            let json = sealing::open_stored_json(&self.sealer, enterprise, "list_json", &json)?;
            listed.push(ListedJson { position, json });
        }
        Ok(listed)
    }

    async fn list_users(
        &self,
        enterprise: EnterpriseId,
        filter: UserFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Listed>, StoreError> {
        list(&self.engine, &self.sealer, enterprise, filter, after, limit).await
    }

    async fn deactivate_user(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<Deactivation, StoreError> {
        let mut tx = self.engine.begin().await?;
        let sql = format!(
            "UPDATE users SET active = FALSE, deactivated_at = ?, updated_at = ? \
             WHERE enterprise_id = ? AND user_id = ? AND active = TRUE RETURNING {SUMMARY_COLUMNS}"
        );
        let params = args![micros(now), micros(now), enterprise.0, user_id];
        let Some(row) = first(tx.fetch(&sql, params).await?) else {
            return Ok(Deactivation::NoActiveUser);
        };
        let key = key_from(&row, &self.sealer, enterprise)?;
        let summary = row_from(row, false, &self.sealer)?.decode_summary()?.user;
        let kind = EventKind::Deactivated;
        events::append::<E>(
            &mut tx,
            enterprise,
            kind,
            "deactivated",
            None,
            events::About {
                user: &summary,
                key: key.as_ref(),
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Deactivation::Deactivated)
    }

    /// Which of `user_ids` are active users of the enterprise, in chunks that keep
    /// each statement's parameter list short.
    async fn active_among(
        &self,
        enterprise: EnterpriseId,
        user_ids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let mut active = Vec::new();
        for chunk in user_ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT user_id FROM users \
                 WHERE enterprise_id = ? AND active = TRUE AND user_id IN ({marks})"
            );
            let mut params = args![enterprise.0];
            params.extend(chunk.iter().map(crate::Value::from));
            for row in self.engine.read(&sql, params).await? {
                active.push(row.text("user_id")?);
            }
        }
        Ok(active)
    }

    async fn insert_user(
        &self,
        enterprise: EnterpriseId,
        user: &User,
        cause: &str,
        first_code: Option<(Channel, &CodeRecord)>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if E::GROUP_COMMIT {
            let sealer = &self.sealer;
            return insert(
                &self.engine,
                sealer,
                enterprise,
                user,
                cause,
                first_code,
                now,
            )
            .await;
        }
        let new = batch::NewUser {
            user: user.clone(),
            cause: cause.to_owned(),
            first_code: first_code.map(|(channel, code)| (channel, code.clone())),
            now,
        };
        self.registrations
            .insert(&self.engine, &self.sealer, enterprise, new)
            .await
    }

    async fn user_json(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
    ) -> Result<Option<String>, StoreError> {
        if !E::SHARE_LOOKUPS {
            return find_json(&self.engine, &self.sealer, enterprise, user_id).await;
        }
        let found = self.lookups.find(&self.engine, enterprise, user_id).await?;
        match found {
            lookups::Found::Json(stored) => {
                sealing::open_stored_json(&self.sealer, enterprise, "user_json", &stored).map(Some)
            }
            lookups::Found::Stale => {
                find_rendered(&self.engine, &self.sealer, enterprise, user_id).await
            }
            lookups::Found::Missing => Ok(None),
        }
    }
}

// The stored JSON is read only where `rendered_at = updated_at`: rows written
// before the columns existed hold none, and a write by an earlier release (a node
// not yet upgraded) moves `updated_at` without rendering it. Either way the row
// is rendered from its columns instead.

/// The statement of one page of the list, reading `columns`.
fn list_query(
    columns: &str,
    enterprise: EnterpriseId,
    filter: UserFilter,
    after: Option<i64>,
    limit: u32,
) -> (String, Vec<crate::Value>) {
    let mut sql = format!(
        "SELECT {columns} FROM users \
         WHERE enterprise_id = ? AND active = TRUE AND position > ?"
    );
    let mut params = args![enterprise.0, after.unwrap_or(0)];
    if let Some(role) = filter.role {
        sql.push_str(" AND account_role = ?");
        params.push(role.as_str().into());
    }
    if let Some(status) = filter.status {
        sql.push_str(" AND status = ?");
        params.push(status.as_str().into());
    }
    // The limit is written into the text, not bound: SQLite plans a bound LIMIT
    // afresh on every run (its value may change the plan), which costs more than
    // the page's rows. It is a number, so nothing can be injected.
    sql.push_str(&format!(" ORDER BY position LIMIT {limit}"));
    (sql, params)
}

async fn read_code(
    tx: &mut impl Tx,
    position: i64,
    channel: Channel,
) -> Result<Option<CodeRecord>, StoreError> {
    let rows = tx
        .fetch(
            "SELECT code_hash, sent_at, expires_at, failed_attempts, recent_sends \
             FROM verification_codes WHERE user_position = ? AND channel = ?",
            args![position, channel.as_str()],
        )
        .await?;
    let Some(row) = first(rows) else {
        return Ok(None);
    };
    Ok(Some(CodeRecord {
        hash: row.opt_text("code_hash")?,
        sent_at: from_micros(row.int("sent_at")?),
        expires_at: from_micros(row.int("expires_at")?),
        failed_attempts: u32::try_from(row.int("failed_attempts")?).unwrap_or(u32::MAX),
        recent_sends: sends_from(&row.text("recent_sends")?)?,
    }))
}

/// The `recent_sends` column: microseconds since the epoch, comma-separated.
fn sends_text(sends: &[OffsetDateTime]) -> String {
    let times: Vec<String> = sends.iter().map(|t| micros(*t).to_string()).collect();
    times.join(",")
}

fn sends_from(text: &str) -> Result<Vec<OffsetDateTime>, StoreError> {
    text.split(',')
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<i64>()
                .map(from_micros)
                .map_err(|_| StoreError::Internal(format!("unreadable recent_sends {text:?}")))
        })
        .collect()
}

async fn write_code(
    tx: &mut impl Tx,
    position: i64,
    channel: Channel,
    write: CodeWrite,
) -> Result<(), StoreError> {
    let key = args![position, channel.as_str()];
    let (sql, params) = match write {
        CodeWrite::Keep => return Ok(()),
        CodeWrite::Replace(code) => (
            "INSERT INTO verification_codes \
             (user_position, channel, code_hash, sent_at, expires_at, failed_attempts, \
             recent_sends) VALUES (?, ?, ?, ?, ?, 0, ?) \
             ON CONFLICT (user_position, channel) DO UPDATE SET code_hash = excluded.code_hash, \
             sent_at = excluded.sent_at, expires_at = excluded.expires_at, failed_attempts = 0, \
             recent_sends = excluded.recent_sends",
            [
                key,
                args![
                    code.hash,
                    micros(code.sent_at),
                    micros(code.expires_at),
                    sends_text(&code.recent_sends)
                ],
            ]
            .concat(),
        ),
        CodeWrite::Consume => (
            "UPDATE verification_codes SET code_hash = NULL \
             WHERE user_position = ? AND channel = ?",
            key,
        ),
        CodeWrite::CountFailure => (
            "UPDATE verification_codes SET failed_attempts = failed_attempts + 1 \
             WHERE user_position = ? AND channel = ?",
            key,
        ),
    };
    tx.execute(sql, params).await?;
    Ok(())
}
