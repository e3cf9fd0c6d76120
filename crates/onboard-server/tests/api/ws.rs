//! A feed client for the tests: a raw tokio-tungstenite stream that checks every
//! server message as it arrives (`sequence` 1, 2, 3, … with no gap, the shape of a
//! reply or of a feed message) and never waits without a deadline.
//!
//! tungstenite answers pings only while the stream is read: a test that wants a
//! client which does not answer simply stops calling it.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

pub const USERS_FEED: &str = "private.enterprise.users";

/// How long a test waits for a message it is sure to get.
pub const WAIT: Duration = Duration::from_secs(10);

/// What arrived.
#[derive(Debug)]
pub enum Incoming {
    Message(Value),
    /// A close frame (its code, if any) or the end of the stream.
    Closed(Option<u16>),
}

pub struct Ws {
    stream: WebSocketStream<TcpStream>,
    /// The `sequence` of the last server message received.
    pub sequence: u64,
}

impl Ws {
    pub async fn connect(url: &str) -> Ws {
        Ws::connect_with(url, None).await
    }

    /// A connection whose socket receives into a small kernel buffer, so that a
    /// server writing to a client that stops reading blocks soon.
    pub async fn connect_small_buffer(url: &str) -> Ws {
        Ws::connect_with(url, Some(4096)).await
    }

    async fn connect_with(url: &str, recv_buffer: Option<u32>) -> Ws {
        let address = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .parse()
            .expect("a ws://ip:port/ URL");
        let socket = TcpSocket::new_v4().unwrap();
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        let tcp = tokio::time::timeout(WAIT, socket.connect(address))
            .await
            .expect("connecting timed out")
            .expect("Failed to connect");
        let (stream, _) = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(url, tcp))
            .await
            .expect("the WebSocket handshake timed out")
            .expect("the WebSocket handshake failed");
        Ws {
            stream,
            sequence: 0,
        }
    }

    pub async fn send(&mut self, value: &Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        tokio::time::timeout(WAIT, self.stream.send(Message::text(text)))
            .await
            .expect("sending timed out")
            .expect("Failed to send");
    }

    /// The next message or the close, or `None` if nothing came within `wait`.
    /// Every message is checked: its `sequence` follows the last one.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Incoming> {
        let deadline = Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()?;
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(frame))) => {
                    return Some(Incoming::Closed(frame.map(|f| u16::from(f.code))));
                }
                Some(Ok(Message::Binary(_))) => panic!("the server sent a binary message"),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Some(Incoming::Closed(None)),
            };
            let value: Value = serde_json::from_str(text.as_str())
                .unwrap_or_else(|e| panic!("the server sent invalid JSON ({e}): {text}"));
            let sequence = value["sequence"]
                .as_u64()
                .unwrap_or_else(|| panic!("no sequence in {value}"));
            assert_eq!(
                sequence,
                self.sequence + 1,
                "sequence must count every server message with no gap: {value}"
            );
            self.sequence = sequence;
            assert_timestamp(&value["timestamp"]);
            if value.get("type").is_some() {
                assert_reply_shape(&value);
            } else {
                assert_feed_shape(&value);
            }
            return Some(Incoming::Message(value));
        }
    }

    /// The next server message; panics on a close or after [`WAIT`].
    pub async fn next(&mut self) -> Value {
        match self.recv_within(WAIT).await {
            Some(Incoming::Message(value)) => value,
            Some(Incoming::Closed(code)) => {
                panic!("the connection closed ({code:?}) while a message was expected")
            }
            None => panic!("no message within {WAIT:?}"),
        }
    }

    /// The next message, which must be a success reply to `action`.
    pub async fn expect_success(&mut self, action: &str) -> Value {
        let reply = self.next().await;
        assert_eq!(reply["type"], "success", "expected success: {reply}");
        assert_eq!(reply["action"], action, "{reply}");
        reply
    }

    /// The next message, which must be an error reply about `action`; returns its
    /// message.
    pub async fn expect_error(&mut self, action: &str) -> String {
        let reply = self.next().await;
        assert_eq!(reply["type"], "error", "expected an error: {reply}");
        assert_eq!(reply["action"], action, "{reply}");
        let message = reply["payload"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("an error names its reason: {reply}"));
        assert!(!message.trim().is_empty(), "{reply}");
        message.to_owned()
    }

    pub async fn authenticate(&mut self, key: &str) {
        self.send(&json!({"type": "authenticate", "apiKey": key, "enterprise": true}))
            .await;
        self.expect_success("authenticate").await;
    }

    pub async fn subscribe(&mut self, after: Option<i64>) {
        self.send(&subscribe_message(after)).await;
        let reply = self.expect_success("subscribe").await;
        assert_eq!(reply["payload"]["feeds"], json!([USERS_FEED]), "{reply}");
    }

    /// Connects, authenticates and subscribes.
    pub async fn subscriber(url: &str, key: &str, after: Option<i64>) -> Ws {
        let mut ws = Ws::connect(url).await;
        ws.authenticate(key).await;
        ws.subscribe(after).await;
        ws
    }

    /// The next `n` feed messages, within `wait` altogether; any reply or close
    /// in between fails the test.
    pub async fn feed_messages(&mut self, n: usize, wait: Duration) -> Vec<Value> {
        let deadline = Instant::now() + wait;
        let mut messages = Vec::with_capacity(n);
        while messages.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv_within(left).await {
                Some(Incoming::Message(m)) if m.get("event_id").is_some() => messages.push(m),
                Some(Incoming::Message(m)) => panic!("expected a feed message, got {m}"),
                Some(Incoming::Closed(code)) => panic!(
                    "closed ({code:?}) after {} of {n} feed messages",
                    messages.len()
                ),
                None => panic!(
                    "only {} of {n} feed messages within {wait:?}; last: {:?}",
                    messages.len(),
                    messages.last().map(|m| &m["event_id"])
                ),
            }
        }
        messages
    }

    /// Nothing arrives for `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Some(incoming) = self.recv_within(wait).await {
            panic!("expected nothing, got {incoming:?}");
        }
    }

    /// Reads until the server closes, within `wait`; returns the messages before
    /// the close and the close code.
    pub async fn expect_closed(&mut self, wait: Duration) -> (Vec<Value>, Option<u16>) {
        let deadline = Instant::now() + wait;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv_within(left).await {
                Some(Incoming::Message(m)) => before.push(m),
                Some(Incoming::Closed(code)) => return (before, code),
                None => panic!("still open after {wait:?}; received {before:?}"),
            }
        }
    }
}

