//! The WebSocket feed, `GET /ws` (CONTRACT §5, `seeds/000_*`).
//!
//! One path serves a new subscriber, a resuming one and a lagging one: the event
//! log is the truth, the broadcast of the [`hub::Hub`] is only a shortcut for
//! subscribers that are keeping up. Each [`session`] keeps its own cursor (the last
//! `event_id` it delivered); any gap between that cursor and what the broadcast
//! offers is filled from the log, so nothing is skipped, duplicated or reordered,
//! and a slow reader costs memory for its cursor only.

pub mod hub;
pub mod limits;
pub mod protocol;
pub mod session;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{State, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

use crate::state::AppState;

/// `GET /ws`: upgrade and hand the socket to a session the server can shut down.
pub async fn upgrade(
    State(state): State<AppState>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            let why = format!("/ws speaks WebSocket only: {}", rejection.body_text());
            return ApiError::bad_request(why).into_response();
        }
    };
    let feed = state.feed.clone();
    // Hard cap for the protocol layer; the session answers anything above its own
    // smaller limit with an error message instead of a silent close.
    let hard_cap = feed
        .limits
        .max_message_bytes
        .saturating_mul(4)
        .max(64 * 1024);
    ws.max_message_size(hard_cap)
        .max_frame_size(hard_cap)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(8 * 1024)
        .on_upgrade(move |socket| {
            let tracker = feed.tracker.clone();
            tracker.track_future(session::run(socket, feed))
        })
}
