//! Liveness and readiness (CONTRACT §2, extensions).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::state::AppState;

/// The process is up and serving.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The process can reach its database; load balancers stop routing here otherwise.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.onboarding.ready().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "error": "the database is unreachable"})),
            )
        }
    }
}

/// `GET /metrics`: Prometheus text of this node.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let authenticated = state.feed.connections.total();
    let mut text = state.metrics.render(authenticated);
    let (counts, backlog) = state.onboarding.webhook_metrics().await;
    let now = state.onboarding.now();
    crate::metrics::render_webhooks(&mut text, counts, backlog.as_deref(), now);
    if let Some((totals, quotas)) = state.onboarding.document_metrics().await {
        crate::metrics::render_documents(&mut text, totals, quotas);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
