//! Reading the event log and the outbox (CONTRACT §2 extensions, §4, §5).

use onboard_api::OutboxMessage;

use super::{Onboarding, ServiceError, user_not_found};
use crate::events::Event;
use crate::store::{Enterprise, EnterpriseId};
use crate::time_format::rfc3339_millis;

/// The most events one read returns.
pub const MAX_EVENTS_PER_READ: u32 = 1000;

impl Onboarding {
    /// Events after `after`, oldest first. Asking for history the log no longer
    /// holds is an error that names the oldest id still held.
    pub async fn events(
        &self,
        enterprise: EnterpriseId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Event>, ServiceError> {
        let events = self.store.read_events(enterprise, after, limit).await?;
        // `after` may be i64::MAX: no event follows it, and adding one must not overflow.
        let first_wanted = after.saturating_add(1);
        let missing = match events.first() {
            Some(first) => first.event_id > first_wanted,
            None => {
                let bounds = self.store.event_bounds(enterprise).await?;
                if after > bounds.latest {
                    return Err(ServiceError::BadRequest(format!(
                        "after {after} is beyond the latest event_id, {}",
                        bounds.latest
                    )));
                }
                bounds.latest >= first_wanted
            }
        };
        if missing {
            let bounds = self.store.event_bounds(enterprise).await?;
            let oldest = bounds.oldest.map_or("none".to_owned(), |id| id.to_string());
            return Err(ServiceError::Gone(format!(
                "events after {after} are no longer held; the oldest event held is {oldest}"
            )));
        }
        Ok(events)
    }

    /// `GET /v1/sandbox/messages?user_id=`: the outbox of one of the enterprise's
    /// users, newest first.
    pub async fn outbox_of(
        &self,
        enterprise: &Enterprise,
        user_id: &str,
    ) -> Result<Vec<OutboxMessage>, ServiceError> {
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
