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

use crate::engine::Row;
use crate::engine::{Engine, Tx, first};
use crate::users::user_from;
use crate::{args, sealing};

#[async_trait]
impl<E: Engine> TokenStore for SqlStore<E> {
    /// The recipient and code are sealed under the user's data key (a user
    /// written before sealing has none, and its messages stay plain).
    async fn append_outbox(&self, m: &OutboxEntry) -> Result<(), StoreError> {
        let rows = (self.engine)
            .read(
                "SELECT data_key FROM users WHERE enterprise_id = ? AND user_id = ?",
                args![m.enterprise.0, &m.user_id],
            )
            .await?;
        let wrapped = first(rows)
            .map(|r| r.opt_text("data_key"))
            .transpose()?
            .flatten();
        let (to, code, sealed) = match wrapped {
            Some(wrapped) => {
                let key = sealing::key_of(&self.sealer, m.enterprise, &m.user_id, &wrapped)?;
                let binding = sealing::binding(m.enterprise, &m.user_id, "outbox");
                (
                    key.seal_text(binding, &m.to),
                    key.seal_text(binding, &m.code),
                    true,
                )
            }
            None => (m.to.clone(), m.code.clone(), false),
        };
        self.engine
            .write_count(
                "INSERT INTO outbox (enterprise_id, user_id, channel, recipient, code, sent_at, \
                 sealed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                args![
                    m.enterprise.0,
                    &m.user_id,
                    m.channel.as_str(),
                    to,
                    code,
                    micros(m.sent_at),
                    sealed
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
            "SELECT o.enterprise_id, o.user_id, o.channel, o.recipient, o.code, o.sent_at, \
             o.sealed, u.data_key FROM outbox o LEFT JOIN users u \
             ON u.enterprise_id = o.enterprise_id AND u.user_id = o.user_id WHERE TRUE",
        );
        let mut params = Vec::new();
        if let Some(e) = enterprise {
            sql.push_str(" AND o.enterprise_id = ?");
            params.push(e.0.into());
        }
        if let Some(u) = user_id {
            sql.push_str(" AND o.user_id = ?");
            params.push(u.into());
        }
        sql.push_str(" ORDER BY o.id DESC LIMIT ?");
        params.push(i64::from(limit).into());
        let rows = self.engine.read(&sql, params).await?;
        rows.iter().map(|r| self.outbox_from(r)).collect()
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
        first(rows)
            .map(|row| user_from(row, &self.sealer))
            .transpose()
    }

    async fn token_owner(
        &self,
        hash: &KeyHash,
        now: OffsetDateTime,
    ) -> Result<Option<(EnterpriseId, User)>, StoreError> {
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
        match first(rows) {
            Some(row) => Ok(Some((
                EnterpriseId(row.int("enterprise_id")?),
                user_from(row, &self.sealer)?,
            ))),
            None => Ok(None),
        }
    }
}

impl<E: Engine> SqlStore<E> {
    /// An outbox message from its row, opened when sealed.
    fn outbox_from(&self, r: &Row) -> Result<OutboxEntry, StoreError> {
        let enterprise = EnterpriseId(r.int("enterprise_id")?);
        let user_id = r.text("user_id")?;
        let channel = Channel::parse(&r.text("channel")?)
            .map_err(|_| StoreError::Internal("corrupt outbox channel".into()))?;
        let (mut to, mut code) = (r.text("recipient")?, r.text("code")?);
        if r.bool("sealed")? {
            let wrapped = r.opt_text("data_key")?.ok_or_else(|| {
                StoreError::Internal("a sealed outbox message's user has no data key".into())
            })?;
            let key = sealing::key_of(&self.sealer, enterprise, &user_id, &wrapped)?;
            let binding = sealing::binding(enterprise, &user_id, "outbox");
            to = key.open_text(binding, &to).map_err(sealing::refused)?;
            code = key.open_text(binding, &code).map_err(sealing::refused)?;
        }
        Ok(OutboxEntry {
            enterprise,
            user_id,
            channel,
            to,
            code,
            sent_at: from_micros(r.int("sent_at")?),
        })
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
