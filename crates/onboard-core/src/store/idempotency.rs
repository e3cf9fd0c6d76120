//! Idempotency keys and the first answers kept for retries (CONTRACT §8).

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;
use crate::tenant::EnterpriseId;

/// How long an idempotency key's first answer is kept.
pub const IDEMPOTENCY_KEPT: time::Duration = time::Duration::hours(24);

/// The method and path (with its query) a request was made to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTarget {
    pub method: String,
    pub path: String,
}

/// What [`IdempotencyStore::claim_idempotency_key`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is this request's: run it, then keep or release its answer.
    Claimed,
    /// Another request with the key is running (its lease is live).
    InFlight,
    /// The first request's answer.
    Answered(KeptAnswer),
}

/// A first answer, kept for retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptAnswer {
    pub request: RequestTarget,
    /// SHA-256 of the request body, lowercase hex.
    pub fingerprint: String,
    pub status: u16,
    pub body: String,
}

/// Idempotency keys.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for the request about to run, unless an answer kept less than
    /// [`IDEMPOTENCY_KEPT`] ago or a claim whose lease runs past `now` holds it.
    /// A claim is leased until `lease_until`, so a node that dies mid-request
    /// does not hold the key for good.
    async fn claim_idempotency_key(
        &self,
        enterprise: EnterpriseId,
        key: &str,
        request: &RequestTarget,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Claim, StoreError>;

    /// Keeps the first answer to a claimed key.
    async fn keep_idempotent_answer(
        &self,
        enterprise: EnterpriseId,
        key: &str,
        answer: &KeptAnswer,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Gives up a claim that got no answer worth keeping (a 5xx, say), so that a
    /// retry runs again. A kept answer is left alone.
    async fn release_idempotency_key(
        &self,
        enterprise: EnterpriseId,
        key: &str,
    ) -> Result<(), StoreError>;
}
