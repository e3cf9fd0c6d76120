//! The floor server: the least a server on the same HTTP stack (axum on tokio,
//! same WebSocket buffer settings) can do to give the same answers, with no
//! database, no authentication and no serialisation. It runs as a child process
//! (`onboard-bench floor-server`), like the real server, so that its CPU and memory
//! are measured the same way.
//!
//! Every answer is bytes captured from our server earlier in the same run:
//! - any `GET` of a user or a user page answers `get_body`;
//! - `POST /v1/enterprise/register-account` broadcasts `feed_message` (with the
//!   body's `user_id` put in) to every WebSocket and answers 201 `register_body`;
//! - `/ws` answers the first two client messages with `replies`, then forwards
//!   the broadcast.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::subscribers::user_id_in;

/// What the floor answers, captured from our server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FloorConfig {
    pub get_body: String,
    pub register_body: String,
    pub feed_message: String,
    /// The `user_id` inside `register_body` and `feed_message`.
    pub template_user_id: String,
    /// The replies to `authenticate` and `subscribe`.
    pub replies: Vec<String>,
    /// Broadcast slots: large enough that no subscriber is dropped for lagging.
    pub channel_capacity: usize,
}

impl FloorConfig {
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, serde_json::to_vec(self)?)
            .with_context(|| format!("Failed to write {}", path.display()))
    }
}

struct Floor {
    config: FloorConfig,
    get_body: Bytes,
    tx: broadcast::Sender<Utf8Bytes>,
}

/// `onboard-bench floor-server`: serves until killed.
pub async fn run(config: &Path, port: u16) -> anyhow::Result<()> {
    let text = std::fs::read(config).context("Failed to read the floor config")?;
    let config: FloorConfig = serde_json::from_slice(&text)?;
    let (tx, _) = broadcast::channel(config.channel_capacity.max(16));
    let floor = Arc::new(Floor {
        get_body: Bytes::from(config.get_body.clone()),
        config,
        tx,
    });
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/enterprise/users", get(get_body))
        .route("/v1/enterprise/users/{user_id}", get(get_body))
        .route("/v1/enterprise/register-account", post(register))
        .route("/ws", get(upgrade))
        .with_state(floor);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("Failed to listen on 127.0.0.1:{port}"))?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn get_body(State(floor): State<Arc<Floor>>) -> Response {
    json(StatusCode::OK, floor.get_body.clone())
}

fn json(status: StatusCode, body: Bytes) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn register(State(floor): State<Arc<Floor>>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    let uid = user_id_in(&text).unwrap_or_default();
    let template = &floor.config.template_user_id;
    let message = floor.config.feed_message.replace(template, uid);
    let _ = floor.tx.send(Utf8Bytes::from(message));
    let answer = floor.config.register_body.replace(template, uid);
    json(StatusCode::CREATED, Bytes::from(answer))
}

/// The same protocol limits and buffer sizes as `onboard_server::feed::upgrade`.
async fn upgrade(State(floor): State<Arc<Floor>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(64 * 1024)
        .max_frame_size(64 * 1024)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(8 * 1024)
        .on_upgrade(move |socket| session(socket, floor))
}

async fn session(mut socket: WebSocket, floor: Arc<Floor>) {
    let mut rx = floor.tx.subscribe();
    let mut replies = floor.config.replies.iter();
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(_))) => {
                    let Some(reply) = replies.next() else { continue };
                    let reply = Utf8Bytes::from(reply.as_str());
                    if socket.send(Message::Text(reply)).await.is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                _ => return,
            },
            item = rx.recv() => match item {
                Ok(text) => {
                    if socket.send(Message::Text(text)).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
        }
    }
}
