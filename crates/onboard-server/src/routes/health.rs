//! Liveness and readiness (CONTRACT §2, extensions).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use onboard_core::service::ServiceError;
use serde_json::{Value, json};

use crate::state::AppState;

/// The process is up and serving.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The process can reach its database and commit writes; load balancers stop
/// routing here otherwise (CONTRACT §13). The store logs a failing disk once per
/// episode; an unreachable database is logged here, as before.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let error = match state.onboarding.ready().await {
        Ok(()) => return (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(ServiceError::DiskFull) => {
            "the database's disk is full; writes cannot commit until space is freed"
        }
        Err(ServiceError::Unavailable(why)) if why.contains("writer connection was lost") => {
            tracing::warn!(error = %why, "not ready");
            "the database's writer connection was lost; writes cannot commit until the node restarts"
        }
        Err(e) => {
            tracing::warn!(error = ?e, "not ready");
            "the database is unreachable or cannot commit writes"
        }
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "unavailable", "error": error})),
    )
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
