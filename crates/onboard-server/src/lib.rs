//! Onboard's HTTP server: the vendor's End Users routes on axum.
//!
//! Read [`routes`] first: the route table lists every path and the handler that
//! serves it. Handlers are thin: an extractor ([`extract`]) authenticates and reads
//! the body, [`onboard_core::service::Onboarding`] does the work, and [`error`]
//! decides every error status and body in one `match`.
//!
//! Startup has one shape: build the [`AppState`] ([`state`]), bind a listener
//! (port 0 in tests), and [`serve`] until the shutdown future resolves: it starts
//! the [`background`] tasks and hands connections to [`edge`], which enforces the
//! connection limits and clocks. The rest:
//! - [`feed`]: the WebSocket feed; [`console`]: the operator console's pages;
//! - [`idempotency`]: safe retries under an `Idempotency-Key`;
//! - [`vendor_limits`]: the vendor's per-address limits, when emulated;
//! - [`metrics`]: the counters `/metrics` shows; `logging`: one line per request;
//!   `json`: responses sent from the JSON the store already holds.

pub mod background;
pub mod console;
pub mod edge;
pub mod error;
pub mod extract;
pub mod feed;
mod headers;
pub mod idempotency;
mod json;
mod logging;
pub mod metrics;
pub mod routes;
pub mod state;
pub mod tls;
pub mod vendor_limits;

use std::future::Future;

use axum::middleware;
use tokio::net::TcpListener;

pub use state::{AppState, ConsoleSettings, Options};

/// The default cap on request bodies: a corporation with 25 beneficial owners is
/// about 25 KiB, so 256 KiB leaves room without inviting abuse.
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024;

/// The whole application, ready to serve.
pub fn app(state: AppState) -> axum::Router {
    let metrics = state.metrics.clone();
    let vendor_limits = state.vendor_limits.clone();
    let retries = middleware::from_fn_with_state(state.clone(), idempotency::idempotent);
    let mut router = routes::router(state).layer(retries);
    if let Some(limits) = vendor_limits {
        router = router.layer(middleware::from_fn_with_state(limits, vendor_limits::rest));
    }
    router
        .layer(middleware::from_fn(headers::refuse_repeats))
        .layer(middleware::from_fn_with_state(
            metrics,
            logging::log_request,
        ))
}

/// Starts the [`background`] tasks, then serves `state` on `listener` until
/// `shutdown` resolves: stops accepting, lets the requests in flight finish,
/// closes the WebSockets with 1001 and returns within the shutdown deadline
/// ([`edge`] holds the connection handling).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    background::start(&state).await;
    edge::serve(listener, state, shutdown).await
}
