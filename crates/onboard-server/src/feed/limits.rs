//! Per-connection and per-key limits of the feed (CONTRACT §5).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use onboard_core::store::EnterpriseId;

#[derive(Debug, Clone)]
pub struct FeedLimits {
    /// Largest client text message answered normally; larger ones get an error.
    pub max_message_bytes: usize,
    /// Sustained client messages per second, and the burst above it.
    pub messages_per_second: u32,
    pub burst: u32,
    /// Refused messages after which the connection is closed; only an
    /// authenticated success starts the count again.
    pub max_refusals: u32,
    /// Failed authentications after which the connection is closed (1008).
    pub max_auth_failures: u32,
    /// A connection that has not authenticated this long after it opened is
    /// closed (1008), whatever else it sends.
    pub auth_timeout: Duration,
    /// A write that cannot proceed for this long closes the connection.
    pub write_timeout: Duration,
    pub ping_interval: Duration,
    /// A connection that sends nothing (not even a pong) this long is closed.
    pub idle_timeout: Duration,
    /// Open authenticated connections per enterprise key, on this node.
    pub max_connections_per_key: usize,
    /// Live events buffered per enterprise for its subscribers; one further
    /// behind is served from the log instead.
    pub broadcast_capacity: usize,
    /// How often an enterprise's tailer reads the log without being woken (which
    /// is how it hears of changes made by other processes).
    pub poll_interval: Duration,
}

impl Default for FeedLimits {
    fn default() -> Self {
        FeedLimits {
            max_message_bytes: 16 * 1024,
            messages_per_second: 20,
            burst: 40,
            max_refusals: 100,
            max_auth_failures: 5,
            auth_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            max_connections_per_key: 20_000,
            broadcast_capacity: 1024,
            poll_interval: Duration::from_millis(500),
        }
    }
}

/// A token bucket: `burst` tokens, refilled at `rate` per second.
#[derive(Debug)]
pub struct RateLimiter {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl RateLimiter {
    pub fn new(rate: u32, burst: u32) -> Self {
        RateLimiter {
            tokens: f64::from(burst),
            rate: f64::from(rate),
            burst: f64::from(burst),
            last: Instant::now(),
        }
    }

    /// Takes a token if one is left.
    pub fn allow(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Counts open connections per enterprise; a [`Slot`] gives its place back on drop.
#[derive(Debug, Clone, Default)]
pub struct Connections(Arc<Mutex<HashMap<EnterpriseId, usize>>>);

pub struct Slot {
    connections: Connections,
    enterprise: EnterpriseId,
}

impl Connections {
    /// Open authenticated connections over all keys.
    pub fn total(&self) -> usize {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .sum()
    }

    pub fn acquire(&self, enterprise: EnterpriseId, max: usize) -> Option<Slot> {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(enterprise).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Slot {
            connections: self.clone(),
            enterprise,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.connections.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.enterprise) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.enterprise);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_refuses() {
        let mut limiter = RateLimiter::new(1, 3);
        assert!((0..3).all(|_| limiter.allow()));
        assert!(!limiter.allow());
    }

    #[test]
    fn slots_count_per_key_and_return_on_drop() {
        let connections = Connections::default();
        let a = EnterpriseId(1);
        let first = connections.acquire(a, 1).unwrap();
        assert!(connections.acquire(a, 1).is_none());
        assert!(connections.acquire(EnterpriseId(2), 1).is_some());
        drop(first);
        assert!(connections.acquire(a, 1).is_some());
    }
}
