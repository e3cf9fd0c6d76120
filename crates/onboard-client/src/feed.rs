//! The WebSocket feed (CONTRACT §5): authenticate, subscribe (optionally after an
//! `event_id`), and yield every event once, in order, across reconnects.
//!
//! A [`Subscription`] remembers the last `event_id` it yielded. When the
//! connection drops (network, server restart, silence) it waits with exponential
//! backoff, reconnects and subscribes with `after` set to that id, so the server
//! replays exactly what was missed: no gap, and no duplicate (an event at or
//! before that id is never yielded twice, whatever a server sends). Refusals that
//! retrying cannot cure (a bad key, history no longer held) end it with a typed
//! [`FeedError`].

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use onboard_api::{ClientMessage, FeedMessage, Reply, ServerMessage, USERS_FEED};
use reqwest::Url;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::tls::{Certificates, install_tls_provider};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a subscription ended for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// The server refused the key.
    #[error("authenticate refused: {0}")]
    AuthenticateRefused(String),
    /// The server refused the subscription, or ended it: `after` is beyond the
    /// log, or names history the log no longer holds.
    #[error("subscribe refused: {0}")]
    SubscribeRefused(String),
    #[error("invalid feed URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot use the TLS roots: {0}")]
    Tls(String),
}

/// Waits between reconnects: `initial`, doubling up to `max`; back to `initial`
/// once a subscription is confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(10),
        }
    }
}

/// What [`Subscription::next`] yields.
#[derive(Debug, Clone)]
pub enum FeedUpdate {
    /// An event, never one already yielded.
    Message(Box<FeedMessage>),
    /// The server confirmed the subscription; events follow this `event_id`.
    Subscribed { after: i64 },
    /// The connection ended; the next call waits `delay`, then reconnects and
    /// resumes.
    Reconnecting { reason: String, delay: Duration },
    /// The server refused something without ending the subscription (a rate
    /// limit, a keep-alive warning).
    ServerError { action: String, message: String },
}

/// Connection settings of the feed; [`FeedClient::subscribe`] starts following it.
#[derive(Debug, Clone)]
pub struct FeedClient {
    url: String,
    api_key: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    backoff: Backoff,
    connect_timeout: Duration,
    idle_timeout: Duration,
}

impl FeedClient {
    /// The feed at `url` (`ws://…/ws` or `wss://…/ws`) with an enterprise key.
    pub fn new(url: &str, api_key: impl Into<String>) -> Result<FeedClient, FeedError> {
        let invalid = |reason: String| FeedError::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let parsed = Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        if !matches!(parsed.scheme(), "ws" | "wss") || parsed.host().is_none() {
            return Err(invalid("expected a ws:// or wss:// URL with a host".into()));
        }
        install_tls_provider();
        Ok(FeedClient {
            url: url.to_owned(),
            api_key: api_key.into(),
            tls: None,
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        })
    }

    /// For `wss://`: trust these certificate authorities, and no others.
    pub fn trust_only(mut self, roots: &Certificates) -> Result<Self, FeedError> {
        self.tls = Some(roots.rustls().map_err(FeedError::Tls)?);
        Ok(self)
    }

    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How long a connection attempt (TCP, TLS, WebSocket handshake) may take
    /// (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// A connection silent this long is taken as dropped (default 60 s; the
    /// server pings every 20 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Follows the users feed: every event after `after`, then live; `None`
    /// starts live. Nothing happens until the first [`Subscription::next`].
    pub fn subscribe(&self, after: Option<i64>) -> Subscription {
        Subscription {
            delay: self.backoff.initial,
            client: self.clone(),
            socket: None,
            after,
            wait: None,
            ended: None,
        }
    }

