//! Who is signed in, and the checks every console request passes: the session
//! cookie (`HttpOnly`, `SameSite=Strict`, `Secure` when configured), the role,
//! and the anti-forgery token of every form.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use onboard_core::access::Role;
use onboard_core::service::ConsoleSession;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::ConsoleError;
use crate::state::AppState;

/// The cookie holding the session token (256 random bits, stored hashed).
pub const SESSION_COOKIE: &str = "onboard_session";
/// The cookie holding the sign-in form's anti-forgery token, before any session.
pub const SIGN_IN_COOKIE: &str = "onboard_sign_in";

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value scoped to the console; `None` as the value removes it.
pub fn set_cookie(name: &str, value: Option<&str>, secure: bool) -> HeaderValue {
    let mut text = match value {
        Some(value) => format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict"),
        None => format!("{name}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0"),
    };
    if secure {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).expect("cookie values are hex")
}

/// Whether two tokens are equal, in time independent of where they differ. An
/// empty token equals nothing.
pub fn same_token(a: &str, b: &str) -> bool {
    !a.is_empty()
        && a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A signed-in operator (any role). Without a live session, a page answers
/// with a redirect to the sign-in form.
pub struct Signed(pub ConsoleSession);

impl Signed {
    /// Admin pages: a reviewer is refused here, on the server, whatever the nav shows.
    pub fn require_admin(&self) -> Result<(), ConsoleError> {
        match self.0.actor.role {
            Role::Admin => Ok(()),
            Role::Reviewer => Err(ConsoleError::Forbidden(
                "This page is for admins; your role is reviewer.".into(),
            )),
        }
    }
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ConsoleError> {
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(ConsoleError::SignInRequired)?;
        match state.onboarding.console_session(token).await? {
            Some(session) => Ok(Signed(session)),
            None => Err(ConsoleError::SignInRequired),
        }
    }
}

/// An admin's session: [`Signed`] and the admin role.
pub struct Admin(pub ConsoleSession);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ConsoleError> {
        let signed = Signed::from_request_parts(parts, state).await?;
        signed.require_admin()?;
        Ok(Admin(signed.0))
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: Option<String>,
}

/// Reads a small url-encoded form body (the console's limit applies) and its
/// `csrf` field, checked against `expected` before anything else is parsed.
async fn read_form<T: DeserializeOwned>(
    req: Request,
    state: &AppState,
    expected: &str,
) -> Result<T, ConsoleError> {
    let bytes = Bytes::from_request(req, state)
        .await
        .map_err(|_| ConsoleError::TooLarge)?;
    let presented: CsrfOnly = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
        ConsoleError::BadForm("The form could not be read; reload the page and try again.".into())
    })?;
    match presented.csrf {
        Some(token) if same_token(&token, expected) => {}
        _ => return Err(ConsoleError::Forgery),
    }
    // The parser's message quotes the input; the page says what to do.
    serde_urlencoded::from_bytes(&bytes).map_err(|_| {
        ConsoleError::BadForm(
            "The form could not be read: a field is missing, repeated or not of its kind; \
             reload the page and try again."
                .into(),
        )
    })
}

/// A form posted by a signed-in operator, its anti-forgery token checked.
pub struct Posted<T>(pub ConsoleSession, pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Posted<T> {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ConsoleError> {
        let (mut parts, body) = req.into_parts();
        let Signed(session) = Signed::from_request_parts(&mut parts, state).await?;
        let req = Request::from_parts(parts, body);
        let form = read_form(req, state, &session.csrf).await?;
        Ok(Posted(session, form))
    }
}

/// A form posted by an admin, its anti-forgery token checked.
pub struct AdminPosted<T>(pub ConsoleSession, pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for AdminPosted<T> {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ConsoleError> {
        let (mut parts, body) = req.into_parts();
        let Admin(session) = Admin::from_request_parts(&mut parts, state).await?;
        let req = Request::from_parts(parts, body);
        let form = read_form(req, state, &session.csrf).await?;
        Ok(AdminPosted(session, form))
    }
}

/// The sign-in form, checked against the token of its cookie (there is no
/// session yet to hold one).
pub struct SignInPosted<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for SignInPosted<T> {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ConsoleError> {
        if cross_site(req.headers()) {
            return Err(ConsoleError::Forgery);
        }
        let expected = cookie(req.headers(), SIGN_IN_COOKIE)
            .ok_or(ConsoleError::Forgery)?
            .to_owned();
        // A cookie someone planted matches its own field; only a token this
        // server issued (tagged under its key, not expired) passes.
        if !state.onboarding.sign_in_form_token_valid(&expected).await? {
            return Err(ConsoleError::Forgery);
        }
        Ok(SignInPosted(read_form(req, state, &expected).await?))
    }
}

/// Whether the browser says the form was posted from another site
/// (`Sec-Fetch-Site` other than `same-origin` or `none`): a sign-in form is only
/// ever posted from the console's own page. Without the header (older browsers,
/// scripts), the token alone decides.
fn cross_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| !matches!(site, "same-origin" | "none"))
}
