//! Webhook endpoints of an enterprise (CONTRACT §9): create (the secret is shown
//! once), list, read, change, delete, rotate the secret, list the deliveries and
//! replay.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use onboard_api::{Data, Page, WebhookAttemptOut, WebhookEndpointOut};
use onboard_core::service::{EndpointInput, ServiceError};
use onboard_core::time_format::rfc3339_millis;
use onboard_core::webhooks::{Attempt, AttemptStatus, Endpoint};
use serde::Deserialize;
use serde_json::Value;
use time::Duration;

use crate::error::ApiError;
use crate::extract::{Authed, JsonBody, OptionalJsonBody, PathParam, QueryNames, QueryParams};
use crate::state::AppState;

fn out(endpoint: &Endpoint, with_secret: bool) -> WebhookEndpointOut {
    WebhookEndpointOut {
        id: endpoint.id.clone(),
        url: endpoint.url.clone(),
        description: endpoint.description.clone(),
        event_types: endpoint.event_types.clone(),
        enabled: endpoint.enabled,
        created_at: rfc3339_millis(endpoint.created_at),
        secret: with_secret.then(|| endpoint.secret.expose().to_owned()),
        disabled_reason: endpoint.disabled_reason.clone(),
    }
}

fn attempt_out(a: &Attempt) -> WebhookAttemptOut {
    WebhookAttemptOut {
        event_id: a.event_id,
        webhook_id: a.message_id.clone(),
        attempt: a.attempt,
        attempted_at: rfc3339_millis(a.attempted_at),
        status: a.status.as_str().to_owned(),
        status_code: a.status_code,
        duration_ms: a.duration_ms,
        response: a.response.clone(),
    }
}

/// An endpoint id from the path: anything else than an id names nothing.
fn endpoint_id(raw: &str) -> Result<&str, ApiError> {
    let fits = raw.len() == 35
        && raw.starts_with("ep_")
        && raw[3..].bytes().all(|b| b.is_ascii_hexdigit());
    if fits {
        Ok(raw)
    } else {
        Err(ServiceError::NotFound(format!("No webhook endpoint with id {raw} exists.")).into())
    }
}

/// A JSON number that is a whole number (`928` or `928.0`), within `i64`.
fn whole(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        let f = value.as_f64()?;
        (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
    })
}

/// `POST /v1/enterprise/webhooks`: 201 with the endpoint and its secret.
pub async fn create(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Data<WebhookEndpointOut>>), ApiError> {
    let input = EndpointInput::read(body, true)?;
    let endpoint = state.onboarding.create_endpoint(&enterprise, input).await?;
    Ok((
        StatusCode::CREATED,
        Json(Data {
            data: out(&endpoint, true),
        }),
    ))
}

/// `GET /v1/enterprise/webhooks`.
pub async fn list(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
) -> Result<Json<Data<Vec<WebhookEndpointOut>>>, ApiError> {
    let endpoints = state.onboarding.endpoints(&enterprise).await?;
    Ok(Json(Data {
        data: endpoints.iter().map(|e| out(e, false)).collect(),
    }))
}

/// `GET /v1/enterprise/webhooks/:id`.
pub async fn get(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    PathParam(id): PathParam,
) -> Result<Json<Data<WebhookEndpointOut>>, ApiError> {
    let endpoint = state
        .onboarding
        .endpoint(&enterprise, endpoint_id(&id)?)
        .await?;
    Ok(Json(Data {
        data: out(&endpoint, false),
    }))
}

/// `PATCH /v1/enterprise/webhooks/:id`: `url`, `description`, `event_types`,
/// `enabled`; what is left out stays.
pub async fn update(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    PathParam(id): PathParam,
    JsonBody(body): JsonBody,
) -> Result<Json<Data<WebhookEndpointOut>>, ApiError> {
    let id = endpoint_id(&id)?;
    let input = EndpointInput::read(body, false)?;
    let endpoint = state
        .onboarding
        .update_endpoint(&enterprise, id, input)
        .await?;
    Ok(Json(Data {
        data: out(&endpoint, false),
    }))
}

