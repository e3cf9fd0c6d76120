//! Extractors that turn a request into domain input, with CONTRACT §1 errors:
//! the bearer key becomes an [`Enterprise`], the body a JSON value.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{StatusCode, header, request::Parts};
use onboard_core::service::ServiceError;
use onboard_core::store::Enterprise;
use onboard_core::user::User;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::edge::BodyTimeout;
use crate::error::{ApiError, Rejection};
use crate::state::AppState;

/// The enterprise whose API key came as `Authorization: Bearer <key>`.
pub struct Authed(pub Enterprise);

/// The token of an `Authorization: Bearer …` header, scheme matched in any case.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = bearer(parts).ok_or(ServiceError::Unauthorized)?;
        Ok(Authed(state.onboarding.authenticate(key).await?))
    }
}

/// The end user whose auth token came as `Authorization: Bearer <token>`.
pub struct UserAuthed(pub User);

impl FromRequestParts<AppState> for UserAuthed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or(ServiceError::Unauthorized)?;
        Ok(UserAuthed(state.onboarding.user_by_token(token).await?))
    }
}

/// A request body that must be JSON; too large is 413, unparsable is 400.
pub struct JsonBody(pub Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        match OptionalJsonBody::from_request(req, state).await? {
            OptionalJsonBody(Some(value)) => Ok(JsonBody(value)),
            OptionalJsonBody(None) => Err(ApiError::bad_request(
                "the request body is empty; send a JSON object",
            )),
        }
    }
}

/// A request body that may be left out (empty), else JSON; the
/// same 413 and 400 as [`JsonBody`].
pub struct OptionalJsonBody(pub Option<Value>);

impl FromRequest<AppState> for OptionalJsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::Rejected(
                    Rejection::TooLarge,
                    format!("the request body is larger than {} bytes", state.body_limit),
                )
            } else if let Some(late) = body_timeout(&rejection) {
                ApiError::Rejected(Rejection::TooSlow, late.to_string())
            } else {
                ApiError::bad_request("the request body could not be read to its end")
            }
        })?;
        if bytes.is_empty() {
            return Ok(OptionalJsonBody(None));
        }
        onboard_core::strict_json::parse(&bytes)
            .map(|value| OptionalJsonBody(Some(value)))
            .map_err(|e| ApiError::bad_request(format!("the request body is refused: {e}")))
    }
}

/// The edge's body deadline, if that is why the body could not be read.
pub(crate) fn body_timeout(rejection: &dyn std::error::Error) -> Option<&BodyTimeout> {
    cause(rejection)
}

/// The first error of type `T` among the causes of `error`.
pub(crate) fn cause<T: std::error::Error + 'static>(error: &dyn std::error::Error) -> Option<&T> {
    let mut source = error.source();
    while let Some(error) = source {
        if let Some(found) = error.downcast_ref::<T>() {
            return Some(found);
        }
        source = error.source();
    }
    None
}

/// The one path parameter of a route (a `user_id`), with JSON errors.
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| PathParam(value))
            .map_err(|_| {
                ApiError::bad_request(
                    "the path could not be read: it is not UTF-8 once percent-decoded",
                )
            })
    }
}

/// Query parameters deserialised into `T`, with JSON errors (a repeated parameter,
/// say, is a 400 that names it).
pub struct QueryParams<T>(pub T);

/// The names of the query parameters a route takes, aliases included.
pub trait QueryNames {
    /// Every name `T` reads from the query string.
    const NAMES: &'static [&'static str];
}

impl<T: DeserializeOwned + QueryNames, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|_| ApiError::bad_request("the query string is not URL-encoded"))?;
        if let Some(name) = first_repeat(&pairs) {
            let name: String = name.chars().take(64).collect();
            return Err(ApiError::bad_request(format!(
                "the query parameter {name:?} may be given only once"
            )));
        }
        // CONTRACT §1: an empty value is a value, and never a valid one; read as
        // "left out" it would let `?limit=` page differently than a validator in
        // front expects. Only names the route takes are named back.
        if let Some(name) = first_empty(&pairs, T::NAMES) {
            return Err(ApiError::bad_request(format!(
                "the query parameter {name:?} is empty; give it a value or leave it out"
            )));
        }
        // The parser's own message quotes the input; ours names the rule.
        serde_urlencoded::from_str(query)
            .map(QueryParams)
            .map_err(|_| {
                ApiError::bad_request("the query string has a parameter this route does not take")
            })
    }
}

/// The first parameter among `names` given with an empty value.
fn first_empty<'a>(pairs: &[(String, String)], names: &[&'a str]) -> Option<&'a str> {
    pairs
        .iter()
        .filter(|(_, value)| value.is_empty())
        .find_map(|(name, _)| names.iter().find(|known| *known == name).copied())
}

/// The first query parameter named twice.
fn first_repeat(pairs: &[(String, String)]) -> Option<&str> {
    let mut seen = std::collections::HashSet::new();
    pairs
        .iter()
        .map(|(name, _)| name.as_str())
        .find(|name| !seen.insert(*name))
}
