//! The operator console (CONTRACT §10): server-rendered pages on the API's own
//! listener, under `/console`. Read [`router`] for every page and what guards it.
//!
//! - [`session`]: the session cookie, the role checks, the anti-forgery token
//!   every form carries (checked before the form is read);
//! - [`view`]: the askama templates (escaping on) and the shapes they show;
//! - [`pages`]: Users, User, Review queue, documents; [`activity`]: EDD and Live;
//!   [`admin`]: Keys and the admin route table; [`people`]: Operators;
//!   [`hooks`]: Webhooks, and the Outbox in sandbox mode.
//!
//! Every page works with plain forms and redirects; htmx (vendored, served from
//! the binary) only drives the Live page. Responses carry a strict
//! Content-Security-Policy (`script-src 'self'`, no inline script or style),
//! `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer` and
//! `Cache-Control: no-store`; form bodies are capped at [`FORM_LIMIT`].

mod activity;
mod admin;
mod hooks;
mod pages;
mod people;
pub mod session;
pub mod view;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use onboard_core::access::Password;
use onboard_core::service::SignIn;
use onboard_core::time_format::rfc3339_millis;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::ConsoleError;
use crate::state::AppState;
use session::{SESSION_COOKIE, SIGN_IN_COOKIE, SignInPosted, Signed, cookie, set_cookie};

/// The largest form body the console reads: its forms hold a note of at most
/// 1,000 characters and a few short fields.
pub const FORM_LIMIT: usize = 16 * 1024;

const HTMX: &[u8] = include_bytes!("../../assets/htmx.min.js");
const CSS: &[u8] = include_bytes!("../../assets/console.css");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    frame-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; \
    frame-ancestors 'none'";

/// Every console route; the router of the whole server merges it.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(home))
        .route("/console/", get(home))
        .route("/console/sign-in", get(sign_in_form).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/assets/htmx.min.js", get(htmx))
        .route("/console/assets/console.css", get(css))
        .route("/console/users", get(pages::users))
        .route(
            "/console/enterprises/{enterprise}/users/{user_id}",
            get(pages::user),
        )
        .route(
            "/console/enterprises/{enterprise}/users/{user_id}/review",
            post(pages::review),
        )
        .route(
            "/console/enterprises/{enterprise}/documents/{id}",
            get(pages::document),
        )
        .route("/console/review", get(pages::queue))
        .route("/console/edd", get(activity::edd))
        .route(
            "/console/enterprises/{enterprise}/edd/{id}/review",
            post(activity::review_edd),
        )
        .route("/console/live", get(activity::live))
        .route("/console/live/events", get(activity::live_events))
        .merge(admin::router())
        .layer(DefaultBodyLimit::max(FORM_LIMIT))
        .layer(middleware::from_fn(protect))
}

/// The headers every console response carries, pages and refusals alike.
pub fn secure_headers(headers: &mut HeaderMap) {
    let set = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in set {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

async fn protect(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    secure_headers(response.headers_mut());
    response
}

/// The 404 page of an unknown `/console/…` path.
pub fn not_found() -> Response {
    refusal(ConsoleError::NotFound(
        "There is no such console page.".into(),
    ))
}

/// The page of a console path asked with a method it does not take (a GET of
/// a form's action, say).
pub fn method_not_allowed() -> Response {
    refusal(ConsoleError::WrongMethod)
}

/// A console path's parameters: one that does not parse (a letter where an
/// enterprise's number goes) names no page, so it is the console's 404 page, not
/// the framework's text.
pub struct ConsolePath<T>(pub T);

impl<T, S> FromRequestParts<S> for ConsolePath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ConsolePath(value)),
            Err(_) => Err(not_found()),
        }
    }
}

/// A console page's query: one it cannot read is the console's 400 page.
pub struct ConsoleQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ConsoleQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ConsoleQuery(value)),
            Err(_) => Err(bad_request(
                "The address's query is not one this page takes; use the page's links.",
            )),
        }
    }
}

/// The page of a console request that cannot be read (its path, query or
/// headers), with a sentence saying what is wrong.
pub fn bad_request(sentence: impl Into<String>) -> Response {
    refusal(ConsoleError::BadForm(sentence.into()))
}

fn refusal(error: ConsoleError) -> Response {
    let mut response = error.into_response();
    secure_headers(response.headers_mut());
    response
}

async fn home(_signed: Signed) -> Redirect {
    Redirect::to("/console/review")
}

fn asset(content_type: &'static str, bytes: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        bytes,
    )
        .into_response()
}

async fn htmx() -> Response {
    asset("text/javascript; charset=utf-8", HTMX)
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

/// The sign-in form with a new anti-forgery token (issued and tagged by the
/// server) in its cookie and its field.
async fn sign_in_page(
    state: &AppState,
    status: StatusCode,
    name: String,
    problem: Option<String>,
) -> Result<Response, ConsoleError> {
    let csrf = state.onboarding.sign_in_form_token().await?;
    let cookie = set_cookie(SIGN_IN_COOKIE, Some(&csrf), state.console.secure_cookie);
    let page = view::SignInPage {
        csrf,
        name,
        problem,
    };
    let mut response = view::page(status, &page);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

async fn sign_in_form(State(state): State<AppState>) -> Result<Response, ConsoleError> {
    sign_in_page(&state, StatusCode::OK, String::new(), None).await
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// Signs in and goes to the review queue; a refusal shows the form again with
/// the name kept and one sentence, the same for an unknown name and a wrong
/// password.
async fn sign_in(
    State(state): State<AppState>,
    SignInPosted(form): SignInPosted<SignInForm>,
) -> Result<Response, ConsoleError> {
    let password = Password::presented(&form.password);
    let (status, problem) = match state
        .onboarding
        .console_sign_in(form.name.trim(), &password)
        .await?
    {
        SignIn::Signed { token, .. } => {
            let secure = state.console.secure_cookie;
            let mut response = Redirect::to("/console/review").into_response();
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                set_cookie(SESSION_COOKIE, Some(&token), secure),
            );
            headers.append(header::SET_COOKIE, set_cookie(SIGN_IN_COOKIE, None, secure));
            return Ok(response);
        }
        SignIn::Refused => (
            StatusCode::UNAUTHORIZED,
            "The name or the password is wrong.".to_owned(),
        ),
        SignIn::Locked { until } => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many failed sign-ins for this name: it is locked until {}.",
                rfc3339_millis(until)
            ),
        ),
    };
    sign_in_page(&state, status, form.name, Some(problem)).await
}

#[derive(Deserialize)]
pub struct Nothing {}

async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    session::Posted(_, Nothing {}): session::Posted<Nothing>,
) -> Result<Response, ConsoleError> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state.onboarding.console_sign_out(token).await?;
    }
    let mut response = Redirect::to("/console/sign-in").into_response();
    let cookie = set_cookie(SESSION_COOKIE, None, state.console.secure_cookie);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}
