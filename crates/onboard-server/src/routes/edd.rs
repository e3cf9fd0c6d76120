//! Enhanced due diligence, vendor paths (CONTRACT §7): the questionnaires'
//! prompts, the requests, and the answers; the sandbox's way to open a request.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use onboard_api::{Data, EddPromptOut, EddRequestOut};
use onboard_core::edd::Form;
use onboard_core::service::{MAX_LIST, NoSuchUser};
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::{Authed, JsonBody, QueryNames, QueryParams};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct PromptParams {
    account_type: Option<String>,
}

impl QueryNames for PromptParams {
    const NAMES: &'static [&'static str] = &["account_type"];
}

/// `GET /v1/enterprise/eddq/prompts[?account_type=individual|corporation]`.
pub async fn prompts(
    State(state): State<AppState>,
    Authed(_): Authed,
    QueryParams(params): QueryParams<PromptParams>,
) -> Result<Json<Data<Vec<EddPromptOut>>>, ApiError> {
    let prompts = state
        .onboarding
        .edd_prompts(params.account_type.as_deref())?;
    Ok(Json(Data {
        data: prompts.into_iter().map(|p| p.to_wire()).collect(),
    }))
}

/// `?user_id=&after=&limit=` of the EDD and document lists.
#[derive(Debug, Deserialize)]
pub struct ListParams {
    user_id: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

impl QueryNames for ListParams {
    const NAMES: &'static [&'static str] = &["user_id", "after", "limit"];
}

impl ListParams {
    /// The user filter (an empty one is none), the id to start after, the limit.
    pub fn read(&self) -> Result<(Option<&str>, i64, u32), ApiError> {
        let after = whole("after", self.after.as_deref(), 0, i64::MAX)?.unwrap_or(0);
        let max = i64::from(MAX_LIST);
        let limit = whole("limit", self.limit.as_deref(), 1, max)?.unwrap_or(max) as u32;
        // An empty `user_id=` is no user id: refused like any other invalid one.
        let user_id = self.user_id.as_deref();
        if let Some(Err(e)) = user_id.map(onboard_core::values::UserId::parse) {
            return Err(ApiError::bad_request(format!("user_id {e}")));
        }
        Ok((user_id, after, limit))
    }
}

fn whole(name: &str, text: Option<&str>, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    text.parse::<i64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(format!("{name} must be a whole number from {min} to {max}"))
        })
}

/// `GET /v1/enterprise/eddq/requests[?user_id=]`: oldest first.
pub async fn requests(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<Json<Data<Vec<EddRequestOut>>>, ApiError> {
    let (user_id, after, limit) = params.read()?;
    let requests = state
        .onboarding
        .edd_requests(&enterprise, user_id, after, limit)
        .await?;
    Ok(Json(Data {
        data: requests.iter().map(|r| r.to_wire()).collect(),
    }))
}

/// `POST /v1/enterprise/eddq/responses`: 200 with the request after.
pub async fn responses(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    JsonBody(body): JsonBody,
) -> Result<Json<Data<EddRequestOut>>, ApiError> {
    let request = state.onboarding.answer_edd(&enterprise, body).await?;
    Ok(Json(Data {
        data: request.to_wire(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenBody {
    user_id: String,
    form: Option<String>,
}

/// `POST /v1/sandbox/eddq/requests {"user_id", "form"?}` (sandbox only): 201.
pub async fn sandbox_open(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Data<EddRequestOut>>), ApiError> {
    let body: OpenBody = serde_json::from_value(body).map_err(|_| {
        ApiError::bad_request(
            "the request body must be {\"user_id\": <string>, \"form\": <string>?} \
             and nothing else",
        )
    })?;
    let form = body
        .form
        .as_deref()
        .map(Form::parse)
        .transpose()
        .map_err(ApiError::bad_request)?;
    let user_id = NoSuchUser::User.parse(&body.user_id)?;
    let request = state
        .onboarding
        .open_edd_request(&enterprise, &user_id, form, "requested in the sandbox")
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Data {
            data: request.to_wire(),
        }),
    ))
}
