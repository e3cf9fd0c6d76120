//! Per-enterprise budgets for work a key can ask for in bulk (CONTRACT §11): user
//! tokens minted over REST, and feed replays (`subscribe` with `after`). Each is a
//! token bucket per enterprise: a burst up to its capacity, refilled evenly over a
//! minute. Over budget, the request is refused with the wait before it would fit.
//! Budgets are per process, like the other limits of a node.

use std::collections::HashMap;
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

use super::{Onboarding, ServiceError};
use crate::store::{DocumentTotals, EnterpriseId};

/// How much a key may ask for per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// User tokens minted through the REST routes (the feed's own are not counted).
    pub tokens_per_minute: u32,
    /// Subscriptions that replay history (`after`).
    pub replays_per_minute: u32,
    /// Verification codes per user and channel in 24 hours (the registration's
    /// first code included).
    pub codes_per_day: u32,
    /// Bytes of documents one user may have stored (CONTRACT §7).
    pub document_bytes_per_user: u64,
    /// Bytes of documents one enterprise may have stored, all its users together.
    pub document_bytes_per_enterprise: u64,
}

/// One user's documents: ten files of 10 MiB, a full upload, and no more.
pub const DOCUMENT_BYTES_PER_USER: u64 = 100 * 1024 * 1024;
/// One enterprise's documents: 10 GiB.
pub const DOCUMENT_BYTES_PER_ENTERPRISE: u64 = 10 * 1024 * 1024 * 1024;

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            tokens_per_minute: 10_000,
            replays_per_minute: 60,
            codes_per_day: 10,
            document_bytes_per_user: DOCUMENT_BYTES_PER_USER,
            document_bytes_per_enterprise: DOCUMENT_BYTES_PER_ENTERPRISE,
        }
    }
}

/// Buckets past this many enterprises start afresh: a bound on memory.
const MAX_BUCKETS: usize = 100_000;

#[derive(Default)]
pub(crate) struct Buckets(Mutex<HashMap<EnterpriseId, (f64, OffsetDateTime)>>);

impl Buckets {
    /// Takes `cost` from the enterprise's bucket of `per_minute`; the seconds to
    /// wait when it does not fit (a cost above the capacity never fits).
    fn take(
        &self,
        enterprise: EnterpriseId,
        cost: u32,
        per_minute: u32,
        now: OffsetDateTime,
    ) -> Result<(), u64> {
        let capacity = f64::from(per_minute);
        let rate = capacity / 60.0;
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_BUCKETS && !map.contains_key(&enterprise) {
            map.clear();
        }
        let (level, at) = map.entry(enterprise).or_insert((capacity, now));
        let elapsed = (now - *at).max(Duration::ZERO).as_seconds_f64();
        *level = (*level + elapsed * rate).min(capacity);
        *at = now;
        let cost = f64::from(cost);
        if cost <= *level {
            *level -= cost;
            return Ok(());
        }
        if rate <= 0.0 || cost > capacity {
            return Err(60);
        }
        Err(((cost - *level) / rate).ceil().max(1.0) as u64)
    }
}

impl Onboarding {
    /// Counts `count` user tokens against the enterprise's minute.
    pub(crate) fn take_tokens(
        &self,
        enterprise: EnterpriseId,
        count: usize,
    ) -> Result<(), ServiceError> {
        let per_minute = self.quotas.tokens_per_minute;
        let cost = u32::try_from(count).unwrap_or(u32::MAX);
        self.buckets
            .tokens
            .take(enterprise, cost, per_minute, self.clock.now())
            .map_err(|wait| ServiceError::Throttled {
                why: format!(
                    "at most {per_minute} user tokens are minted per minute for an enterprise; \
                     retry in {wait} seconds"
                ),
                retry_after: wait,
            })
    }

    /// Counts one replay of history against the enterprise's minute.
    pub fn take_replay(&self, enterprise: EnterpriseId) -> Result<(), ServiceError> {
        let per_minute = self.quotas.replays_per_minute;
        self.buckets
            .replays
            .take(enterprise, 1, per_minute, self.clock.now())
            .map_err(|wait| ServiceError::Throttled {
                why: format!(
                    "at most {per_minute} replays of history are served per minute for an \
                     enterprise; retry in {wait} seconds"
                ),
                retry_after: wait,
            })
    }
}

/// The budgets of one process.
#[derive(Default)]
pub(crate) struct AllBuckets {
    tokens: Buckets,
    replays: Buckets,
}

/// Turns at checking and storing an upload against the storage quota, one per
/// enterprise at a time on this node (striped: enterprises share 64 locks), so
/// two uploads of one enterprise cannot both fit in the room left for one.
pub(crate) struct UploadTurns([tokio::sync::Mutex<()>; 64]);

impl Default for UploadTurns {
    fn default() -> Self {
        UploadTurns(std::array::from_fn(|_| tokio::sync::Mutex::new(())))
    }
}

impl UploadTurns {
    pub(crate) async fn take(&self, enterprise: EnterpriseId) -> tokio::sync::MutexGuard<'_, ()> {
        let stripe = enterprise.0.rem_euclid(64) as usize;
        self.0[stripe].lock().await
    }
}

impl Onboarding {
    /// Documents stored in all and by the fullest enterprise, with the quotas,
    /// for `/metrics` (`None` when the database cannot say).
    pub async fn document_metrics(&self) -> Option<(DocumentTotals, &Quotas)> {
        let totals = self.store.document_totals().await.ok()?;
        Some((totals, &self.quotas))
    }

    /// Refuses an upload of `incoming` bytes that would take the user or the
    /// enterprise past its storage quota (413, with a sentence saying which).
    pub(crate) async fn check_document_quota(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        incoming: i64,
    ) -> Result<(), ServiceError> {
        let used = self.store.document_usage(enterprise, user_id).await?;
        let over = |used: i64, quota: u64| {
            u64::try_from(used.saturating_add(incoming)).unwrap_or(u64::MAX) > quota
        };
        let (what, used, quota) = if over(used.user, self.quotas.document_bytes_per_user) {
            (
                "this user's",
                used.user,
                self.quotas.document_bytes_per_user,
            )
        } else if over(used.enterprise, self.quotas.document_bytes_per_enterprise) {
            (
                "this enterprise's",
                used.enterprise,
                self.quotas.document_bytes_per_enterprise,
            )
        } else {
            return Ok(());
        };
        Err(ServiceError::QuotaExceeded(format!(
            "the upload of {incoming} bytes would take {what} documents past their storage \
             quota of {quota} bytes ({used} bytes are stored)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACME: EnterpriseId = EnterpriseId(1);

    #[test]
    fn a_bucket_allows_its_burst_then_refills_over_the_minute() {
        let buckets = Buckets::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        for _ in 0..60 {
            assert_eq!(buckets.take(ACME, 1, 60, t0), Ok(()));
        }
        assert_eq!(buckets.take(ACME, 1, 60, t0), Err(1));
        assert_eq!(buckets.take(ACME, 1, 60, t0 + Duration::seconds(1)), Ok(()));
        // Another enterprise has its own bucket.
        assert_eq!(buckets.take(EnterpriseId(2), 60, 60, t0), Ok(()));
        // More than the whole minute never fits.
        assert_eq!(buckets.take(EnterpriseId(3), 61, 60, t0), Err(60));
        // A clock that goes back does not refill.
        assert_eq!(buckets.take(ACME, 1, 60, t0), Err(1));
    }
}