    /// One connection: TCP (and TLS), the WebSocket handshake, then
    /// authenticate and subscribe, sent at once; the replies are read by
    /// [`Subscription::next`] as they come.
    async fn connect(&self, after: Option<i64>) -> Result<Socket, String> {
        let attempt = async {
            let connector = self.tls.clone().map(Connector::Rustls);
            let (mut socket, _) = tokio_tungstenite::connect_async_tls_with_config(
                self.url.as_str(),
                None,
                true,
                connector,
            )
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.url))?;
            let messages = [
                ClientMessage::Authenticate {
                    api_key: self.api_key.clone(),
                    enterprise: true,
                },
                ClientMessage::Subscribe {
                    feeds: vec![USERS_FEED.to_owned()],
                    after,
                },
            ];
            for message in messages {
                let text = serde_json::to_string(&message).map_err(|e| e.to_string())?;
                socket
                    .send(Message::text(text))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(socket)
        };
        match tokio::time::timeout(self.connect_timeout, attempt).await {
            Ok(connected) => connected,
            Err(_) => Err(format!(
                "cannot connect to {}: no answer within {} ms",
                self.url,
                self.connect_timeout.as_millis()
            )),
        }
    }
}

/// A followed feed. Call [`next`](Subscription::next) (or
/// [`next_message`](Subscription::next_message)) in a loop.
#[derive(Debug)]
pub struct Subscription {
    client: FeedClient,
    socket: Option<Socket>,
    /// The last `event_id` yielded, or where the server said it started.
    after: Option<i64>,
    /// The wait before the next reconnect after this one.
    delay: Duration,
    /// A wait owed before connecting again.
    wait: Option<Duration>,
    ended: Option<FeedError>,
}

impl Subscription {
    /// Where a resumed subscription starts: the last `event_id` yielded, or the
    /// point the server started from; `None` before a live-only start is confirmed.
    pub fn after(&self) -> Option<i64> {
        self.after
    }

    /// The next event, skipping the other updates (they are logged with
    /// `tracing`). Returns only when there is an event or the subscription ended.
    pub async fn next_message(&mut self) -> Result<FeedMessage, FeedError> {
        loop {
            match self.next().await? {
                FeedUpdate::Message(message) => return Ok(*message),
                FeedUpdate::Subscribed { after } => {
                    tracing::debug!(after, "subscribed");
                }
                FeedUpdate::Reconnecting { reason, delay } => {
                    tracing::info!(%reason, ?delay, "feed disconnected; reconnecting");
                }
                FeedUpdate::ServerError { action, message } => {
                    tracing::warn!(%action, %message, "feed server error");
                }
            }
        }
    }

    /// The next update. Errors end the subscription: every later call returns
    /// the same error.
    ///
    /// Cancel-safe: dropping the future (a `select!`, a timeout) loses no event;
    /// at worst a connection being set up is set up again on the next call,
    /// after the same `event_id`.
    pub async fn next(&mut self) -> Result<FeedUpdate, FeedError> {
        if let Some(ended) = &self.ended {
            return Err(ended.clone());
        }
        loop {
            let Some(socket) = self.socket.as_mut() else {
                if let Some(wait) = self.wait.take() {
                    tokio::time::sleep(wait).await;
                }
                match self.client.connect(self.after).await {
                    Ok(socket) => self.socket = Some(socket),
                    Err(reason) => return Ok(self.dropped(reason)),
                }
                continue;
            };
            let idle = self.client.idle_timeout;
            let frame = match tokio::time::timeout(idle, socket.next()).await {
                Err(_) => {
                    let reason = format!("nothing heard for {} ms", idle.as_millis());
                    return Ok(self.dropped(reason));
                }
                Ok(None) => return Ok(self.dropped("the connection ended".into())),
                Ok(Some(Err(e))) => return Ok(self.dropped(e.to_string())),
                Ok(Some(Ok(frame))) => frame,
            };
            let text = match frame {
                Message::Text(text) => text,
                Message::Close(_) => {
                    return Ok(self.dropped("the server closed the connection".into()));
                }
                // The pong is queued as the ping is read; send it now rather
                // than with the next read.
                Message::Ping(_) => {
                    if let Err(e) = socket.flush().await {
                        return Ok(self.dropped(e.to_string()));
                    }
                    continue;
                }
                Message::Pong(_) | Message::Binary(_) | Message::Frame(_) => continue,
            };
            match serde_json::from_str::<ServerMessage>(text.as_str()) {
                Ok(ServerMessage::Feed(message)) => {
                    if self.after.is_some_and(|after| message.event_id <= after) {
                        continue;
                    }
                    self.after = Some(message.event_id);
                    return Ok(FeedUpdate::Message(Box::new(message)));
                }
                Ok(ServerMessage::Reply(reply)) => {
                    if let Some(update) = self.on_reply(reply).await? {
                        return Ok(update);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "skipped a feed message of an unknown shape");
                }
            }
        }
    }

