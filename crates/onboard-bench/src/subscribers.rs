//! Feed subscribers: WebSocket clients that authenticate and subscribe as the
//! vendor's protocol says, then hand their sockets to a reader task.
//!
//! Readers do as little as possible per message (a clock read and a substring
//! search, no JSON parse), so that a thousand of them in one process measure the
//! server rather than the client.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long one connection may take to open, authenticate and subscribe.
const HANDSHAKE: Duration = Duration::from_secs(30);

/// An authenticated, subscribed connection and the server's two replies.
pub struct Subscribed {
    pub ws: Ws,
    pub replies: [String; 2],
}

/// Opens `url`, authenticates with `key`, subscribes to the users feed.
pub async fn subscribe(url: &str, key: &str) -> anyhow::Result<Subscribed> {
    tokio::time::timeout(HANDSHAKE, async {
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .context("Failed to open the WebSocket")?;
        let auth = json!({"type": "authenticate", "apiKey": key, "enterprise": true});
        ws.send(Message::text(auth.to_string())).await?;
        let authenticated = expect_success(&mut ws).await?;
        let sub = json!({"type": "subscribe", "feeds": ["private.enterprise.users"]});
        ws.send(Message::text(sub.to_string())).await?;
        let subscribed = expect_success(&mut ws).await?;
        Ok(Subscribed {
            ws,
            replies: [authenticated, subscribed],
        })
    })
    .await
    .context("the WebSocket handshake timed out")?
}

async fn expect_success(ws: &mut Ws) -> anyhow::Result<String> {
    let text = next_text(ws).await?;
    if !text.contains(r#""type":"success""#) {
        bail!("the server refused: {text}");
    }
    Ok(text)
}

/// The next text message, skipping control frames.
pub async fn next_text(ws: &mut Ws) -> anyhow::Result<String> {
    while let Some(message) = ws.next().await {
        match message.context("the WebSocket failed")? {
            Message::Text(text) => return Ok(text.as_str().to_owned()),
            Message::Close(frame) => bail!("the server closed the WebSocket: {frame:?}"),
            _ => {}
        }
    }
    bail!("the WebSocket ended")
}

/// `n` subscribers, opened `in_flight` at a time.
pub async fn subscribe_many(
    url: &str,
    key: &str,
    n: usize,
    in_flight: usize,
) -> anyhow::Result<Vec<Subscribed>> {
    let opened: Vec<anyhow::Result<Subscribed>> = futures_util::stream::iter(0..n)
        .map(|_| subscribe(url, key))
        .buffer_unordered(in_flight.max(1))
        .collect()
        .await;
    let mut out = Vec::with_capacity(n);
    for (i, s) in opened.into_iter().enumerate() {
        out.push(s.with_context(|| format!("subscriber {i} of {n}"))?);
    }
    Ok(out)
}

/// The first `"user_id":"…"` of a feed message: the payload's user.
pub fn user_id_in(text: &str) -> Option<&str> {
    const KEY: &str = r#""user_id":""#;
    let start = text.find(KEY)? + KEY.len();
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}

/// Readers that report `(user_id, arrival)` for every feed message.
pub fn spawn_arrival_readers(
    subscribers: Vec<Subscribed>,
    tx: mpsc::UnboundedSender<(String, Instant)>,
) -> JoinSet<()> {
    let mut set = JoinSet::new();
    for s in subscribers {
        let tx = tx.clone();
        set.spawn(async move {
            let mut ws = s.ws;
            while let Some(Ok(message)) = ws.next().await {
                let at = Instant::now();
                if let Message::Text(text) = message
                    && let Some(uid) = user_id_in(text.as_str())
                    && tx.send((uid.to_owned(), at)).is_err()
                {
                    return;
                }
            }
        });
    }
    set
}

/// Per-subscriber message counts, and when the last message arrived anywhere.
pub struct Counters {
    pub each: Vec<Arc<AtomicU64>>,
    /// Nanoseconds after `origin` of the latest arrival.
    pub last_nanos: Arc<AtomicU64>,
    pub origin: Instant,
}

impl Counters {
    pub fn total(&self) -> u64 {
        self.each.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    pub fn behind(&self, expected: u64) -> usize {
        self.each
            .iter()
            .filter(|c| c.load(Ordering::Relaxed) < expected)
            .count()
    }

    pub fn last_arrival(&self) -> Instant {
        self.origin + Duration::from_nanos(self.last_nanos.load(Ordering::Relaxed))
    }
}

/// Readers that only count feed messages.
pub fn spawn_counting_readers(subscribers: Vec<Subscribed>) -> (JoinSet<()>, Counters) {
    let origin = Instant::now();
    let last_nanos = Arc::new(AtomicU64::new(0));
    let mut each = Vec::with_capacity(subscribers.len());
    let mut set = JoinSet::new();
    for s in subscribers {
        let count = Arc::new(AtomicU64::new(0));
        each.push(count.clone());
        let last = last_nanos.clone();
        set.spawn(async move {
            let mut ws = s.ws;
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Text(text) = message
                    && user_id_in(text.as_str()).is_some()
                {
                    count.fetch_add(1, Ordering::Relaxed);
                    last.fetch_max(origin.elapsed().as_nanos() as u64, Ordering::Relaxed);
                }
            }
        });
    }
    let counters = Counters {
        each,
        last_nanos,
        origin,
    };
    (set, counters)
}

/// Readers that keep idle connections alive (answering the server's pings).
pub fn spawn_idle_readers(subscribers: Vec<Subscribed>) -> JoinSet<()> {
    let mut set = JoinSet::new();
    for s in subscribers {
        set.spawn(async move {
            let mut ws = s.ws;
            while let Some(Ok(_)) = ws.next().await {}
        });
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_user_id_is_found_and_a_token_owner_is_not_mistaken_for_it() {
        let text = r#"{"sequence":3,"payload":{"user_id":"bench_1","user_token":{"partner_user_id":"x"}}}"#;
        assert_eq!(user_id_in(text), Some("bench_1"));
        assert_eq!(user_id_in(r#"{"partner_user_id":"x"}"#), None);
    }
}
