//! Headers a request may carry only once (CONTRACT §1). With two `Authorization`
//! headers, a proxy that reads the last and a server that reads the first act for
//! different tenants; a repeated singleton header is therefore a 400, before any
//! route runs.

use axum::extract::Request;
use axum::http::{HeaderName, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The headers that name one thing: who calls, what the body is, which retry.
static SINGLETONS: [HeaderName; 9] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::HOST,
    header::COOKIE,
    header::ORIGIN,
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    HeaderName::from_static("idempotency-key"),
];

/// Refuses a request that repeats one of [`SINGLETONS`], in the console's HTML
/// under `/console`, else with the API's error body.
pub async fn refuse_repeats(request: Request, next: Next) -> Response {
    let Some(name) = SINGLETONS
        .iter()
        .find(|name| request.headers().get_all(*name).iter().nth(1).is_some())
    else {
        return next.run(request).await;
    };
    let sentence = format!("the header {name} may be sent only once");
    let path = request.uri().path();
    if path == "/console" || path.starts_with("/console/") {
        return crate::console::bad_request(sentence);
    }
    ApiError::bad_request(sentence).into_response()
}
