//! What every handler can reach.

use std::sync::Arc;
use std::time::Duration;

use onboard_core::service::Onboarding;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::feed::hub::Hub;
use crate::feed::limits::{Connections, FeedLimits};
use crate::metrics::Metrics;
use crate::vendor_limits::{VendorLimitSettings, VendorLimits};

#[derive(Clone)]
pub struct AppState {
    pub onboarding: Onboarding,
    /// The largest request body accepted, in bytes (413 above it).
    pub body_limit: usize,
    /// Sandbox mode: routes that expose codes (`/v1/sandbox/*`) exist only then.
    pub sandbox: bool,
    pub feed: Arc<Feed>,
    /// The counters and gauges `/metrics` shows.
    pub metrics: Arc<Metrics>,
    /// The shutdown signal and the tasks that must end before the server does.
    pub tasks: Tasks,
    /// Connection timeouts and the connection cap.
    pub edge: EdgeLimits,
    /// What housekeeping prunes, and how often it runs.
    pub housekeeping: Housekeeping,
    /// The vendor's per-address limits, when emulated (`--vendor-limits`).
    pub vendor_limits: Option<Arc<VendorLimits>>,
    /// The operator console's settings.
    pub console: ConsoleSettings,
    /// HTTPS on the listener, when configured (CONTRACT §13).
    pub tls: Option<Arc<crate::tls::Tls>>,
}

/// The operator console's settings (CONTRACT §10).
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsoleSettings {
    /// Mark the console's cookies `Secure`: set it when browsers reach the
    /// server over TLS (directly or through a proxy).
    pub secure_cookie: bool,
}

/// The server's periodic upkeep: pruning the event log beyond retention, expired
/// user tokens and old outbox messages, by the service's clock.
#[derive(Debug, Clone, Copy)]
pub struct Housekeeping {
    pub retention: onboard_core::events::Retention,
    pub every: Duration,
}

impl Default for Housekeeping {
    fn default() -> Self {
        Housekeeping {
            retention: onboard_core::events::Retention::default(),
            every: Duration::from_secs(60),
        }
    }
}

/// The live feed's shared parts.
pub struct Feed {
    pub hub: Hub,
    pub limits: FeedLimits,
    /// Authenticated sessions, per key and in all.
    pub connections: Connections,
    /// The vendor's per-address WebSocket limits, when emulated.
    pub vendor_limits: Option<Arc<VendorLimits>>,
}

/// What shutdown waits for: feed sessions and background tasks are spawned on
/// `tracker` and end when `shutdown` is cancelled.
#[derive(Clone, Default)]
pub struct Tasks {
    /// Cancelled when the server shuts down: every session and task ends.
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
}

/// What a server is built from, beside the domain.
#[derive(Debug, Clone)]
pub struct Options {
    pub body_limit: usize,
    pub sandbox: bool,
    pub feed: FeedLimits,
    pub edge: EdgeLimits,
    pub housekeeping: Housekeeping,
    /// Emulate the vendor's published per-address limits (off by default).
    pub vendor_limits: Option<VendorLimitSettings>,
    pub console: ConsoleSettings,
    /// The certificate and key to serve HTTPS with (CONTRACT §13); plain HTTP
    /// without.
    pub tls: Option<Arc<crate::tls::Tls>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            body_limit: crate::DEFAULT_BODY_LIMIT,
            sandbox: false,
            feed: FeedLimits::default(),
            edge: EdgeLimits::default(),
            housekeeping: Housekeeping::default(),
            vendor_limits: None,
            console: ConsoleSettings::default(),
            tls: None,
        }
    }
}

impl AppState {
    /// The state of one server: the domain, and the feed's hub reading from it.
    pub fn new(onboarding: Onboarding, options: Options) -> Self {
        let feed = &options.feed;
        let hub = Hub::new(
            onboarding.clone(),
            feed.broadcast_capacity,
            feed.poll_interval,
        );
        let vendor_limits = options.vendor_limits.map(VendorLimits::new);
        AppState {
            onboarding,
            vendor_limits: vendor_limits.clone(),
            body_limit: options.body_limit,
            sandbox: options.sandbox,
            edge: options.edge,
            housekeeping: options.housekeeping,
            console: options.console,
            tls: options.tls,
            metrics: Arc::default(),
            tasks: Tasks::default(),
            feed: Arc::new(Feed {
                hub,
                limits: options.feed,
                connections: Connections::default(),
                vendor_limits,
            }),
        }
    }
}

/// The edge's limits (CONTRACT §11); each is configurable.
#[derive(Debug, Clone)]
pub struct EdgeLimits {
    /// A request's head must be complete this long after its first byte (or, for
    /// a new connection, after it was accepted).
    pub header_timeout: Duration,
    /// A request's body must be complete this long after its head.
    pub body_timeout: Duration,
    /// A keep-alive connection with no request for this long is closed; so is a
    /// connection whose response cannot be written for this long.
    pub idle_timeout: Duration,
    /// Open connections (WebSockets included) on this node; the next is refused.
    pub max_connections: usize,
    /// How long shutdown waits for requests in flight and WebSocket goodbyes.
    pub shutdown_timeout: Duration,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}
