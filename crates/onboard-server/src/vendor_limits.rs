//! `--vendor-limits` (CONTRACT §11): the request limits the vendor publishes, per
//! client IP, so that an integrator's back-off code meets them before production.
//! Off by default. Keyed by the connection's peer address: a forwarded-for header
//! is never trusted, so behind a reverse proxy every client shares the proxy's
//! budget (which is why this is for development and CI, not for operators).
//!
//! Each budget counts over a sliding window (the previous window's count weighted
//! by how much of it still overlaps, plus the current one); going over it blocks the
//! address for a fixed time, during which everything it sends on that surface is
//! refused with the seconds left.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, Rejection};

/// One budget: `limit` within `per`, then blocked for `block`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: u32,
    pub per: Duration,
    pub block: Duration,
}

/// The vendor's published limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorLimitSettings {
    /// REST requests (every path under `/v1/`).
    pub rest: Budget,
    /// WebSocket connections opened.
    pub ws_connections: Budget,
    /// WebSocket messages sent by the client, over all its connections.
    pub ws_messages: Budget,
}

impl Default for VendorLimitSettings {
    fn default() -> Self {
        VendorLimitSettings {
            rest: Budget {
                limit: 250,
                per: Duration::from_secs(10),
                block: Duration::from_secs(60),
            },
            ws_connections: Budget {
                limit: 10,
                per: Duration::from_secs(60),
                block: Duration::from_secs(120),
            },
            ws_messages: Budget {
                limit: 40,
                per: Duration::from_secs(60),
                block: Duration::from_secs(120),
            },
        }
    }
}

/// The counters of every budget; shared by all connections of a node.
#[derive(Debug)]
pub struct VendorLimits {
    rest: PerAddress,
    /// Connections and messages share one block: over either, the address is
    /// refused on the WebSocket surface until it ends.
    ws_connections: PerAddress,
    ws_messages: PerAddress,
    ws_block: Blocks,
}

/// Refused: try again in this many seconds (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    pub retry_after: u64,
    /// Which budget refused, for the sentence.
    pub what: &'static str,
    pub budget: Budget,
}

impl Exceeded {
    /// The sentence of the refusal.
    pub fn sentence(&self) -> String {
        format!(
            "rate limit exceeded: at most {} {} per {} s from one address; try again in {} s",
            self.budget.limit,
            self.what,
            self.budget.per.as_secs(),
            self.retry_after
        )
    }
}

impl VendorLimits {
    pub fn new(settings: VendorLimitSettings) -> Arc<Self> {
        Arc::new(VendorLimits {
            rest: PerAddress::new(settings.rest),
            ws_connections: PerAddress::new(settings.ws_connections),
            ws_messages: PerAddress::new(settings.ws_messages),
            ws_block: Blocks::default(),
        })
    }

    /// Counts one REST request from `ip`.
    pub fn rest_request(&self, ip: IpAddr) -> Result<(), Exceeded> {
        self.rest
            .take(ip, Instant::now())
            .map_err(|retry_after| Exceeded {
                retry_after,
                what: "REST requests",
                budget: self.rest.budget,
            })
    }

    /// Counts one WebSocket connection opened by `ip`.
    pub fn ws_connection(&self, ip: IpAddr) -> Result<(), Exceeded> {
        self.ws_take(&self.ws_connections, ip, "WebSocket connections")
    }

    /// Counts one message sent on a WebSocket by `ip`.
    pub fn ws_message(&self, ip: IpAddr) -> Result<(), Exceeded> {
        self.ws_take(&self.ws_messages, ip, "WebSocket messages")
    }

    fn ws_take(&self, budget: &PerAddress, ip: IpAddr, what: &'static str) -> Result<(), Exceeded> {
        let now = Instant::now();
        let refused = |retry_after| Exceeded {
            retry_after,
            what,
            budget: budget.budget,
        };
        if let Some(retry_after) = self.ws_block.remaining(ip, now) {
            return Err(refused(retry_after));
        }
        budget.take(ip, now).map_err(|retry_after| {
            self.ws_block.block(ip, now + budget.budget.block);
            refused(retry_after)
        })
    }
}

/// Addresses remembered per budget, at most; when full, entries that no longer
/// matter go, and if all still do the table starts afresh (bounded memory beats
/// exactness against someone holding that many addresses).
const MAX_ADDRESSES: usize = 65_536;

#[derive(Debug)]
struct PerAddress {
    budget: Budget,
    counters: Mutex<HashMap<IpAddr, Counter>>,
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    window_start: Instant,
    previous: u32,
    current: u32,
    blocked_until: Option<Instant>,
}

impl PerAddress {
    fn new(budget: Budget) -> Self {
        PerAddress {
            budget,
            counters: Mutex::default(),
        }
    }

    /// Takes one from `ip`'s budget, or says how many seconds it stays refused.
    fn take(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let budget = self.budget;
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        if counters.len() >= MAX_ADDRESSES && !counters.contains_key(&ip) {
            counters.retain(|_, c| c.matters(now, budget));
            if counters.len() >= MAX_ADDRESSES {
                counters.clear();
            }
        }
        let counter = counters.entry(ip).or_insert(Counter {
            window_start: now,
            previous: 0,
            current: 0,
            blocked_until: None,
        });
        if let Some(until) = counter.blocked_until {
            if until > now {
                return Err(seconds_until(until, now));
            }
            counter.blocked_until = None;
        }
        counter.roll(now, budget.per);
        if counter.estimate(now, budget.per) >= f64::from(budget.limit) {
            let until = now + budget.block;
            counter.blocked_until = Some(until);
            return Err(seconds_until(until, now));
        }
        counter.current += 1;
        Ok(())
    }
}

