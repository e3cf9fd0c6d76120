//! `GET /openapi.json` (CONTRACT §2, extensions): the hand-maintained OpenAPI 3.1
//! document of every route, `crates/onboard-server/openapi.json`, served as it is
//! written (no key needed). `tests/api/openapi.rs` keeps it honest: every route of
//! [`super::router`] is in it, every `$ref` resolves, and the user shapes list their
//! keys in the order the server writes them.

use axum::http::header;
use axum::response::IntoResponse;

/// The document, compiled into the binary.
const DOCUMENT: &str = include_str!("../../openapi.json");

pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
