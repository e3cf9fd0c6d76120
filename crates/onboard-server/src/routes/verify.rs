//! Verification (CONTRACT §2, §4): send a code, confirm a code.

use axum::Json;
use axum::extract::State;
use onboard_api::{CodeSent, Data, Verified};
use onboard_core::requests;
use onboard_core::service::{NoSuchUser, ServiceError};

use crate::error::ApiError;
use crate::extract::{Authed, JsonBody, PathParam};
use crate::state::AppState;

/// `POST /v1/enterprise/users/send-verification/:user_id`, body `{"type"}`.
pub async fn send(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    PathParam(user_id): PathParam,
    JsonBody(body): JsonBody,
) -> Result<Json<Data<CodeSent>>, ApiError> {
    let channel = requests::send_request(body).map_err(ServiceError::Invalid)?;
    let user_id = NoSuchUser::User.parse(&user_id)?;
    let sent = state
        .onboarding
        .send_code(&enterprise, &user_id, channel)
        .await?;
    Ok(Json(Data { data: sent }))
}

/// `POST /v1/enterprise/users/verify/:user_id`, body `{"type", "otp"}`.
pub async fn verify(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    PathParam(user_id): PathParam,
    JsonBody(body): JsonBody,
) -> Result<Json<Data<Verified>>, ApiError> {
    let (channel, otp) = requests::verify_request(body).map_err(ServiceError::Invalid)?;
    let user_id = NoSuchUser::User.parse(&user_id)?;
    state
        .onboarding
        .confirm_code(&enterprise, &user_id, channel, &otp)
        .await?;
    Ok(Json(Data {
        data: Verified {
            success: true,
            user_id: user_id.into_string(),
            r#type: channel.as_str().to_owned(),
        },
    }))
}
