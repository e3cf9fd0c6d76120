//! Outgoing webhook endpoints, the leases that let one node at a time deliver
//! to each, and the attempts they made (CONTRACT §9).

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;
use crate::tenant::EnterpriseId;
use crate::webhooks::{Attempt, AttemptStatus, Backlog, Endpoint, EndpointChange, Progress};

/// Webhook endpoints, leases and attempts.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Stores a new endpoint; it starts after the enterprise's latest event (its
    /// `cursor` is set here, in the same statement). Returns it as stored.
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<Endpoint, StoreError>;

    async fn endpoints(&self, enterprise: EnterpriseId) -> Result<Vec<Endpoint>, StoreError>;

    async fn endpoint(
        &self,
        enterprise: EnterpriseId,
        id: &str,
    ) -> Result<Option<Endpoint>, StoreError>;

    /// Applies an enterprise's change; `None` when it has no such endpoint.
    async fn change_endpoint(
        &self,
        enterprise: EnterpriseId,
        id: &str,
        change: &EndpointChange,
    ) -> Result<Option<Endpoint>, StoreError>;

    /// Deletes an endpoint and its attempts; `false` when there was none.
    async fn delete_endpoint(&self, enterprise: EnterpriseId, id: &str)
    -> Result<bool, StoreError>;

    /// Leases up to `limit` endpoints that have a message due at `now` and no
    /// live lease, to `owner` until `until`. Two callers never lease one endpoint.
    async fn lease_endpoints(
        &self,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Endpoint>, StoreError>;

    /// Records where a leased endpoint stands (and the attempt that got it
    /// there, if any), renewing the lease to `until`. `false` when `owner` no
    /// longer holds the lease (nothing was written).
    async fn record_progress(
        &self,
        owner: &str,
        endpoint_id: &str,
        progress: &Progress,
        attempt: Option<&Attempt>,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Gives a lease back.
    async fn release_endpoint(&self, owner: &str, endpoint_id: &str) -> Result<(), StoreError>;

    /// Every enabled endpoint's backlog: events not yet handled, and when the
    /// oldest of them was committed.
    async fn webhook_backlog(&self) -> Result<Vec<Backlog>, StoreError>;

    /// An endpoint's attempts, newest first, before `before` (a position).
    async fn attempts(
        &self,
        enterprise: EnterpriseId,
        endpoint_id: &str,
        status: Option<AttemptStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Attempt>, StoreError>;
}
