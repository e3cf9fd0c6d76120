//! The feed's domain (CONTRACT §5), used by every reader of the event log: the
//! REST events route, the WebSocket sessions, and anything else that follows the
//! log. Three rules live here and nowhere else:
//! - history: a reader may start after any id the log still holds; asking for
//!   more than the log holds, or for ids it has pruned, is an error naming why;
//! - reading: events come in `event_id` order, and a gap (pruned while a reader
//!   was away) is reported, never skipped;
//! - tokens: each feed message carries a user token good for 24 h. Tokens are
//!   shared by the messages of one user for a short window, so a replay or a
//!   lagging reader writes at most one token row per user per window, not one per
//!   event.
//!
//! [`Changes`] is how a reader learns that there is something new: the service
//! signals it after each commit, and the store forwards other processes' commits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use onboard_api::{FeedPayload, FeedRequirements, FeedToken};
use time::{Duration, OffsetDateTime};
use tokio::sync::Notify;

use super::{Onboarding, ServiceError};
use crate::events::{ChangeNotifier, Event, Retention};
use crate::secret::{USER_TOKEN_TTL, UserToken};
use crate::store::{EnterpriseId, EventBounds, Grant, TokenGrant};
use crate::time_format::rfc3339_millis;

/// An event ready to send, with the token its message carries (`None` for a
/// deactivation, or when the user was no longer active when it was minted).
#[derive(Debug)]
pub struct FeedItem {
    pub event: Event,
    pub token: Option<FeedToken>,
    /// The payload as JSON, written once however many sessions send it.
    payload_json: std::sync::OnceLock<Box<str>>,
}

impl FeedItem {
    pub fn new(event: Event, token: Option<FeedToken>) -> FeedItem {
        FeedItem {
            event,
            token,
            payload_json: std::sync::OnceLock::new(),
        }
    }

    /// [`FeedItem::payload`] as JSON, serialised by the first session that sends
    /// it; every other connection splices the same text into its envelope.
    pub fn payload_json(&self) -> &str {
        self.payload_json.get_or_init(|| {
            serde_json::to_string(&self.payload())
                .unwrap_or_default()
                .into_boxed_str()
        })
    }

    /// Whether the event is sent on the WebSocket feed: a message goes out on
    /// registration and on every status or requirements change; deactivations,
    /// EDD and document events stay in the log (and `GET /v1/enterprise/events`)
    /// only, so the feed keeps the vendor's user shape (CONTRACT §7).
    pub fn is_sent(&self) -> bool {
        self.event.kind.is_user_change()
    }

    /// The message's `payload`, in the vendor's shape.
    pub fn payload(&self) -> FeedPayload {
        let u = &self.event.user;
        FeedPayload {
            user_id: u.user_id.to_string(),
            first_name: u.first_name.to_string(),
            last_name: u.last_name.to_string(),
            email: u.email.to_string(),
            phone_number: u.phone_number.to_string(),
            account_role: u.account_role.as_str().to_owned(),
            account_type: u.account_type.as_str().to_owned(),
            status: u.status.as_str().to_owned(),
            user_token: self.token.clone(),
            requirements: FeedRequirements {
                sms: u.requirements.sms,
                email: u.requirements.email,
            },
        }
    }
}

/// Wake-ups per enterprise: a reader waits on [`Onboarding::changes`]; every
/// commit (of this process, or of another one the store hears) signals it. A
/// signal that finds no waiter is kept for the next wait, so none is lost.
/// The second field wakes whoever follows every enterprise (the webhook
/// dispatcher).
#[derive(Default)]
pub struct Changes(Mutex<HashMap<EnterpriseId, Weak<Notify>>>, Notify);

impl Changes {
    /// Resolves after the next change of any enterprise (or at once, if one came
    /// since the last wait).
    pub(crate) async fn any(&self) {
        self.1.notified().await;
    }

    /// Wakes whoever follows every enterprise, without a commit (a replay asked).
    pub(crate) fn wake_any(&self) {
        self.1.notify_one();
    }

    fn watch(&self, enterprise: EnterpriseId) -> Arc<Notify> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(notify) = map.get(&enterprise).and_then(Weak::upgrade) {
            return notify;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let notify = Arc::new(Notify::new());
        map.insert(enterprise, Arc::downgrade(&notify));
        notify
    }
}