impl Ws {
    /// For a client that stopped reading: everything the server wrote until it
    /// closed the socket, read as raw bytes (tungstenite would first try to answer
    /// the pings it finds, and fail on the closed socket before reaching the
    /// rest). Returns the text messages (sequence-checked) and the close code.
    pub async fn raw_until_closed(&mut self, wait: Duration) -> (Vec<Value>, Option<u16>) {
        use tokio::io::AsyncReadExt;
        let mut bytes = Vec::new();
        tokio::time::timeout(wait, self.stream.get_mut().read_to_end(&mut bytes))
            .await
            .unwrap_or_else(|_| panic!("the server did not close within {wait:?}"))
            .expect("reading the socket failed");
        let (mut texts, mut close) = (Vec::new(), None);
        let mut at = 0;
        while at < bytes.len() {
            let opcode = bytes[at] & 0x0f;
            assert_eq!(bytes[at + 1] & 0x80, 0, "server frames are not masked");
            let (len, header) = match bytes[at + 1] & 0x7f {
                126 => (
                    usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]])),
                    4,
                ),
                127 => panic!("no 64-bit frame expected here"),
                n => (usize::from(n), 2),
            };
            let payload = &bytes[at + header..at + header + len];
            at += header + len;
            match opcode {
                0x1 => {
                    let value: Value = serde_json::from_slice(payload).unwrap();
                    assert_eq!(value["sequence"].as_u64(), Some(self.sequence + 1));
                    self.sequence += 1;
                    texts.push(value);
                }
                0x8 => {
                    close =
                        (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                }
                0x9 | 0xA => {}
                other => panic!("unexpected frame opcode {other}"),
            }
        }
        (texts, close)
    }
}

pub fn subscribe_message(after: Option<i64>) -> Value {
    let mut message = json!({"type": "subscribe", "feeds": [USERS_FEED]});
    if let Some(after) = after {
        message["after"] = json!(after);
    }
    message
}

/// The `event_id`s of feed messages or REST events.
pub fn event_ids(messages: &[Value]) -> Vec<i64> {
    messages
        .iter()
        .map(|m| m["event_id"].as_i64().expect("event_id is an integer"))
        .collect()
}

/// A nanosecond Unix timestamp: a 19-digit integer.
pub fn assert_timestamp(value: &Value) {
    let n = value
        .as_i64()
        .unwrap_or_else(|| panic!("timestamp must be an integer, got {value}"));
    assert_eq!(n.to_string().len(), 19, "timestamp in nanoseconds: {n}");
}

fn assert_reply_shape(reply: &Value) {
    let keys: Vec<&str> = reply
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    // serde_json sorts keys: this is the set, not the order.
    assert_eq!(
        keys,
        ["action", "payload", "sequence", "timestamp", "type"],
        "{reply}"
    );
    assert!(
        reply["type"] == "success" || reply["type"] == "error",
        "{reply}"
    );
    assert_eq!(reply["payload"]["action"], reply["action"], "{reply}");
}

fn assert_feed_shape(message: &Value) {
    assert_eq!(message["recipient"], USERS_FEED, "{message}");
    assert!(
        message["event_id"].as_i64().is_some_and(|id| id > 0),
        "{message}"
    );
    let payload = &message["payload"];
    assert!(payload["user_id"].is_string(), "{message}");
    assert!(payload["status"].is_string(), "{message}");
    assert!(payload["requirements"]["sms"].is_boolean(), "{message}");
    assert!(payload["requirements"]["email"].is_boolean(), "{message}");
}
