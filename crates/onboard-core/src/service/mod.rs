//! The use cases of the End Users API, one method each: what a handler calls after
//! extracting its input. [`Onboarding`] owns the store, the clock, the randomness,
//! the delivery channels and the review settings; it turns storage outcomes into
//! [`ServiceError`]s that the HTTP layer maps one to one.
//!
//! The methods live by topic: [`users`] (register, read, list, deactivate),
//! [`verify`] (codes and reviews), [`tokens`] (user auth tokens), [`log`] (events
//! and the outbox).

mod cursor;
mod feed;
mod idempotency;
pub use cursor::Cursor;
pub use idempotency::{IdempotencyKey, MAX_IDEMPOTENCY_KEY, Retry};
mod log;
mod quota;
pub use feed::{Changes, FeedItem, LogRead, MAX_EVENTS_PER_READ};
pub use quota::Quotas;

mod tokens;
mod users;
mod verify;
mod webhooks;
pub use webhooks::{
    EndpointInput, MAX_ENDPOINTS, SendResult, WebhookRequest, WebhookSender, WebhookSettings,
};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use onboard_api::FieldProblem;
use time::{Duration, OffsetDateTime};

use crate::clock::Clock;
use crate::delivery::Delivery;
pub use crate::events::ChangeNotifier;
use crate::lifecycle::{Jurisdictions, Refusal, ReviewPolicy};
use crate::random::{OsRandom, Random};
use crate::secret::KeyHash;
use crate::store::{Enterprise, Store, StoreError};
use crate::user::UserSummary;
use crate::values::UserId;

/// Why a use case did not succeed; each variant is one HTTP status (CONTRACT §1).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid token. check authorization header.")]
    Unauthorized,
    #[error("{}", summarise(.0))]
    Invalid(Vec<FieldProblem>),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A well-formed request that cannot be carried out as asked (422).
    #[error("{0}")]
    Unprocessable(String),
    /// The user's state forbids the request (422), or it is throttled (429).
    #[error("{0}")]
    Refused(Refusal),
    /// A code could not be handed to its delivery channel (502).
    #[error("{0}")]
    DeliveryFailed(String),
    /// Over a per-key budget (429, with the seconds to wait).
    #[error("{why}")]
    Throttled { why: String, retry_after: u64 },
    /// Asked for history the log no longer holds (410).
    #[error("{0}")]
    Gone(String),
    #[error("the database is unavailable; try again shortly")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