impl ChangeNotifier for Changes {
    fn changed(&self, enterprise: EnterpriseId) {
        self.1.notify_one();
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(notify) = map.get(&enterprise).and_then(Weak::upgrade) {
            notify.notify_one();
        }
    }
}

/// The most events one read returns.
pub const MAX_EVENTS_PER_READ: u32 = 1000;

/// How long one minted token serves every message of its user. Tokens are
/// stored valid for 24 h plus this window, so each message's token is good for
/// at least 24 h from the message.
const TOKEN_REUSE: Duration = Duration::seconds(60);

/// A bound on the tokens remembered; past it the memory starts afresh.
const MAX_REMEMBERED_TOKENS: usize = 100_000;

/// Locks that make readers of one enterprise mint one at a time, so that
/// concurrent replays share their tokens instead of each minting its own.
const MINT_LOCKS: usize = 16;

/// Tokens minted recently for feed messages, per enterprise and user.
#[derive(Default)]
pub(crate) struct FeedTokens {
    minted: Mutex<HashMap<(EnterpriseId, String), Minted>>,
    mint_locks: [tokio::sync::Mutex<()>; MINT_LOCKS],
}

#[derive(Clone)]
struct Minted {
    token: FeedToken,
    at: OffsetDateTime,
}

impl FeedTokens {
    fn recent(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Option<FeedToken> {
        let map = self.minted.lock().unwrap_or_else(|e| e.into_inner());
        let minted = map.get(&(enterprise, user_id.to_owned()))?;
        let fresh = now >= minted.at && now - minted.at < TOKEN_REUSE;
        fresh.then(|| minted.token.clone())
    }

    fn remember(&self, enterprise: EnterpriseId, token: &FeedToken, now: OffsetDateTime) {
        let mut map = self.minted.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_REMEMBERED_TOKENS {
            map.retain(|_, m| now >= m.at && now - m.at < TOKEN_REUSE);
            if map.len() >= MAX_REMEMBERED_TOKENS {
                map.clear();
            }
        }
        let key = (enterprise, token.partner_user_id.clone());
        map.insert(
            key,
            Minted {
                token: token.clone(),
                at: now,
            },
        );
    }

    /// Forgets a user's token (it was deactivated): its next message gets none.
    pub(crate) fn forget(&self, enterprise: EnterpriseId, user_id: &str) {
        let mut map = self.minted.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&(enterprise, user_id.to_owned()));
    }
}

/// What a read of the log after some id found.
#[derive(Debug)]
pub enum LogRead<T> {
    /// The next events, in order, with none missing before the first.
    Events(Vec<T>),
    /// Events right after the id were pruned; `oldest` is the oldest still held.
    Pruned { oldest: Option<i64> },
}

/// Why `after` cannot be read, given what the log holds; `None` when it can.
fn history_problem(after: i64, bounds: EventBounds) -> Option<ServiceError> {
    if after < 0 {
        return Some(ServiceError::BadRequest(format!(
            "after must be 0 or more, not {after}"
        )));
    }
    if after > bounds.latest {
        return Some(ServiceError::BadRequest(format!(
            "after {after} is beyond the latest event_id, {}",
            bounds.latest
        )));
    }
    // `after` may be i64::MAX: nothing follows it, and adding one must not overflow.
    let first_needed = after.saturating_add(1);
    match bounds.oldest {
        Some(oldest) if oldest > first_needed => Some(pruned(after, Some(oldest))),
        None if bounds.latest > after => Some(pruned(after, None)),
        _ => None,
    }
}

fn pruned(after: i64, oldest: Option<i64>) -> ServiceError {
    ServiceError::Gone(match oldest {
        Some(oldest) => {
            format!("events after {after} are no longer held; the oldest event held is {oldest}")
        }
        None => format!("events after {after} are no longer held; the log holds none"),
    })
}

impl Onboarding {
    /// A signal that fires after the enterprise's changes commit.
    pub fn changes(&self, enterprise: EnterpriseId) -> Arc<Notify> {
        self.changes.watch(enterprise)
    }

