//! User auth tokens (CONTRACT §2, §4) and the user's own view, `GET /v1/user`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use onboard_api::{Data, EndUser, UserTokenOut};
use onboard_core::requests;
use onboard_core::service::{NoSuchUser, ServiceError};

use crate::error::ApiError;
use crate::extract::{Authed, JsonBody, PathParam, UserAuthed};
use crate::state::AppState;

/// `POST /v1/enterprise/user-tokens/:user_id`: 201 with one token.
pub async fn mint_one(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    PathParam(user_id): PathParam,
) -> Result<(StatusCode, Json<Data<UserTokenOut>>), ApiError> {
    let user_id = NoSuchUser::TokenUser.parse(&user_id)?;
    let token = state.onboarding.mint_token(&enterprise, &user_id).await?;
    Ok((StatusCode::CREATED, Json(Data { data: token })))
}

/// `POST /v1/enterprise/user-tokens`, body `{"data": [user ids]}`: all or nothing.
pub async fn mint_many(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Data<Vec<UserTokenOut>>>), ApiError> {
    let ids = requests::token_request(body).map_err(ServiceError::Invalid)?;
    let ids = ids
        .iter()
        .map(|id| NoSuchUser::TokenUser.parse(id))
        .collect::<Result<Vec<_>, _>>()?;
    let tokens = state.onboarding.mint_tokens(enterprise.id, &ids).await?;
    Ok((StatusCode::CREATED, Json(Data { data: tokens })))
}

/// `GET /v1/user` with a user auth token (CONTRACT §2, extension): the full shape.
pub async fn me(UserAuthed(user): UserAuthed) -> Json<Data<EndUser>> {
    Json(Data {
        data: user.to_wire(),
    })
}
