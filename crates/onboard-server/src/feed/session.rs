//! One WebSocket connection: authenticate, subscribe, then deliver every event of
//! the enterprise in `event_id` order, exactly once, from the broadcast while it
//! keeps up and from the log whenever there is a gap.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use futures_util::SinkExt as _;
use onboard_api::USERS_FEED;
use onboard_core::access::ApiKeyId;
use onboard_core::service::{FeedItem, KeyEnds, LogRead};
use onboard_core::store::Enterprise;
use onboard_core::time_format::unix_nanos;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::hub::{READ_BATCH, Subscription};
use super::limits::{RateLimiter, Slot};
use super::protocol::{self, ClientMessage, ErrorReply};
use crate::edge::ConnectionSlot;
use crate::metrics::Metrics;
use crate::state::{AppState, Feed};
use onboard_core::service::Onboarding;
use tokio_util::sync::CancellationToken;

/// The socket went away or failed; the session ends.
struct Gone;

/// A subscription and how far this connection has delivered it.
struct Live {
    sub: Subscription,
    /// The last `event_id` delivered (or skipped as not sent on the feed).
    cursor: i64,
}

struct Session {
    socket: WebSocket,
    onboarding: Onboarding,
    feed: Arc<Feed>,
    metrics: Arc<Metrics>,
    /// Cancelled when the server shuts down: the session says goodbye (1001).
    shutdown: CancellationToken,
    /// Server messages sent so far; the next one carries `sequence + 1`.
    sequence: u64,
    enterprise: Option<Enterprise>,
    /// The key this connection authenticated with, and the list of ended keys
    /// it watches: when the key is listed, the session is told why and closed.
    key: Option<(ApiKeyId, tokio::sync::watch::Receiver<Arc<KeyEnds>>)>,
    /// Holds this connection's place in the per-key count while authenticated.
    _slot: Option<Slot>,
    live: Option<Live>,
    limiter: RateLimiter,
    /// Refusals since the last authenticated success.
    refusals_in_a_row: u32,
    /// Failed authentications on this connection.
    auth_failures: u32,
    /// The connection's place under the node's connection cap.
    _connection: Option<ConnectionSlot>,
    /// A catch-up could not read the log (the database was away): when to try
    /// again, even if no new event comes to prompt it.
    retry_catch_up: Option<tokio::time::Instant>,
    /// The client's address, for the vendor's per-address limits.
    peer: Option<std::net::IpAddr>,
}

/// Live items delivered before one write: what a burst leaves queued in the
/// broadcast is sent together, up to this many.
const LIVE_BATCH: usize = 64;

/// How soon a failed catch-up is tried again.
const RETRY_CATCH_UP: std::time::Duration = std::time::Duration::from_secs(1);