fn summarise(problems: &[FieldProblem]) -> String {
    let Some(first) = problems.first() else {
        return "the request is invalid".into();
    };
    match problems.len() - 1 {
        0 => format!("{} {}", first.field, first.message),
        1 => format!("{} {} (and 1 more problem)", first.field, first.message),
        n => format!("{} {} (and {n} more problems)", first.field, first.message),
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(why) => ServiceError::Unavailable(why),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

/// One page of users and the cursor of the next, if there may be one.
#[derive(Debug)]
pub struct UserPage {
    pub users: Vec<UserSummary>,
    pub next: Option<Cursor>,
}

/// The operator's review settings (CONTRACT §4).
#[derive(Debug, Clone, Default)]
pub struct Review {
    pub policy: ReviewPolicy,
    pub unsupported: Jurisdictions,
}

#[derive(Clone)]
pub struct Onboarding {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    review: Review,
    delivery: Delivery,
    /// Wakes the readers of the log after each commit.
    changes: Arc<Changes>,
    feed_tokens: Arc<feed::FeedTokens>,
    cursor_key: Arc<cursor::CursorKey>,
    quotas: Quotas,
    rules: crate::registration::Rules,
    buckets: Arc<quota::AllBuckets>,
    /// Recently seen API keys: most requests then skip a database round trip.
    keys: Arc<KeyCache>,
    /// Recently refused keys: a client repeating an unknown key is refused
    /// without a database round trip.
    refused: Arc<RefusedKeys>,
    /// How webhooks are sent, when this server sends them.
    webhooks: Option<(Arc<dyn WebhookSender>, WebhookSettings)>,
}

/// API key hashes that recently authenticated, and their enterprise. Keys are
/// never revoked or reassigned, so an entry cannot go stale; the age limit only
/// bounds how long one is kept.
#[derive(Default)]
struct KeyCache(Mutex<HashMap<KeyHash, (Enterprise, OffsetDateTime)>>);

impl KeyCache {
    /// Entries older than this are looked up again.
    const MAX_AGE: Duration = Duration::minutes(5);
    /// A bound on memory: past it the cache starts afresh.
    const MAX_ENTRIES: usize = 10_000;

    fn get(&self, hash: &KeyHash, now: OffsetDateTime) -> Option<Enterprise> {
        let cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (enterprise, seen) = cache.get(hash)?;
        (now - *seen < Self::MAX_AGE).then(|| enterprise.clone())
    }

    fn put(&self, hash: KeyHash, enterprise: Enterprise, now: OffsetDateTime) {
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= Self::MAX_ENTRIES {
            cache.clear();
        }
        cache.insert(hash, (enterprise, now));
    }
}

/// Hashes of keys that were recently refused, each for [`RefusedKeys::TTL`]: short,
/// so that a key created a moment later (on any node) is refused for seconds at
/// most. Bounded in memory: when full, expired entries go, and if none had
/// expired the cache starts afresh (costing only database round trips).
#[derive(Default)]
struct RefusedKeys(Mutex<HashMap<KeyHash, std::time::Instant>>);

impl RefusedKeys {
    const TTL: std::time::Duration = std::time::Duration::from_secs(2);
    const MAX_ENTRIES: usize = 4096;

    fn contains(&self, hash: &KeyHash) -> bool {
        let refused = self.0.lock().unwrap_or_else(|e| e.into_inner());
        refused.get(hash).is_some_and(|at| at.elapsed() < Self::TTL)
    }

    fn insert(&self, hash: KeyHash) {
        let mut refused = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if refused.len() >= Self::MAX_ENTRIES {
            refused.retain(|_, at| at.elapsed() < Self::TTL);
            if refused.len() >= Self::MAX_ENTRIES {
                refused.clear();
            }
        }
        refused.insert(hash, std::time::Instant::now());
    }
}

impl Onboarding {
    /// Auto review, the OS CSPRNG, and both channels to the outbox.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Onboarding {
            delivery: Delivery::outbox(store.clone()),
            store,
            clock,
            random: Arc::new(OsRandom),
            review: Review::default(),
            changes: Arc::default(),
            feed_tokens: Arc::default(),
            cursor_key: Arc::default(),
            quotas: Quotas::default(),
            rules: crate::registration::Rules::default(),
            buckets: Arc::default(),
            keys: Arc::default(),
            refused: Arc::default(),
            webhooks: None,
        }
    }

    pub fn with_random(mut self, random: Arc<dyn Random>) -> Self {
        self.random = random;
        self
    }

    pub fn with_review(mut self, review: Review) -> Self {
        self.review = review;
        self
    }

    pub fn with_rules(mut self, rules: crate::registration::Rules) -> Self {
        self.rules = rules;
        self
    }

    pub fn with_quotas(mut self, quotas: Quotas) -> Self {
        self.quotas = quotas;
        self
    }

    pub fn with_delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    /// The enterprise a bearer API key belongs to.
    pub async fn authenticate(&self, api_key: &str) -> Result<Enterprise, ServiceError> {
        let hash = KeyHash::of(api_key);
        let now = self.clock.now();
        if let Some(enterprise) = self.keys.get(&hash, now) {
            return Ok(enterprise);
        }
        if self.refused.contains(&hash) {
            return Err(ServiceError::Unauthorized);
        }
        let Some(enterprise) = self.store.enterprise_by_key(&hash).await? else {
            self.refused.insert(hash);
            return Err(ServiceError::Unauthorized);
        };
        self.keys.put(hash, enterprise.clone(), now);
        Ok(enterprise)
    }

    /// The enterprise an operator names on the command line.
    pub async fn enterprise_named(&self, name: &str) -> Result<Enterprise, ServiceError> {
        self.store
            .enterprise_by_name(name)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("No enterprise is named {name:?}.")))
    }
}

fn user_not_found(user_id: &str) -> ServiceError {
    NoSuchUser::User.error(user_id)
}

/// How a route says that a `user_id` names nobody (each route has its sentence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSuchUser {
    /// Reading, verifying, the outbox: "No user with user_id … exists."
    User,
    /// Deactivation, in the vendor's words.
    Account,
    /// Minting tokens: nothing was minted.
    TokenUser,
}

impl NoSuchUser {
    pub fn error(self, user_id: &str) -> ServiceError {
        ServiceError::NotFound(match self {
            NoSuchUser::User => format!("No user with user_id {user_id} exists."),
            NoSuchUser::Account => "The account does not exist to be disabled.".into(),
            NoSuchUser::TokenUser => {
                format!("No user with user_id {user_id} exists; no token was minted.")
            }
        })
    }

    /// A `user_id` from a path, query or body, parsed: one that cannot be an id
    /// names nobody, and is answered as such.
    pub fn parse(self, raw: &str) -> Result<UserId, ServiceError> {
        UserId::parse(raw).map_err(|_| self.error(raw))
    }
}

#[cfg(test)]
mod refused_keys_tests {
    use super::*;

    #[test]
    fn refused_keys_are_remembered_briefly_and_the_cache_stays_bounded() {
        let refused = RefusedKeys::default();
        let key = KeyHash::of("onb_unknown");
        assert!(!refused.contains(&key));
        refused.insert(key.clone());
        assert!(refused.contains(&key));
        assert!(!refused.contains(&KeyHash::of("onb_other")));
        for i in 0..RefusedKeys::MAX_ENTRIES * 3 {
            refused.insert(KeyHash::of(&format!("onb_guess_{i}")));
        }
        let held = refused.0.lock().unwrap().len();
        assert!(held <= RefusedKeys::MAX_ENTRIES, "{held} entries");
        // An entry older than the TTL no longer refuses.
        let stale = KeyHash::of("onb_created_later");
        let long_ago = std::time::Instant::now()
            .checked_sub(RefusedKeys::TTL)
            .expect("the monotonic clock runs longer than the TTL");
        refused.0.lock().unwrap().insert(stale.clone(), long_ago);
        assert!(!refused.contains(&stale));
    }
}
