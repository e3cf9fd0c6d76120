//! `GET /v1/enterprise/users` (CONTRACT §2; the vendor's *Get Multiple End Users*,
//! <https://docs.sfox.com/connect/rest-api/end-users/get-multiple-end-users>):
//! one page when `limit` is given, otherwise the whole list, streamed page by page
//! so that memory stays flat however many users there are.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use onboard_core::service::{Cursor, Onboarding, ServiceError, UserPage};
use onboard_core::store::{EnterpriseId, UserFilter};
use onboard_core::user::{AccountRole, Status};
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::{Authed, QueryNames, QueryParams};
use crate::json;
use crate::state::AppState;

/// Users fetched per database round trip while streaming the full list.
const STREAM_PAGE: u32 = 500;
const MAX_LIMIT: u32 = 1000;

#[derive(Debug, Deserialize)]
pub struct ListParams {
    #[serde(rename = "accountRole", alias = "account_role")]
    account_role: Option<String>,
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

impl QueryNames for ListParams {
    const NAMES: &'static [&'static str] =
        &["accountRole", "account_role", "status", "limit", "cursor"];
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

fn parse_filter(params: &ListParams) -> Result<UserFilter, ApiError> {
    let role = given(&params.account_role)
        .map(|r| {
            AccountRole::parse(r).map_err(|e| ApiError::bad_request(format!("accountRole {e}")))
        })
        .transpose()?;
    let status = given(&params.status)
        .map(|s| Status::parse(s).map_err(|e| ApiError::bad_request(format!("status {e}"))))
        .transpose()?;
    Ok(UserFilter { role, status })
}

fn parse_limit(text: &str) -> Result<u32, ApiError> {
    text.parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "limit must be a whole number from 1 to {MAX_LIMIT}"
            ))
        })
}

pub async fn list_users(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<Response, ApiError> {
    let filter = parse_filter(&params)?;
    let cursor = match given(&params.cursor) {
        Some(text) => Some(state.onboarding.decode_cursor(enterprise.id, text).await?),
        None => None,
    };
    let Some(limit) = given(&params.limit).map(parse_limit).transpose()? else {
        if cursor.is_some() {
            return Err(ApiError::bad_request("cursor needs a limit"));
        }
        // The first page is read before the answer starts, so that a database
        // that is away still gets its 503; only a later page can cut the body short.
        let first = state
            .onboarding
            .list_page(enterprise.id, filter, None, STREAM_PAGE)
            .await?;
        let stream = stream_all(state.onboarding.clone(), enterprise.id, filter, first);
        return Ok((
            [(header::CONTENT_TYPE, "application/json")],
            Body::from_stream(stream),
        )
            .into_response());
    };
    let page = state
        .onboarding
        .list_page(enterprise.id, filter, cursor, limit)
        .await?;
    let next_cursor = match page.next {
        Some(next) => Some(state.onboarding.encode_cursor(enterprise.id, next).await?),
        None => None,
    };
    // `Page` written by hand around the stored JSON of each user.
    let mut body =
        String::with_capacity(page.users.iter().map(|u| u.len() + 1).sum::<usize>() + 64);
    body.push_str("{\"data\":[");
    join(&mut body, &page.users);
    body.push_str("],\"next_cursor\":");
    match next_cursor {
        Some(cursor) => json::push_string(&mut body, &cursor),
        None => body.push_str("null"),
    }
    body.push('}');
    Ok(json::response(body))
}

fn join(out: &mut String, users: &[String]) {
    for (i, user) in users.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(user);
    }
}

/// Where the streamed list stands between two chunks.
enum Walk {
    /// The first page, already read.
    First(UserPage),
    Page(Cursor),
    Done,
}

/// `{"data":[…]}` written one page per chunk, starting with `first`. The body is
/// already under way when a later page fails, so a failure ends the stream with an
/// error: the client sees a truncated response rather than a well-formed partial
/// list.
fn stream_all(
    onboarding: Onboarding,
    enterprise: EnterpriseId,
    filter: UserFilter,
    first: UserPage,
) -> impl Stream<Item = Result<Bytes, ServiceError>> {
    futures_util::stream::unfold(Walk::First(first), move |walk| {
        let onboarding = onboarding.clone();
        async move {
            let (page, first) = match walk {
                Walk::Done => return None,
                Walk::First(page) => (page, true),
                Walk::Page(after) => match onboarding
                    .list_page(enterprise, filter, Some(after), STREAM_PAGE)
                    .await
                {
                    Ok(page) => (page, false),
                    Err(e) => {
                        tracing::error!(error = %e, "user list stream failed");
                        return Some((Err(e), Walk::Done));
                    }
                },
            };
            let chunk = encode_chunk(&page.users, first, page.next.is_none());
            let next = match page.next {
                Some(after) => Walk::Page(after),
                None => Walk::Done,
            };
            Some((Ok(Bytes::from(chunk)), next))
        }
    })
}

fn encode_chunk(users: &[String], first: bool, last: bool) -> String {
    let mut out = String::with_capacity(users.iter().map(|u| u.len() + 1).sum::<usize>() + 16);
    if first {
        out.push_str("{\"data\":[");
    } else if !users.is_empty() {
        out.push(',');
    }
    join(&mut out, users);
    if last {
        out.push_str("]}");
    }
    out
}
