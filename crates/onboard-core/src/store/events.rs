//! The append-only event log that the feed and the webhook dispatcher replay
//! (CONTRACT §6). Events are appended by the writes of the other roles, in the
//! same transaction as the change they record; this role reads them.

use async_trait::async_trait;

use super::StoreError;
use crate::events::Event;
use crate::tenant::EnterpriseId;

/// The range of the event log an enterprise can still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventBounds {
    pub oldest: Option<i64>,
    pub latest: i64,
}

/// Reading and pruning the event log.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Up to `limit` events with `event_id > after`, in `event_id` order.
    async fn read_events(
        &self,
        enterprise: EnterpriseId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError>;

    /// The oldest event still held (`None` when none is) and the latest id issued.
    async fn event_bounds(&self, enterprise: EnterpriseId) -> Result<EventBounds, StoreError>;
}
