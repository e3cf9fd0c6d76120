//! The use cases of the End Users API, one method each: what a handler calls after
//! extracting its input. [`Onboarding`] owns the store, the clock, the randomness,
//! the delivery channels and the review settings; it turns storage outcomes into
//! [`ServiceError`]s that the HTTP layer maps one to one.
//!
//! The methods live by topic:
//! - [`users`]: register, read, list, deactivate; [`cursor`]: the list's sealed
//!   cursors.
//! - [`verify`]: codes and reviews; [`tokens`]: user auth tokens.
//! - [`feed`]: reading the event log, for the REST events route and the feed.
//! - [`log`]: the outbox.
//! - [`edd`]: enhanced due diligence and documents.
//! - [`keys`]: authentication and key revocation on every node; [`key_admin`]:
//!   creating, revoking, rotating keys; [`operators`]: operator accounts.
//! - [`idempotency`]: safe retries under an `Idempotency-Key`.
//! - [`quota`]: per-enterprise budgets for bulk work.
//! - [`webhooks`]: the endpoint API; [`webhook_dispatch`]: the dispatcher that
//!   delivers to them.
//! - [`console`]: the operator console's sessions and reads.

mod console;
mod cursor;
mod edd;
pub use edd::{MAX_LIST, Upload};
mod feed;
mod idempotency;
pub use console::{
    ConsoleSession, ConsoleUser, LOCKOUT, LiveCursor, LiveEvent, SESSION_IDLE, SignIn,
    TIMELINE_EVENTS,
};
pub use cursor::Cursor;
pub use idempotency::{IdempotencyKey, MAX_IDEMPOTENCY_KEY, Retry};
mod log;
mod quota;
pub use feed::{Changes, FeedItem, LogRead, MAX_EVENTS_PER_READ};
pub use quota::Quotas;

mod tokens;
mod users;
mod verify;
mod webhook_dispatch;
mod webhooks;
pub use webhooks::{
    EndpointInput, MAX_ENDPOINTS, SendResult, WebhookRequest, WebhookSender, WebhookSettings,
};
// API keys and operators (CONTRACT §8).
mod key_admin;
mod keys;
mod operators;
pub use key_admin::{CreatedKey, RotatedKey};
pub use keys::{KEY_POLL, KeyAuth, KeyEnds};
pub use operators::Actor;

use std::sync::Arc;

use onboard_api::FieldProblem;

use crate::clock::Clock;
use crate::delivery::Delivery;
pub use crate::events::ChangeNotifier;
use crate::lifecycle::{Jurisdictions, Refusal, ReviewPolicy};
use crate::random::{OsRandom, Random};
use crate::store::{Enterprise, Store, StoreError};
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
    /// The operator named may not do this (disabled, or not an admin).
    #[error("{0}")]
    Forbidden(String),
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
    /// Storing this would go past a storage quota (413).
    #[error("{0}")]
    QuotaExceeded(String),
    #[error("the database is unavailable; try again shortly")]
    Unavailable(String),
    /// Writes cannot commit for want of disk space (503; CONTRACT §13). The
    /// store logs it once per episode, not per request.
    #[error(
        "the database's disk is full; writes are refused until the operator frees space, \
         try again later"
    )]
    DiskFull,
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
            StoreError::DiskFull(_) => ServiceError::DiskFull,
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

/// One page of users and the cursor of the next, if there may be one.
#[derive(Debug)]
pub struct UserPage {
    /// Each user's list shape (`EndUserSummary`) as JSON.
    pub users: Vec<String>,
    pub next: Option<Cursor>,
}

/// The operator's review settings (CONTRACT §4).
#[derive(Debug, Clone, Default)]
pub struct Review {
    pub policy: ReviewPolicy,
    pub unsupported: Jurisdictions,
}

/// Onboard's use cases. Cloning it is one reference count: every request's handler
/// holds a copy.
#[derive(Clone)]
pub struct Onboarding(Arc<Dependencies>);

/// What the use cases run on; read through [`Onboarding`] (it dereferences here),
/// set through its `with_*` builders before the service is shared.
#[derive(Clone)]
pub struct Dependencies {
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
    /// Uploads of one enterprise are checked against its quota one at a time.
    upload_turns: Arc<quota::UploadTurns>,
    /// Recently seen API keys: most requests then skip a database round trip.
    keys: Arc<keys::KeyCache>,
    /// Recently refused keys: a client repeating an unknown key is refused
    /// without a database round trip.
    refused: Arc<keys::RefusedKeys>,
    /// The keys that ended, as the key watcher last published them.
    key_watch: Arc<keys::KeyWatch>,
    /// How webhooks are sent, when this server sends them.
    webhooks: Option<(Arc<dyn WebhookSender>, WebhookSettings)>,
    deliveries: Arc<crate::webhooks::DeliveryCounts>,
    /// The EDD questionnaires (CONTRACT §7): shipped, or the operator's.
    edd: Arc<crate::edd::Questionnaires>,
}

impl std::ops::Deref for Onboarding {
    type Target = Dependencies;

    fn deref(&self) -> &Dependencies {
        &self.0
    }
}

impl Onboarding {
    /// Auto review, the OS CSPRNG, and both channels to the outbox.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Onboarding(Arc::new(Dependencies {
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
            upload_turns: Arc::default(),
            keys: Arc::default(),
            refused: Arc::default(),
            webhooks: None,
            deliveries: Arc::default(),
            key_watch: Arc::default(),
            edd: Arc::default(),
        }))
    }

    /// The dependencies, to change while building (copied if already shared).
    fn dependencies(&mut self) -> &mut Dependencies {
        Arc::make_mut(&mut self.0)
    }

    pub fn with_edd(mut self, questionnaires: crate::edd::Questionnaires) -> Self {
        self.dependencies().edd = Arc::new(questionnaires);
        self
    }

    pub fn with_random(mut self, random: Arc<dyn Random>) -> Self {
        self.dependencies().random = random;
        self
    }

    pub fn with_review(mut self, review: Review) -> Self {
        self.dependencies().review = review;
        self
    }

    pub fn with_rules(mut self, rules: crate::registration::Rules) -> Self {
        self.dependencies().rules = rules;
        self
    }

    pub fn with_quotas(mut self, quotas: Quotas) -> Self {
        self.dependencies().quotas = quotas;
        self
    }

    pub fn with_delivery(mut self, delivery: Delivery) -> Self {
        self.dependencies().delivery = delivery;
        self
    }

    /// Seals what an earlier release kept in the clear (see
    /// [`Store::seal_legacy_rows`]); returns how many users it sealed.
    pub async fn seal_legacy_rows(&self) -> Result<u64, ServiceError> {
        Ok(self.store.seal_legacy_rows().await?)
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
