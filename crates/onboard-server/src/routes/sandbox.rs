//! `GET /v1/sandbox/messages?user_id=` (CONTRACT §4): the outbox of one of the
//! enterprise's users, newest first. Routed only when the server runs `--sandbox`.

use axum::Json;
use axum::extract::State;
use onboard_api::{Data, OutboxMessage};
use serde::Deserialize;

use onboard_core::service::NoSuchUser;

use crate::error::ApiError;
use crate::extract::{Authed, QueryNames, QueryParams};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct MessageParams {
    user_id: Option<String>,
}

impl QueryNames for MessageParams {
    const NAMES: &'static [&'static str] = &["user_id"];
}

pub async fn messages(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    QueryParams(params): QueryParams<MessageParams>,
) -> Result<Json<Data<Vec<OutboxMessage>>>, ApiError> {
    let user_id = params
        .user_id
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::bad_request("user_id is required"))?;
    let user_id = NoSuchUser::User.parse(&user_id)?;
    let messages = state.onboarding.outbox_of(&enterprise, &user_id).await?;
    Ok(Json(Data { data: messages }))
}
