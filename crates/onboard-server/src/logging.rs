//! One log line and one metrics sample per request. It names the route *template* (`/v1/enterprise/users/{user_id}`),
//! never the raw path, query or headers: user ids may be email addresses, and
//! headers carry keys. Bodies are never logged.

use std::time::Instant;

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::metrics::Metrics;

pub async fn log_request(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| crate::metrics::UNMATCHED.to_owned());
    let response = next.run(request).await;
    let took = started.elapsed();
    let status = response.status().as_u16();
    metrics.record(method.as_str(), &route, status, took);
    tracing::info!(%method, route, status, micros = took.as_micros() as u64, "request");
    response
}