    /// Forwards changes that other processes commit to the database (other nodes,
    /// the admin CLI) to [`Onboarding::changes`], for as long as this service
    /// lives. Stores that cannot hear them do nothing; readers poll as well.
    pub async fn hear_other_processes(&self) {
        let changes: Arc<dyn ChangeNotifier> = self.changes.clone();
        let weak: Weak<dyn ChangeNotifier> = Arc::downgrade(&changes);
        self.store.forward_changes(weak).await;
    }

    /// The latest `event_id` issued to the enterprise (0 before its first event).
    pub async fn latest_event(&self, enterprise: EnterpriseId) -> Result<i64, ServiceError> {
        Ok(self.store.event_bounds(enterprise).await?.latest)
    }

    /// Whether a reader may start after `after`: `BadRequest` beyond the latest
    /// id, `Gone` when the events after it were pruned.
    pub async fn check_history(
        &self,
        enterprise: EnterpriseId,
        after: i64,
    ) -> Result<(), ServiceError> {
        let bounds = self.store.event_bounds(enterprise).await?;
        history_problem(after, bounds).map_or(Ok(()), Err)
    }

    /// Up to `limit` events after `after`, in order. A gap before the first one
    /// (pruned while the reader was away) is `Gone`; when there is nothing to
    /// read, `after` is checked against the log as [`Onboarding::check_history`]
    /// does.
    pub async fn events(
        &self,
        enterprise: EnterpriseId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Event>, ServiceError> {
        match self.read_log(enterprise, after, limit).await? {
            LogRead::Events(events) => Ok(events),
            LogRead::Pruned { oldest } => Err(pruned(after, oldest)),
        }
    }

    async fn read_log(
        &self,
        enterprise: EnterpriseId,
        after: i64,
        limit: u32,
    ) -> Result<LogRead<Event>, ServiceError> {
        let events = self.store.read_events(enterprise, after, limit).await?;
        Ok(match events.first() {
            Some(first) if first.event_id > after.saturating_add(1) => LogRead::Pruned {
                oldest: Some(first.event_id),
            },
            Some(_) => LogRead::Events(events),
            None => match self.check_history(enterprise, after).await {
                Ok(()) => LogRead::Events(events),
                Err(ServiceError::Gone(_)) => LogRead::Pruned { oldest: None },
                Err(e) => return Err(e),
            },
        })
    }

    /// Up to `limit` events after `after`, each with the token its feed message
    /// carries, or where the log was pruned past `after`.
    pub async fn feed_after(
        &self,
        enterprise: EnterpriseId,
        after: i64,
        limit: u32,
    ) -> Result<LogRead<FeedItem>, ServiceError> {
        Ok(match self.read_log(enterprise, after, limit).await? {
            LogRead::Events(events) => LogRead::Events(self.with_tokens(enterprise, events).await),
            LogRead::Pruned { oldest } => LogRead::Pruned { oldest },
        })
    }

    /// Attaches a token to each event sent on the feed: a recent one of the same
    /// user, or a new one (all new ones in one write). If that write fails the
    /// messages still go out, without tokens, rather than stalling the feed.
    async fn with_tokens(&self, enterprise: EnterpriseId, events: Vec<Event>) -> Vec<FeedItem> {
        let shard = enterprise.0.rem_euclid(MINT_LOCKS as i64) as usize;
        let _minting = self.feed_tokens.mint_locks[shard].lock().await;
        let now = self.clock.now();
        let mut tokens: Vec<Option<FeedToken>> = Vec::with_capacity(events.len());
        for event in &events {
            tokens.push(if event.kind.is_user_change() {
                self.feed_tokens
                    .recent(enterprise, event.user.user_id.as_str(), now)
            } else {
                None
            });
        }
        // A remembered token is only handed out while its user is still active:
        // a deactivation (on any node) ends that at once, as for a new token.
        let reused: Vec<String> = events
            .iter()
            .zip(&tokens)
            .filter(|(_, t)| t.is_some())
            .map(|(e, _)| e.user.user_id.to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !reused.is_empty() {
            let active: std::collections::HashSet<String> =
                match self.store.active_among(enterprise, &reused).await {
                    Ok(active) => active.into_iter().collect(),
                    Err(e) => {
                        tracing::warn!(error = %e, "feed tokens could not be checked");
                        std::collections::HashSet::new()
                    }
                };
            for (event, token) in events.iter().zip(tokens.iter_mut()) {
                if token.is_some() && !active.contains(event.user.user_id.as_str()) {
                    self.feed_tokens
                        .forget(enterprise, event.user.user_id.as_str());
                    *token = None;
                }
            }
        }
        let mut fresh: HashMap<String, (UserToken, usize)> = HashMap::new();
        for (i, (event, token)) in events.iter().zip(&tokens).enumerate() {
            if token.is_none() && event.kind.is_user_change() {
                fresh
                    .entry(event.user.user_id.to_string())
                    .or_insert_with(|| (UserToken::generate(self.random.as_ref()), i));
            }
        }
        let expires_at = now + USER_TOKEN_TTL + TOKEN_REUSE;
        let mut order: Vec<(&String, &(UserToken, usize))> = fresh.iter().collect();
        order.sort_by_key(|(_, (_, first))| *first);
        let grants: Vec<TokenGrant> = order
            .iter()
            .map(|(user_id, (token, _))| TokenGrant {
                user_id: (*user_id).clone(),
                hash: token.hash(),
                expires_at,
            })
            .collect();
        let granted = match self.store.grant_feed_tokens(enterprise, &grants, now).await {
            Ok(granted) => granted,
            Err(e) => {
                tracing::warn!(error = %e, "feed tokens could not be minted");
                vec![Grant::UserInactive; grants.len()]
            }
        };
        let mut minted: HashMap<&str, FeedToken> = HashMap::new();
        for ((user_id, (token, _)), grant) in order.iter().zip(granted) {
            if grant == Grant::Granted {
                let token = FeedToken {
                    token: token.expose().to_owned(),
                    expires: rfc3339_millis(expires_at),
                    partner_user_id: (*user_id).clone(),
                };
                self.feed_tokens.remember(enterprise, &token, now);
                minted.insert(user_id.as_str(), token);
            }
        }
        events
            .into_iter()
            .zip(tokens)
            .map(|(event, token)| {
                let token = match (token, event.kind.is_user_change()) {
                    (_, false) => None,
                    (Some(token), true) => Some(token),
                    (None, true) => minted.get(event.user.user_id.as_str()).cloned(),
                };
                FeedItem::new(event, token)
            })
            .collect()
    }

    /// Housekeeping: drops events beyond `retention`, expired tokens and old
    /// outbox messages, by the service's clock.
    pub async fn prune(&self, retention: Retention) -> Result<u64, ServiceError> {
        Ok(self.store.prune(retention, self.clock.now()).await?)
    }

    /// Whether the database answers (`/readyz`).
    pub async fn ready(&self) -> Result<(), ServiceError> {
        Ok(self.store.ping().await?)
    }

    /// The service's clock, read now (feed timestamps).
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(oldest: Option<i64>, latest: i64) -> EventBounds {
        EventBounds { oldest, latest }
    }

    #[test]
    fn history_may_start_anywhere_the_log_still_holds() {
        assert!(history_problem(0, bounds(None, 0)).is_none());
        assert!(history_problem(0, bounds(Some(1), 5)).is_none());
        assert!(history_problem(5, bounds(Some(1), 5)).is_none());
        assert!(history_problem(3, bounds(Some(4), 9)).is_none());
        // Everything pruned but nothing missed: the reader is at the end.
        assert!(history_problem(9, bounds(None, 9)).is_none());
    }

    #[test]
    fn history_past_the_end_or_pruned_is_refused_with_the_reason() {
        let beyond = history_problem(6, bounds(Some(1), 5)).unwrap();
        assert!(matches!(beyond, ServiceError::BadRequest(_)), "{beyond:?}");
        let gone = history_problem(2, bounds(Some(4), 9)).unwrap();
        assert!(
            gone.to_string().contains("the oldest event held is 4"),
            "{gone}"
        );
        let none = history_problem(2, bounds(None, 9)).unwrap();
        assert!(none.to_string().contains("holds none"), "{none}");
        assert!(history_problem(-1, bounds(None, 0)).is_some());
    }
}
