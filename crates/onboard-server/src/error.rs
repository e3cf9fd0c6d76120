//! The one place that decides every error status and body (CONTRACT §1). Internal
//! details are logged here and never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use onboard_api::{ErrorBody, FieldProblem};
use onboard_core::lifecycle::Refusal;
use onboard_core::service::ServiceError;

#[derive(Debug)]
pub enum ApiError {
    Service(ServiceError),
    /// A request the router or an extractor refused, with the sentence saying why.
    Rejected(Rejection, String),
}

/// Why the HTTP layer refused a request before any use case ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Unreadable query, path or body (400).
    Malformed,
    /// A body over the limit (413).
    TooLarge,
    /// A body that did not arrive in time (408).
    TooSlow,
    /// No route has this path (404).
    NoRoute,
    /// A route has the path but not the method (405).
    WrongMethod,
    /// Over a published per-address limit (429), for this many seconds more.
    RateLimited(u64),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::Rejected(Rejection::Malformed, message.into())
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        ApiError::Service(e)
    }
}

/// Seconds a client waits before writing again to a node whose disk is full: an
/// operator has to act, so sooner is pointless.
const DISK_FULL_RETRY: u64 = 30;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            ApiError::Service(ServiceError::Refused(
                Refusal::Throttled(_, wait) | Refusal::QuotaSpent(_, _, wait),
            )) => Some(*wait),
            ApiError::Service(ServiceError::Unavailable(_)) => Some(1),
            ApiError::Service(ServiceError::DiskFull) => Some(DISK_FULL_RETRY),
            ApiError::Service(ServiceError::Throttled { retry_after, .. }) => Some(*retry_after),
            ApiError::Rejected(Rejection::RateLimited(retry_after), _) => Some(*retry_after),
            _ => None,
        };
        let (status, error, errors) = match self {
            ApiError::Rejected(rejection, message) => {
                (rejection_status(rejection), message, Vec::new())
            }
            ApiError::Service(e) => {
                let status = status_of(&e);
                let sentence = e.to_string();
                match e {
                    ServiceError::Invalid(problems) => (status, sentence, problems),
                    ServiceError::Internal(why) => {
                        tracing::error!(error = %why, "request failed");
                        (status, sentence, Vec::<FieldProblem>::new())
                    }
                    ServiceError::Unavailable(why) => {
                        tracing::warn!(error = %why, "database unavailable");
                        (status, sentence, Vec::new())
                    }
                    _ => (status, sentence, Vec::new()),
                }
            }
        };
        let mut response = (status, Json(ErrorBody { error, errors })).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

fn rejection_status(rejection: Rejection) -> StatusCode {
    match rejection {
        Rejection::Malformed => StatusCode::BAD_REQUEST,
        Rejection::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Rejection::TooSlow => StatusCode::REQUEST_TIMEOUT,
        Rejection::NoRoute => StatusCode::NOT_FOUND,
        Rejection::WrongMethod => StatusCode::METHOD_NOT_ALLOWED,
        Rejection::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
    }
}

fn status_of(e: &ServiceError) -> StatusCode {
    match e {
        ServiceError::Unauthorized => StatusCode::UNAUTHORIZED,
        ServiceError::Invalid(_) | ServiceError::BadRequest(_) => StatusCode::BAD_REQUEST,
        ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
        ServiceError::Conflict(_) => StatusCode::CONFLICT,
        ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
        ServiceError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ServiceError::Refused(Refusal::Throttled(..) | Refusal::QuotaSpent(..)) => {
            StatusCode::TOO_MANY_REQUESTS
        }
        ServiceError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        ServiceError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ServiceError::DeliveryFailed(_) => StatusCode::BAD_GATEWAY,
        ServiceError::Gone(_) => StatusCode::GONE,
        ServiceError::QuotaExceeded(_) => StatusCode::PAYLOAD_TOO_LARGE,
        ServiceError::Unavailable(_) | ServiceError::DiskFull => StatusCode::SERVICE_UNAVAILABLE,
        ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Why a console page (CONTRACT §10) was not shown: every status the console
/// answers with is chosen here, as an HTML page with one sentence.
#[derive(Debug)]
pub enum ConsoleError {
    /// No live session: the browser is sent to the sign-in form (303).
    SignInRequired,
    /// The signed-in operator's role may not do this (403).
    Forbidden(String),
    /// A form without its anti-forgery token, or with a wrong one (403).
    Forgery,
    /// No such page or record (404).
    NotFound(String),
    /// A form that cannot be read or lacks a field (400).
    BadForm(String),
    /// A form body over the console's small limit (413).
    TooLarge,
    /// A console path asked with a method it does not take (405).
    WrongMethod,
    /// What a use case answered.
    Service(ServiceError),
}

impl From<ServiceError> for ConsoleError {
    fn from(e: ServiceError) -> Self {
        ConsoleError::Service(e)
    }
}

impl ConsoleError {
    fn status_and_sentence(self) -> (StatusCode, String) {
        match self {
            ConsoleError::SignInRequired => (StatusCode::SEE_OTHER, String::new()),
            ConsoleError::Forbidden(why) => (StatusCode::FORBIDDEN, why),
            ConsoleError::Forgery => (
                StatusCode::FORBIDDEN,
                "The form was refused: its anti-forgery token is missing or wrong. \
                 Reload the page and send it again."
                    .into(),
            ),
            ConsoleError::NotFound(why) => (StatusCode::NOT_FOUND, why),
            ConsoleError::BadForm(why) => (StatusCode::BAD_REQUEST, why),
            ConsoleError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "The form is larger than the console accepts.".into(),
            ),
            ConsoleError::WrongMethod => (
                StatusCode::METHOD_NOT_ALLOWED,
                "This console address does not take that kind of request; \
                 use the page's links and buttons."
                    .into(),
            ),
            ConsoleError::Service(e) => {
                let status = status_of(&e);
                match e {
                    ServiceError::Internal(why) => {
                        tracing::error!(error = %why, "console request failed");
                        (status, "Something went wrong on the server.".into())
                    }
                    ServiceError::Unavailable(why) => {
                        tracing::warn!(error = %why, "database unavailable");
                        (
                            status,
                            "The database is unavailable; try again shortly.".into(),
                        )
                    }
                    ServiceError::DiskFull => (
                        status,
                        "The database's disk is full; changes cannot be saved until \
                         space is freed."
                            .into(),
                    ),
                    other => (status, other.to_string()),
                }
            }
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, sentence) = self.status_and_sentence();
        if status == StatusCode::SEE_OTHER {
            return axum::response::Redirect::to("/console/sign-in").into_response();
        }
        crate::console::view::error_page(status, &sentence)
    }
}
