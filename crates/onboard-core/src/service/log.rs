//! Reading the outbox (CONTRACT §2 extensions, §4).

use onboard_api::OutboxMessage;

use super::{Onboarding, ServiceError, user_not_found};
use crate::store::Enterprise;
use crate::time_format::rfc3339_millis;
use crate::values::UserId;

impl Onboarding {
    /// `GET /v1/sandbox/messages?user_id=`: the outbox of one of the enterprise's
    /// users, newest first.
    pub async fn outbox_of(
        &self,
        enterprise: &Enterprise,
        user_id: &UserId,
    ) -> Result<Vec<OutboxMessage>, ServiceError> {
        let user_id = user_id.as_str();
        if self
            .store
            .find_user(enterprise.id, user_id)
            .await?
            .is_none()
        {
            return Err(user_not_found(user_id));
        }
        let entries = self
            .store
            .list_outbox(Some(enterprise.id), Some(user_id), 100)
            .await?;
        Ok(entries
            .into_iter()
            .map(|e| OutboxMessage {
                channel: e.channel.as_str().to_owned(),
                to: e.to,
                code: e.code,
                sent_at: rfc3339_millis(e.sent_at),
            })
            .collect())
    }
}