    async fn on_reply(&mut self, reply: Reply) -> Result<Option<FeedUpdate>, FeedError> {
        let action = reply.action;
        if reply.r#type != "error" {
            if action != "subscribe" {
                return Ok(None);
            }
            self.delay = self.client.backoff.initial;
            if self.after.is_none() {
                self.after = reply.payload.after;
            }
            return Ok(self.after.map(|after| FeedUpdate::Subscribed { after }));
        }
        let message = reply.payload.message.unwrap_or_default();
        if action != "authenticate" && action != "subscribe" {
            return Ok(Some(FeedUpdate::ServerError { action, message }));
        }
        // The server's words for a passing trouble (its database is away): the
        // same request will do on a new connection.
        if message.contains("try again") {
            let reason = format!("{action} refused for now: {message}");
            return Ok(Some(self.dropped(reason)));
        }
        let error = if action == "authenticate" {
            FeedError::AuthenticateRefused(message)
        } else {
            FeedError::SubscribeRefused(message)
        };
        if let Some(mut socket) = self.socket.take() {
            let _ = socket.close(None).await;
        }
        self.ended = Some(error.clone());
        Err(error)
    }

    /// The connection is gone: schedule the next attempt with backoff.
    fn dropped(&mut self, reason: String) -> FeedUpdate {
        self.socket = None;
        let delay = self.delay;
        self.delay = (delay * 2).min(self.client.backoff.max);
        self.wait = Some(delay);
        FeedUpdate::Reconnecting { reason, delay }
    }

    /// Unsubscribes politely and closes the connection.
    pub async fn close(mut self) {
        if let Some(mut socket) = self.socket.take() {
            let unsubscribe = ClientMessage::Unsubscribe {
                feeds: vec![USERS_FEED.to_owned()],
            };
            if let Ok(text) = serde_json::to_string(&unsubscribe) {
                let _ = socket.send(Message::text(text)).await;
            }
            let _ = socket.close(None).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_websocket_urls_are_accepted() {
        for url in ["http://127.0.0.1:8080/ws", "ws://", "nonsense"] {
            let error = FeedClient::new(url, "k").unwrap_err();
            assert!(matches!(error, FeedError::InvalidUrl { .. }), "{url}");
        }
        assert!(FeedClient::new("wss://onboard.example/ws", "k").is_ok());
    }

    #[tokio::test]
    async fn an_unreachable_server_backs_off_doubling_up_to_the_maximum() {
        // A port that was free a moment ago: connecting is refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let backoff = Backoff {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(4),
        };
        let client = FeedClient::new(&format!("ws://127.0.0.1:{port}/ws"), "k")
            .unwrap()
            .backoff(backoff);
        let mut subscription = client.subscribe(Some(3));
        let mut delays = Vec::new();
        for _ in 0..4 {
            match subscription.next().await.unwrap() {
                FeedUpdate::Reconnecting { reason, delay } => {
                    assert!(reason.contains("cannot connect"), "{reason}");
                    delays.push(delay.as_millis());
                }
                other => panic!("expected a reconnect, got {other:?}"),
            }
        }
        assert_eq!(delays, [1, 2, 4, 4]);
        assert_eq!(subscription.after(), Some(3));
    }
}
