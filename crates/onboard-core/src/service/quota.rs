//! Per-enterprise budgets for work a key can ask for in bulk (CONTRACT §11): user
//! tokens minted over REST, and feed replays (`subscribe` with `after`). Each is a
//! token bucket per enterprise: a burst up to its capacity, refilled evenly over a
//! minute. Over budget, the request is refused with the wait before it would fit.
//! Budgets are per process, like the other limits of a node.

use std::collections::HashMap;
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

use super::{Onboarding, ServiceError};
use crate::store::EnterpriseId;

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
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            tokens_per_minute: 10_000,
            replays_per_minute: 60,
            codes_per_day: 10,
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
