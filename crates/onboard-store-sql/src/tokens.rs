//! The `user_tokens` and `outbox` tables.

use crate::SqlStore;
use crate::users::SUMMARY_COLUMNS;
use async_trait::async_trait;
use onboard_core::secret::KeyHash;
use onboard_core::store::TokenStore;
use onboard_core::store::{
    EnterpriseId, Grant, Minting, OutboxEntry, StoreError, TokenGrant, from_micros, micros,
};
use onboard_core::user::User;
use onboard_core::verification::Channel;
use time::OffsetDateTime;

use crate::args;
use crate::engine::{Engine, Tx, first};
use crate::users::user_from;

#[async_trait]
impl<E: Engine> TokenStore for SqlStore<E> {
    async fn append_outbox(&self, m: &OutboxEntry) -> Result<(), StoreError> {
        self.engine
            .write_count(
                "INSERT INTO outbox (enterprise_id, user_id, channel, recipient, code, sent_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
                args![
                    m.enterprise.0,
                    &m.user_id,
                    m.channel.as_str(),
                    &m.to,
                    &m.code,
                    micros(m.sent_at)
                ],
            )
            .await?;
        Ok(())
    }

    async fn list_outbox(
        &self,
        enterprise: Option<EnterpriseId>,
        user_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut sql = String::from(
            "SELECT enterprise_id, user_id, channel, recipient, code, sent_at FROM outbox WHERE TRUE",
        );
        let mut params = Vec::new();
        if let Some(e) = enterprise {
            sql.push_str(" AND enterprise_id = ?");
            params.push(e.0.into());
        }
        if let Some(u) = user_id {
            sql.push_str(" AND user_id = ?");
            params.push(u.into());
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        params.push(i64::from(limit).into());
        let rows = self.engine.read(&sql, params).await?;
        rows.iter()
            .map(|r| {
                let channel = r.text("channel")?;
                Ok(OutboxEntry {
                    enterprise: EnterpriseId(r.int("enterprise_id")?),
                    user_id: r.text("user_id")?,
                    channel: Channel::parse(&channel)
                        .map_err(|_| StoreError::Internal("corrupt outbox channel".into()))?,
                    to: r.text("recipient")?,
                    code: r.text("code")?,
                    sent_at: from_micros(r.int("sent_at")?),
                })
            })
            .collect()
    }

    async fn mint_tokens(
        &self,
        enterprise: EnterpriseId,
        grants: &[TokenGrant],
        now: OffsetDateTime,
    ) -> Result<Minting, StoreError> {
        let mut tx = self.engine.begin().await?;
        for grant in grants {
            if grant_one(&mut tx, enterprise, grant, now).await? == Grant::UserInactive {
                return Ok(Minting::UnknownUser(grant.user_id.clone()));
            }
        }
        tx.commit().await?;
        Ok(Minting::Minted)
    }

    async fn grant_feed_tokens(
        &self,
        enterprise: EnterpriseId,
        grants: &[TokenGrant],
        now: OffsetDateTime,
    ) -> Result<Vec<Grant>, StoreError> {
        let mut tx = self.engine.begin().await?;
        let mut granted = Vec::with_capacity(grants.len());
        for grant in grants {
            granted.push(grant_one(&mut tx, enterprise, grant, now).await?);
        }
        tx.commit().await?;
        Ok(granted)
    }

    async fn user_by_token(
        &self,
        hash: &KeyHash,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        let columns = SUMMARY_COLUMNS.replace(", ", ", u.");
        let sql = format!(
            "SELECT u.{columns}, u.profile FROM user_tokens t \
             JOIN users u ON u.position = t.user_position \
             WHERE t.token_hash = ? AND t.expires_at > ? AND u.active = TRUE"
        );
        let rows = self
            .engine
            .read(&sql, args![hash.as_str(), micros(now)])
            .await?;
        first(rows).map(user_from).transpose()
    }

    async fn token_owner(
        &self,
        hash: &KeyHash,
        now: OffsetDateTime,
    ) -> Result<Option<(EnterpriseId, User)>, StoreError> {
        let columns = SUMMARY_COLUMNS.replace(", ", ", u.");
        let sql = format!(
            "SELECT u.{columns}, u.profile, u.enterprise_id FROM user_tokens t \
             JOIN users u ON u.position = t.user_position \
             WHERE t.token_hash = ? AND t.expires_at > ? AND u.active = TRUE"
        );
        let rows = self
            .engine
            .read(&sql, args![hash.as_str(), micros(now)])
            .await?;
        match first(rows) {
            Some(row) => Ok(Some((
                EnterpriseId(row.int("enterprise_id")?),
                user_from(row)?,
            ))),
            None => Ok(None),
        }
    }
}

/// Stores one token hash if the user is active.
async fn grant_one(
    tx: &mut impl Tx,
    enterprise: EnterpriseId,
    grant: &TokenGrant,
    now: OffsetDateTime,
) -> Result<Grant, StoreError> {
    let inserted = tx
        .execute(
            "INSERT INTO user_tokens (token_hash, user_position, expires_at, created_at) \
             SELECT ?, position, ?, ? FROM users \
             WHERE enterprise_id = ? AND user_id = ? AND active = TRUE",
            args![
                grant.hash.as_str(),
                micros(grant.expires_at),
                micros(now),
                enterprise.0,
                &grant.user_id
            ],
        )
        .await?;
    Ok(if inserted == 1 {
        Grant::Granted
    } else {
        Grant::UserInactive
    })
}
