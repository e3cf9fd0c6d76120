//! Responses written around JSON the store already holds: a user's wire shapes
//! are rendered when its row is written, so reads send that text as it is
//! instead of decoding a row and encoding a user again.

use axum::body::Body;
use axum::http::{HeaderValue, Response, header};

/// An `application/json` response of `body`, as `axum::Json` would send it.
pub fn response(body: String) -> axum::response::Response {
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `{"data": …}` around one stored JSON value.
pub fn data(json: &str) -> axum::response::Response {
    let mut body = String::with_capacity(json.len() + 9);
    body.push_str("{\"data\":");
    body.push_str(json);
    body.push('}');
    response(body)
}

/// Appends `text` as a JSON string.
pub fn push_string(out: &mut String, text: &str) {
    // Serialising a string cannot fail.
    if let Ok(quoted) = serde_json::to_string(text) {
        out.push_str(&quoted);
    }
}
