//! End-user handlers (CONTRACT §2): extract, call the domain, shape the answer.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use onboard_api::{Data, EndUser};
use onboard_core::service::NoSuchUser;

use crate::error::ApiError;
use crate::extract::{Authed, JsonBody, PathParam};
use crate::state::AppState;

/// `POST /v1/enterprise/register-account` (CONTRACT §2, §3): 201 with the full shape.
pub async fn register(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Data<EndUser>>), ApiError> {
    let user = state.onboarding.register(&enterprise, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(Data {
            data: user.to_wire(),
        }),
    ))
}

/// `GET /v1/enterprise/users/:user_id` (CONTRACT §2; the vendor's *Get End User*,
/// <https://docs.sfox.com/connect/rest-api/end-users/get-end-user>).
pub async fn get_user(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    PathParam(user_id): PathParam,
) -> Result<Response, ApiError> {
    let user_id = NoSuchUser::User.parse(&user_id)?;
    let user = state.onboarding.user_json(&enterprise, &user_id).await?;
    Ok(crate::json::data(&user))
}

/// `DELETE /v1/enterprise/account/:user_id` (CONTRACT §2): 200 with an empty body.
pub async fn deactivate(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    PathParam(user_id): PathParam,
) -> Result<StatusCode, ApiError> {
    let user_id = NoSuchUser::Account.parse(&user_id)?;
    state.onboarding.deactivate(&enterprise, &user_id).await?;
    Ok(StatusCode::OK)
}