/// `DELETE /v1/enterprise/webhooks/:id`: 200 with an empty body.
pub async fn delete(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    PathParam(id): PathParam,
) -> Result<StatusCode, ApiError> {
    state
        .onboarding
        .delete_endpoint(&enterprise, endpoint_id(&id)?)
        .await?;
    Ok(StatusCode::OK)
}

/// The longest grace a rotated secret may keep signing.
const MAX_GRACE_SECONDS: i64 = 7 * 24 * 3600;

/// `POST /v1/enterprise/webhooks/:id/rotate-secret [{"grace_seconds"}]`: the new
/// secret, shown once; the old one signs beside it for the grace (24 h).
pub async fn rotate(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    PathParam(id): PathParam,
    OptionalJsonBody(body): OptionalJsonBody,
) -> Result<Json<Data<WebhookEndpointOut>>, ApiError> {
    let id = endpoint_id(&id)?;
    let grace = match body {
        None | Some(Value::Null) => 24 * 3600,
        Some(Value::Object(map)) if map.is_empty() => 24 * 3600,
        Some(Value::Object(map)) if map.len() == 1 && map.contains_key("grace_seconds") => {
            match whole(&map["grace_seconds"]) {
                Some(s) if (0..=MAX_GRACE_SECONDS).contains(&s) => s,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "grace_seconds must be a whole number from 0 to {MAX_GRACE_SECONDS}"
                    )));
                }
            }
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "the body may hold grace_seconds only",
            ));
        }
    };
    let endpoint = state
        .onboarding
        .rotate_endpoint_secret(&enterprise, id, Duration::seconds(grace))
        .await?;
    Ok(Json(Data {
        data: out(&endpoint, true),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryParams {
    status: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

impl QueryNames for DeliveryParams {
    const NAMES: &'static [&'static str] = &["status", "limit", "cursor"];
}

/// `GET /v1/enterprise/webhooks/:id/deliveries[?status&limit&cursor]`: attempts,
/// newest first.
pub async fn deliveries(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    PathParam(id): PathParam,
    QueryParams(params): QueryParams<DeliveryParams>,
) -> Result<Json<Page<WebhookAttemptOut>>, ApiError> {
    let id = endpoint_id(&id)?;
    let status =
        match params.status.as_deref() {
            None => None,
            Some(s) => Some(AttemptStatus::parse(s).ok_or_else(|| {
                ApiError::bad_request("status must be succeeded, pending or failed")
            })?),
        };
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be from 1 to 1000"));
    }
    let cursor = match params.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(text) => Some(state.onboarding.decode_cursor(enterprise.id, text).await?),
        None => None,
    };
    let (attempts, next) = state
        .onboarding
        .endpoint_attempts(&enterprise, id, status, cursor, limit)
        .await?;
    let next_cursor = match next {
        Some(next) => Some(state.onboarding.encode_cursor(enterprise.id, next).await?),
        None => None,
    };
    Ok(Json(Page {
        data: attempts.iter().map(attempt_out).collect(),
        next_cursor,
    }))
}

/// `POST /v1/enterprise/webhooks/:id/replay {"after"} | {"event_id"}`: 202; the
/// messages go again, with their `webhook-id`s, in order.
pub async fn replay(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    PathParam(id): PathParam,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Data<WebhookEndpointOut>>), ApiError> {
    let id = endpoint_id(&id)?;
    let number = |value: Option<&Value>, name: &str| match value {
        None => Ok(None),
        Some(v) => whole(v).filter(|n| *n >= 0).map(Some).ok_or_else(|| {
            ApiError::bad_request(format!("{name} must be a whole number, 0 or more"))
        }),
    };
    let Value::Object(map) = &body else {
        return Err(ApiError::bad_request(
            "the body must be {\"after\": <event_id>} or {\"event_id\": <event_id>}",
        ));
    };
    if let Some(other) = map.keys().find(|k| *k != "after" && *k != "event_id") {
        return Err(ApiError::bad_request(format!(
            "{other} is not a field of a replay"
        )));
    }
    let after = number(map.get("after"), "after")?;
    let event_id = number(map.get("event_id"), "event_id")?;
    let endpoint = state
        .onboarding
        .replay_endpoint(&enterprise, id, after, event_id)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Data {
            data: out(&endpoint, false),
        }),
    ))
}
