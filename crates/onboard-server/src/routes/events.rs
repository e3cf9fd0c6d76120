//! `GET /v1/enterprise/events?after=&limit=` (CONTRACT §2, §5): the durable log.

use axum::Json;
use axum::extract::State;
use onboard_api::{Data, EventOut};
use onboard_core::service::MAX_EVENTS_PER_READ;
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::{Authed, QueryNames, QueryParams};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct EventParams {
    after: Option<String>,
    limit: Option<String>,
}

impl QueryNames for EventParams {
    const NAMES: &'static [&'static str] = &["after", "limit"];
}

fn number(
    name: &str,
    text: Option<&str>,
    default: i64,
    range: (i64, i64),
) -> Result<i64, ApiError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(default);
    };
    text.parse::<i64>()
        .ok()
        .filter(|n| (range.0..=range.1).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "{name} must be a whole number from {} to {}",
                range.0, range.1
            ))
        })
}

pub async fn list_events(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    QueryParams(params): QueryParams<EventParams>,
) -> Result<Json<Data<Vec<EventOut>>>, ApiError> {
    let after = number("after", params.after.as_deref(), 0, (0, i64::MAX))?;
    let max = i64::from(MAX_EVENTS_PER_READ);
    let limit = number("limit", params.limit.as_deref(), 100, (1, max))? as u32;
    let events = state.onboarding.events(enterprise.id, after, limit).await?;
    Ok(Json(Data {
        data: events.iter().map(|e| e.to_wire()).collect(),
    }))
}