impl Counter {
    /// Moves the window forward to the one holding `now`.
    fn roll(&mut self, now: Instant, per: Duration) {
        let elapsed = now.duration_since(self.window_start);
        if elapsed < per {
            return;
        }
        let windows = elapsed.as_nanos() / per.as_nanos().max(1);
        self.previous = if windows == 1 { self.current } else { 0 };
        self.current = 0;
        let step = per.saturating_mul(u32::try_from(windows).unwrap_or(u32::MAX));
        self.window_start = self.window_start.checked_add(step).unwrap_or(now);
    }

    /// Requests counted over the last `per`.
    fn estimate(&self, now: Instant, per: Duration) -> f64 {
        let into = now.duration_since(self.window_start).as_secs_f64() / per.as_secs_f64();
        f64::from(self.previous) * (1.0 - into).max(0.0) + f64::from(self.current)
    }

    /// Whether forgetting this address would change an answer.
    fn matters(&self, now: Instant, budget: Budget) -> bool {
        self.blocked_until.is_some_and(|until| until > now)
            || now.duration_since(self.window_start) < budget.per.saturating_mul(2)
    }
}

/// Addresses blocked on one surface, and until when.
#[derive(Debug, Default)]
struct Blocks(Mutex<HashMap<IpAddr, Instant>>);

impl Blocks {
    fn remaining(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        let blocks = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let until = *blocks.get(&ip)?;
        (until > now).then(|| seconds_until(until, now))
    }

    fn block(&self, ip: IpAddr, until: Instant) {
        let mut blocks = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if blocks.len() >= MAX_ADDRESSES {
            blocks.retain(|_, until| *until > now);
            if blocks.len() >= MAX_ADDRESSES {
                blocks.clear();
            }
        }
        blocks.insert(ip, until);
    }
}

fn seconds_until(until: Instant, now: Instant) -> u64 {
    until.duration_since(now).as_secs_f64().ceil().max(1.0) as u64
}

/// The REST budget as a middleware: paths under `/v1/` count, the rest (health,
/// metrics, the OpenAPI document, the WebSocket upgrade) do not.
pub async fn rest(
    State(limits): State<Arc<VendorLimits>>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path().starts_with("/v1/")
        && let Some(ip) = peer_ip(&request)
        && let Err(exceeded) = limits.rest_request(ip)
    {
        return ApiError::Rejected(
            Rejection::RateLimited(exceeded.retry_after),
            exceeded.sentence(),
        )
        .into_response();
    }
    next.run(request).await
}

/// The client's address, as the connection gave it.
pub fn peer_ip(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(limit: u32, per_ms: u64, block_ms: u64) -> Budget {
        Budget {
            limit,
            per: Duration::from_millis(per_ms),
            block: Duration::from_millis(block_ms),
        }
    }

    #[test]
    fn a_burst_over_the_limit_is_refused_for_the_whole_block() {
        let limits = PerAddress::new(budget(250, 10_000, 60_000));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let start = Instant::now();
        let passed = (0..270).filter(|_| limits.take(ip, start).is_ok()).count();
        assert_eq!(passed, 250);
        assert_eq!(limits.take(ip, start), Err(60));
        // Still refused half-way through the block, with the time left.
        assert_eq!(limits.take(ip, start + Duration::from_secs(30)), Err(30));
        // Another address is not affected.
        assert!(limits.take("192.0.2.2".parse().unwrap(), start).is_ok());
        // After the block, the address starts again.
        assert!(limits.take(ip, start + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn the_window_slides_so_a_burst_across_its_edge_is_still_counted() {
        let limits = PerAddress::new(budget(10, 1_000, 5_000));
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let start = Instant::now();
        // One request opens the window; nine more come late in it.
        assert!(limits.take(ip, start).is_ok());
        let late = start + Duration::from_millis(900);
        assert_eq!((0..9).filter(|_| limits.take(ip, late).is_ok()).count(), 9);
        // Just past the window's edge, nine tenths of those ten still count.
        let next = start + Duration::from_millis(1_100);
        assert_eq!((0..10).filter(|_| limits.take(ip, next).is_ok()).count(), 1);
    }

    #[test]
    fn the_address_table_stays_bounded() {
        let limits = PerAddress::new(budget(1, 1_000, 1_000));
        let now = Instant::now();
        for i in 0..(MAX_ADDRESSES as u32 + 10) {
            let _ = limits.take(IpAddr::from(i.to_be_bytes()), now);
        }
        assert!(limits.counters.lock().unwrap().len() <= MAX_ADDRESSES);
    }

    #[test]
    fn websocket_connections_and_messages_share_one_block() {
        let limits = VendorLimits::new(VendorLimitSettings {
            ws_connections: budget(2, 60_000, 120_000),
            ws_messages: budget(3, 60_000, 120_000),
            ..VendorLimitSettings::default()
        });
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        assert!(limits.ws_connection(ip).is_ok());
        assert!((0..3).all(|_| limits.ws_message(ip).is_ok()));
        let refused = limits.ws_message(ip).unwrap_err();
        assert_eq!(refused.retry_after, 120);
        // The block covers new connections too, though their own budget is not spent.
        assert!(limits.ws_connection(ip).is_err());
        assert!(limits.rest_request(ip).is_ok());
        assert!(refused.sentence().contains("at most 3 WebSocket messages"));
    }
}
