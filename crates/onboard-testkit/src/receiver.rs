//! A webhook receiver on 127.0.0.1 that records every POST to `/hook`, for the
//! suites that send event webhooks (the server's and the CLI's). Each message can
//! be verified with an independent Standard Webhooks implementation.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use standardwebhooks::Webhook;
use tokio::time::Instant;

/// One POST the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    /// The `webhook-id` header: one per message, kept across retries.
    pub fn id(&self) -> String {
        self.headers["webhook-id"].to_str().unwrap().to_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn event_id(&self) -> i64 {
        self.json()["event_id"].as_i64().unwrap()
    }

    pub fn verifies_with(&self, secret: &str) -> bool {
        Webhook::new(secret)
            .unwrap()
            .verify(&self.body, &self.headers)
            .is_ok()
    }
}

/// How the receiver answers once the statuses of [`Receiver::fail_next`] are used.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// 204 to everything.
    Accept = 0,
    /// 500 the first time a `webhook-id` is seen, 204 afterwards.
    FailFirstSight = 1,
    /// Never answers (the sender's deadline or death ends the request).
    Hang = 2,
}

/// The receiver: cheap to clone, every clone the same.
#[derive(Clone)]
pub struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    seen: Arc<Mutex<HashSet<String>>>,
    mode: Arc<AtomicU8>,
    queued: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    /// Starts answering on `port` (0: any free port); returns it and its URL.
    pub async fn start(port: u16, mode: Mode) -> (Receiver, String) {
        let receiver = Receiver {
            received: Arc::default(),
            seen: Arc::default(),
            mode: Arc::new(AtomicU8::new(mode as u8)),
            queued: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("the receiver's port is free");
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Answers the next POSTs with these statuses, in order, before the mode's.
    pub fn fail_next(&self, statuses: &[u16]) {
        self.queued.lock().unwrap().extend(statuses);
    }

    /// Every POST so far, in order of arrival.
    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `done` holds for what arrived, or fails once `limit` passes.
    pub async fn wait_until(
        &self,
        limit: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + limit;
        loop {
            let all = self.all();
            if done(&all) {
                return all;
            }
            assert!(
                Instant::now() < deadline,
                "after {limit:?}, {} messages arrived: {:?}",
                all.len(),
                all.iter().map(Received::id).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Receiver {
    /// Waits until `n` POSTs arrived, or fails once `limit` passes.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        self.wait_until(limit, |all| all.len() >= n).await
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mode = receiver.mode.load(Ordering::SeqCst);
    if mode == Mode::Hang as u8 {
        std::future::pending::<()>().await;
    }
    let message = Received { headers, body };
    let first_sight = receiver.seen.lock().unwrap().insert(message.id());
    receiver.received.lock().unwrap().push(message);
    if let Some(status) = receiver.queued.lock().unwrap().pop_front() {
        return StatusCode::from_u16(status).unwrap();
    }
    if mode == Mode::FailFirstSight as u8 && first_sight {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}
