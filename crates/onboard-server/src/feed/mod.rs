//! The WebSocket feed, `GET /ws` (CONTRACT §5; the vendor's [Onboarding](https://docs.sfox.com/connect/websocket-api/end-users/users) page).
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
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Extension, State, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};

use crate::edge::ConnectionSlot;
use crate::error::{ApiError, Rejection};

use crate::state::AppState;

/// `GET /ws`: upgrade and hand the socket to a session the server can shut down.
pub async fn upgrade(
    State(state): State<AppState>,
    slot: Option<Extension<ConnectionSlot>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(_) => {
            let why = "/ws speaks WebSocket only: send a GET with Connection: upgrade, \
                       Upgrade: websocket, Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key";
            return ApiError::bad_request(why).into_response();
        }
    };
    let feed = state.feed.clone();
    let peer = peer.map(|Extension(ConnectInfo(peer))| peer.ip());
    if let (Some(limits), Some(ip)) = (&feed.vendor_limits, peer)
        && let Err(exceeded) = limits.ws_connection(ip)
    {
        let refusal = ApiError::Rejected(
            Rejection::RateLimited(exceeded.retry_after),
            exceeded.sentence(),
        );
        return refusal.into_response();
    }
    // The library's cap sits above the protocol's: the session answers a message
    // between the two with an error reply, and one above the library's with an
    // error reply and a 1009 close.
    let hard_cap = hard_cap(feed.limits.max_message_bytes);
    ws.max_message_size(hard_cap)
        .max_frame_size(hard_cap)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(8 * 1024)
        .on_upgrade(move |socket| {
            let tracker = state.tasks.tracker.clone();
            // The session holds the connection's place under the node's cap.
            let slot = slot.map(|Extension(slot)| slot);
            tracker.track_future(session::run(socket, state, slot, peer))
        })
}

/// The largest message the WebSocket library reads: four times the protocol's
/// limit, at least 64 KiB, at most 16 MiB.
pub fn hard_cap(max_message_bytes: usize) -> usize {
    max_message_bytes
        .saturating_mul(4)
        .clamp(64 * 1024, 16 * 1024 * 1024)
}