pub async fn run(
    socket: WebSocket,
    state: AppState,
    connection: Option<ConnectionSlot>,
    peer: Option<std::net::IpAddr>,
) {
    let limits = &state.feed.limits;
    let metrics = state.metrics.clone();
    let mut session = Session {
        socket,
        limiter: RateLimiter::new(limits.messages_per_second, limits.burst),
        onboarding: state.onboarding,
        feed: state.feed,
        metrics: metrics.clone(),
        shutdown: state.tasks.shutdown,
        sequence: 0,
        enterprise: None,
        key: None,
        _slot: None,
        live: None,
        refusals_in_a_row: 0,
        auth_failures: 0,
        _connection: connection,
        retry_catch_up: None,
        peer,
    };
    metrics
        .ws_sessions
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    session.serve().await;
    metrics
        .ws_sessions
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

impl Session {
    async fn serve(&mut self) {
        let mut ping = tokio::time::interval(self.feed.limits.ping_interval);
        ping.tick().await;
        let mut last_heard = Instant::now();
        let shutdown = self.shutdown.clone();
        // A fixed deadline: nothing but a successful authenticate lifts it, so
        // pongs and refused messages cannot keep an anonymous socket open.
        let auth_deadline = tokio::time::Instant::now() + self.feed.limits.auth_timeout;
        loop {
            let outcome = tokio::select! {
                () = shutdown.cancelled() => {
                    self.close(close_code::AWAY, "server shutting down").await;
                    return;
                }
                () = tokio::time::sleep_until(auth_deadline), if self.enterprise.is_none() => {
                    self.auth_timed_out().await
                }
                incoming = self.socket.recv() => match incoming {
                    Some(Ok(message)) => {
                        last_heard = Instant::now();
                        self.on_message(message).await
                    }
                    Some(Err(e)) => self.on_read_error(e).await,
                    None => return,
                },
                received = next_live(&mut self.live), if self.live.is_some() => {
                    self.on_live(received).await
                }
                _ = ping.tick() => self.keep_alive(last_heard).await,
                () = key_ended(&mut self.key), if self.key.is_some() => self.check_key().await,
                () = sleep_until(self.retry_catch_up), if self.retry_catch_up.is_some() => {
                    self.catch_up().await
                }
            };
            if outcome.is_err() {
                return;
            }
        }
    }

    async fn auth_timed_out(&mut self) -> Result<(), Gone> {
        let limit = self.feed.limits.auth_timeout;
        let why = format!(
            "no successful authenticate within {} ms of connecting; closing",
            limit.as_millis()
        );
        self.refuse(ErrorReply::new("authenticate", why)).await?;
        self.close(close_code::POLICY, "authentication timed out")
            .await;
        Err(Gone)
    }

    /// The library could not read a message. A message over its size cap is
    /// answered (an error reply, then a 1009 close naming the limit) rather than
    /// dropped silently; anything else ends the session.
    async fn on_read_error(&mut self, e: axum::Error) -> Result<(), Gone> {
        let inner = e.into_inner();
        let too_big = inner
            .downcast_ref::<tungstenite::Error>()
            .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)));
        if !too_big {
            return Err(Gone);
        }
        let hard_cap = super::hard_cap(self.feed.limits.max_message_bytes);
        let why = format!(
            "the message is larger than {hard_cap} bytes; at most {} are accepted",
            self.feed.limits.max_message_bytes
        );
        self.refuse(ErrorReply::new("unknown", why)).await?;
        self.close(close_code::SIZE, "message too big").await;
        Err(Gone)
    }

    async fn keep_alive(&mut self, last_heard: Instant) -> Result<(), Gone> {
        let idle = self.feed.limits.idle_timeout;
        if last_heard.elapsed() >= idle {
            let why = format!("nothing heard for {} seconds; closing", idle.as_secs());
            self.refuse(ErrorReply::new("keepalive", why)).await?;
            self.close(close_code::AWAY, "idle").await;
            return Err(Gone);
        }
        self.send(Message::Ping(Default::default())).await
    }

    /// Sends one frame, and whatever was queued before it; a write that cannot
    /// proceed within the write timeout ends the session (and so the connection).
    async fn send(&mut self, message: Message) -> Result<(), Gone> {
        self.queue(message).await?;
        self.flush().await
    }

    /// Queues one frame in the socket's write buffer. It is written when the buffer
    /// fills (a few KiB) or at the next [`Session::flush`]: a burst of events costs
    /// one write per buffer, not one per event.
    async fn queue(&mut self, message: Message) -> Result<(), Gone> {
        let limit = self.feed.limits.write_timeout;
        within(limit, self.socket.feed(message)).await
    }

    async fn flush(&mut self) -> Result<(), Gone> {
        let limit = self.feed.limits.write_timeout;
        within(limit, self.socket.flush()).await
    }

    async fn on_message(&mut self, message: Message) -> Result<(), Gone> {
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                return self
                    .refuse_counted(ErrorReply::new(
                        "unknown",
                        "binary messages are not supported; send JSON text",
                    ))
                    .await;
            }
            Message::Close(_) => return Err(Gone),
            Message::Ping(_) | Message::Pong(_) => return Ok(()),
        };
        if let (Some(limits), Some(ip)) = (&self.feed.vendor_limits, self.peer)
            && let Err(exceeded) = limits.ws_message(ip)
        {
            // Over the vendor's budget the address is blocked: say why, and close.
            self.refuse(ErrorReply::new("unknown", exceeded.sentence()))
                .await?;
            self.close(close_code::POLICY, "rate limit exceeded").await;
            return Err(Gone);
        }
        if !self.limiter.allow() {
            let limits = &self.feed.limits;
            let why = format!(
                "rate limit exceeded: at most {} messages per second",
                limits.messages_per_second
            );
            return self.refuse_counted(ErrorReply::new("unknown", why)).await;
        }
        let max = self.feed.limits.max_message_bytes;
        if text.len() > max {
            let why = format!(
                "the message is {} bytes; at most {max} are accepted",
                text.len()
            );
            return self.refuse_counted(ErrorReply::new("unknown", why)).await;
        }
        match protocol::parse(text.as_str()) {
            Ok(message) => self.on_command(message).await,
            Err(refusal) => self.refuse_counted(refusal).await,
        }
    }

    async fn on_command(&mut self, message: ClientMessage) -> Result<(), Gone> {
        match message {
            ClientMessage::Authenticate { api_key } => self.authenticate(&api_key).await,
            ClientMessage::Subscribe { feeds, after } => {
                let Some(known) = self.sort_feeds("subscribe", feeds).await? else {
                    return Ok(());
                };
                if known.iter().any(|f| f == USERS_FEED) {
                    self.subscribe(known, after).await
                } else {
                    // Only the vendor's other feeds: acknowledged, and silent.
                    self.success("subscribe", Some(known)).await
                }
            }
            ClientMessage::Unsubscribe { feeds } => {
                let Some(known) = self.sort_feeds("unsubscribe", feeds).await? else {
                    return Ok(());
                };
                // Unsubscribing from nothing is a no-op, and acknowledged.
                if known.iter().any(|f| f == USERS_FEED) {
                    self.live = None;
                }
                self.success("unsubscribe", Some(known)).await
            }
        }
    }

    async fn authenticate(&mut self, api_key: &str) -> Result<(), Gone> {
        const ACTION: &str = "authenticate";
        if self.enterprise.is_some() {
            return self
                .refuse(ErrorReply::new(
                    ACTION,
                    "this connection is already authenticated",
                ))
                .await;
        }
        let auth = match self.onboarding.authenticate_key(api_key).await {
            Ok(auth) => auth,
            Err(e) => {
                self.auth_failures += 1;
                self.refuse_counted(ErrorReply::new(ACTION, e.to_string()))
                    .await?;
                let max = self.feed.limits.max_auth_failures;
                if self.auth_failures >= max {
                    let why = format!("{max} failed authentications on this connection");
                    self.refuse(ErrorReply::new(ACTION, why)).await?;
                    self.close(close_code::POLICY, "too many failed authentications")
                        .await;
                    return Err(Gone);
                }
                return Ok(());
            }
        };
        let enterprise = auth.enterprise;
        let max = self.feed.limits.max_connections_per_key;
        let Some(slot) = self.feed.connections.acquire(enterprise.id, max) else {
            let why = format!("this enterprise already has {max} open connections on this server");
            self.refuse(ErrorReply::new(ACTION, why)).await?;
            self.close(close_code::POLICY, "too many connections").await;
            return Err(Gone);
        };
        self.enterprise = Some(enterprise);
        self._slot = Some(slot);
        let ends = self.onboarding.key_ends();
        self.key = Some((auth.key, ends));
        self.success(ACTION, None).await?;
        // The key may have ended between the lookup and now.
        self.check_key().await
    }

    /// Ends the session, saying why, once its key is revoked or expired.
    async fn check_key(&mut self) -> Result<(), Gone> {
        let Some((key, ends)) = &mut self.key else {
            return Ok(());
        };
        let Some(why) = ends.borrow_and_update().why(key) else {
            return Ok(());
        };
        self.live = None;
        self.refuse(ErrorReply::new("authenticate", why.sentence()))
            .await?;
        self.close(close_code::POLICY, "API key no longer valid")
            .await;
        Err(Gone)
    }

    /// Refuses each name that is no vendor feed (one error reply each) and keeps
    /// the rest; `None` when nothing is left to act on, or the connection has not
    /// authenticated.
    async fn sort_feeds(
        &mut self,
        action: &str,
        feeds: Vec<String>,
    ) -> Result<Option<Vec<String>>, Gone> {
        if self.enterprise.is_none() {
            let why = match action {
                "unsubscribe" => "authenticate before unsubscribing",
                _ => "authenticate before subscribing",
            };
            self.refuse_counted(ErrorReply::new(action, why)).await?;
            return Ok(None);
        }
        let (known, unknown): (Vec<String>, Vec<String>) =
            feeds.into_iter().partition(|f| protocol::is_vendor_feed(f));
        for name in unknown {
            self.refuse_counted(protocol::unknown_feed(action, &name))
                .await?;
        }
        Ok((!known.is_empty()).then_some(known))
    }

    async fn subscribe(&mut self, feeds: Vec<String>, after: Option<i64>) -> Result<(), Gone> {
        const ACTION: &str = "subscribe";
        let Some(enterprise) = self.enterprise.clone() else {
            return self
                .refuse_counted(ErrorReply::new(ACTION, "authenticate before subscribing"))
                .await;
        };
        if let Some(after) = after {
            if let Err(e) = self.onboarding.take_replay(enterprise.id) {
                return self.refuse(ErrorReply::new(ACTION, e.to_string())).await;
            }
            let checked = self
                .feed
                .hub
                .onboarding()
                .check_history(enterprise.id, after);
            if let Err(e) = checked.await {
                return self.refuse(ErrorReply::new(ACTION, e.to_string())).await;
            }
        }
        let sub = match self.feed.hub.subscribe(enterprise.id).await {
            Ok(sub) => sub,
            Err(e) => {
                tracing::warn!(error = %e, "subscribe failed");
                let why = "the event log is unavailable; try again shortly";
                return self.refuse(ErrorReply::new(ACTION, why)).await;
            }
        };
        let cursor = match (after, &self.live) {
            (Some(after), _) => after,
            // Already subscribed: carry on from what this connection delivered.
            // The broadcast's `latest` may be behind it (events delivered from
            // the log) or ahead of it (events still queued for us).
            (None, Some(live)) => live.cursor,
            (None, None) => sub
                .channel
                .latest
                .load(std::sync::atomic::Ordering::Acquire),
        };
        self.live = Some(Live { sub, cursor });
        self.success_from(ACTION, Some(feeds), Some(cursor)).await?;
        self.catch_up().await
    }

    /// Delivers `received` and every item already waiting behind it (up to
    /// [`LIVE_BATCH`]), then writes them out together.
    async fn on_live(&mut self, received: Result<Arc<FeedItem>, RecvError>) -> Result<(), Gone> {
        let mut received = received;
        for taken in 1..=LIVE_BATCH {
            let Some(live) = &self.live else {
                break;
            };
            match received {
                Ok(item) if item.event.event_id <= live.cursor => {}
                Ok(item) if item.event.event_id == live.cursor + 1 => self.deliver(&item).await?,
                // A gap (we subscribed mid-batch or fell behind): the log fills it,
                // and this item comes along with the rest.
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    self.catch_up().await?;
                    break;
                }
                Err(RecvError::Closed) => {
                    self.live = None;
                    break;
                }
            }
            // Taking one more than the batch would leave it undelivered until
            // the enterprise's next event.
            if taken == LIVE_BATCH {
                break;
            }
            let Some(live) = &mut self.live else {
                break;
            };
            received = match live.sub.rx.try_recv() {
                Ok(item) => Ok(item),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(TryRecvError::Closed) => Err(RecvError::Closed),
            };
        }
        self.flush().await
    }

    /// Reads the log from the cursor to its end and delivers every event.
    async fn catch_up(&mut self) -> Result<(), Gone> {
        self.retry_catch_up = None;
        loop {
            let Some((enterprise, cursor)) = self.position() else {
                return Ok(());
            };
            let onboarding = self.onboarding.clone();
            let items = match onboarding.feed_after(enterprise, cursor, READ_BATCH).await {
                Ok(LogRead::Events(items)) => items,
                // Retention pruned events this connection never got: say so and
                // end the subscription rather than skip them silently.
                Ok(LogRead::Pruned { oldest }) => {
                    self.live = None;
                    let oldest = oldest.map_or("none".to_owned(), |id| id.to_string());
                    let why = format!(
                        "events after {cursor} are no longer held (the oldest held is \
                         {oldest}); the subscription has ended"
                    );
                    return self.refuse(ErrorReply::new("subscribe", why)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "feed catch-up could not read the log");
                    self.retry_catch_up = Some(tokio::time::Instant::now() + RETRY_CATCH_UP);
                    return Ok(());
                }
            };
            let full = items.len() as u32 == READ_BATCH;
            for item in &items {
                self.deliver(item).await?;
            }
            self.flush().await?;
            if !full {
                return Ok(());
            }
        }
    }

    fn position(&self) -> Option<(onboard_core::store::EnterpriseId, i64)> {
        let enterprise = self.enterprise.as_ref()?.id;
        Some((enterprise, self.live.as_ref()?.cursor))
    }

    /// Queues one event (if it is sent on the feed) and moves the cursor past it;
    /// the caller flushes.
    async fn deliver(&mut self, item: &FeedItem) -> Result<(), Gone> {
        if item.is_sent() {
            self.sequence += 1;
            let timestamp = unix_nanos(self.onboarding.now());
            let text = protocol::feed_message(self.sequence, timestamp, item);
            self.queue(Message::Text(text.into())).await?;
            let sent = &self.metrics.feed_messages;
            sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(live) = &mut self.live {
            live.cursor = item.event.event_id;
        }
        Ok(())
    }

    async fn success(&mut self, action: &str, feeds: Option<Vec<String>>) -> Result<(), Gone> {
        self.success_from(action, feeds, None).await
    }

    async fn success_from(
        &mut self,
        action: &str,
        feeds: Option<Vec<String>>,
        after: Option<i64>,
    ) -> Result<(), Gone> {
        // Only an accepted command of an authenticated connection ends a run of
        // refusals: an anonymous one cannot launder its mistakes.
        if self.enterprise.is_some() {
            self.refusals_in_a_row = 0;
        }
        self.sequence += 1;
        let now = unix_nanos(self.onboarding.now());
        let reply = protocol::success(self.sequence, now, action, feeds, after);
        self.send_json(&reply).await
    }

    async fn refuse(&mut self, refusal: ErrorReply) -> Result<(), Gone> {
        self.sequence += 1;
        let now = unix_nanos(self.onboarding.now());
        let reply = protocol::error(self.sequence, now, refusal);
        self.send_json(&reply).await
    }

    /// A refusal of a client mistake; too many in a row and the connection closes.
    async fn refuse_counted(&mut self, refusal: ErrorReply) -> Result<(), Gone> {
        self.refuse(refusal).await?;
        self.refusals_in_a_row += 1;
        if self.refusals_in_a_row >= self.feed.limits.max_refusals {
            self.close(close_code::POLICY, "too many refused messages")
                .await;
            return Err(Gone);
        }
        Ok(())
    }

    async fn send_json(&mut self, value: &impl serde::Serialize) -> Result<(), Gone> {
        let text = serde_json::to_string(value).map_err(|_| Gone)?;
        self.send(Message::Text(text.into())).await
    }

    async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = self.send(Message::Close(Some(frame))).await;
    }
}

/// A socket operation bounded by the write timeout: one that cannot proceed in
/// time ends the session.
async fn within(
    limit: std::time::Duration,
    write: impl std::future::Future<Output = Result<(), axum::Error>>,
) -> Result<(), Gone> {
    match tokio::time::timeout(limit, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Gone),
        Err(_) => {
            tracing::debug!("a feed write could not proceed in time; closing");
            Err(Gone)
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Resolves when the list of ended keys moves (never, once the publisher is gone).
async fn key_ended(key: &mut Option<(ApiKeyId, tokio::sync::watch::Receiver<Arc<KeyEnds>>)>) {
    match key {
        Some((_, ends)) => {
            if ends.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

async fn next_live(live: &mut Option<Live>) -> Result<Arc<FeedItem>, RecvError> {
    match live {
        Some(live) => live.sub.rx.recv().await,
        None => std::future::pending().await,
    }
}
