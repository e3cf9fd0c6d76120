//! The storage port (STYLE habit 7): one async trait, one method per use case.
//! Backends live in their own crates and translate driver errors into
//! [`StoreError`] there; nothing above this trait names a driver.

mod console;
mod edd;
mod rows;

pub use console::{ConsoleEdd, ConsoleFilter, ConsoleListed, Lockout, SessionRecord};

use async_trait::async_trait;
use time::OffsetDateTime;

pub use edd::{
    CHUNK_SIZE, ChunkSource, DocumentsStored, EddAnswering, EddAnswers, EddOpening, EddReviewing,
    NewDocument,
};
pub use rows::{EventRow, Rendered, SUMMARY_COLUMNS, UserRow, from_micros, micros, render};

use std::sync::Weak;

use crate::access::{
    ApiKeyId, ApiKeyRecord, NewApiKey, Operator, OperatorChange, Revocation, Rotation,
};
use crate::events::{ChangeNotifier, Event, Retention};
use crate::lifecycle::{Decision, Refusal};
use crate::secret::KeyHash;
use crate::user::{AccountRole, Status, User, UserSummary};
use crate::verification::{Channel, CodeRecord};
use crate::webhooks::{Attempt, AttemptStatus, Backlog, Endpoint, EndpointChange, Progress};

pub use crate::tenant::{Enterprise, EnterpriseId};

/// What went wrong in storage, in terms the domain can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule refused the write (duplicate `user_id`, enterprise name…).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The advisor named by a new client is missing, deactivated or not an advisor
    /// (checked inside the write, so a concurrent deactivation cannot slip through).
    #[error("advisor unavailable")]
    AdvisorUnavailable,
    /// The database cannot be reached or is not answering.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or corrupt data. Logged, never shown to clients.
    #[error("storage failure: {0}")]
    Internal(String),
}

/// Filters of `GET /v1/enterprise/users` (CONTRACT §2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserFilter {
    pub role: Option<AccountRole>,
    pub status: Option<Status>,
}

/// A user in list order: `position` is the keyset cursor of the next page.
#[derive(Debug, Clone)]
pub struct Listed {
    pub position: i64,
    pub user: UserSummary,
}

/// A user in list order as its list-shape JSON (`EndUserSummary`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedJson {
    pub position: i64,
    pub json: String,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Answers when the database is reachable (`/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Forwards changes committed by *other* processes sharing the database to
    /// `notifier`, for as long as it lives. Backends that cannot hear them do
    /// nothing; the feed's polling finds those changes anyway, only later.
    async fn forward_changes(&self, notifier: Weak<dyn ChangeNotifier>) {
        let _ = notifier;
    }

    /// Creates an enterprise whose API key hashes to `key_hash`.
    async fn create_enterprise(
        &self,
        name: &str,
        key_hash: &KeyHash,
        now: OffsetDateTime,
    ) -> Result<Enterprise, StoreError>;

    async fn list_enterprises(&self) -> Result<Vec<Enterprise>, StoreError>;

    async fn enterprise_by_key(&self, key_hash: &KeyHash)
    -> Result<Option<Enterprise>, StoreError>;

    async fn enterprise_by_name(&self, name: &str) -> Result<Option<Enterprise>, StoreError>;

    /// Stores a new user durably, with its `user.registered` event (whose cause is
    /// `cause`) and, if given, its first code, in one transaction: when this
    /// returns, all of it survives a crash.
    /// `Conflict` when the `user_id` was ever used in this enterprise;
    /// `AdvisorUnavailable` when `advisor_user_id` names no active advisor.
    async fn insert_user(
        &self,
        enterprise: EnterpriseId,
        user: &User,
        cause: &str,
        first_code: Option<(Channel, &CodeRecord)>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Runs a lifecycle decision on an active user under the write lock: loads the
    /// user and its code on `channel`, calls `decide`, and writes what it decided
    /// (code, status, requirements and a `user.updated` event) atomically.
    /// `None` when there is no such active user.
    async fn decide(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        channel: Option<Channel>,
        now: OffsetDateTime,
        decide: Decide<'_>,
    ) -> Result<Option<Decided>, StoreError>;

    /// Undoes a code whose delivery failed: the code sent at `failed` is replaced
    /// by `previous` (the code it had replaced, still usable) or removed, so that a
    /// new one can be requested at once. A newer code is left alone.
    async fn restore_code(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        channel: Channel,
        failed: OffsetDateTime,
        previous: Option<&CodeRecord>,
    ) -> Result<(), StoreError>;

    /// An active user of this enterprise.
    async fn find_user(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
    ) -> Result<Option<User>, StoreError>;

    /// An active user of this enterprise as its full wire JSON (`EndUser`), the
    /// same text [`User::to_wire`] gives for [`Store::find_user`]'s user.
    async fn user_json(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
    ) -> Result<Option<String>, StoreError>;

    /// [`Store::list_users`], each user as its list-shape JSON, the same text
    /// `UserSummary::to_wire` gives.
    async fn list_users_json(
        &self,
        enterprise: EnterpriseId,
        filter: UserFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ListedJson>, StoreError>;

    /// Up to `limit` active users after `after` in list order (oldest first).
    async fn list_users(
        &self,
        enterprise: EnterpriseId,
        filter: UserFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Listed>, StoreError>;

    /// Deactivates an active user and appends its `user.deactivated` event.
    async fn deactivate_user(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<Deactivation, StoreError>;

    async fn append_outbox(&self, message: &OutboxEntry) -> Result<(), StoreError>;

    /// Stored messages, newest first, optionally of one enterprise and one user.
    async fn list_outbox(
        &self,
        enterprise: Option<EnterpriseId>,
        user_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Stores the hashes of new user tokens, all or none.
    async fn mint_tokens(
        &self,
        enterprise: EnterpriseId,
        grants: &[TokenGrant],
        now: OffsetDateTime,
    ) -> Result<Minting, StoreError>;

    /// Stores token hashes for the feed, best effort: one write for a batch of
    /// events, one outcome per grant (a user no longer active gets no token, and
    /// that event's message carries none).
    async fn grant_feed_tokens(
        &self,
        enterprise: EnterpriseId,
        grants: &[TokenGrant],
        now: OffsetDateTime,
    ) -> Result<Vec<Grant>, StoreError>;

    /// Which of `user_ids` are active users of the enterprise (one read).
    async fn active_among(
        &self,
        enterprise: EnterpriseId,
        user_ids: &[String],
    ) -> Result<Vec<String>, StoreError>;

    /// The active user an unexpired token belongs to.
    async fn user_by_token(
        &self,
        token_hash: &KeyHash,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError>;

    /// Up to `limit` events with `event_id > after`, in `event_id` order.
    async fn read_events(
        &self,
        enterprise: EnterpriseId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError>;

    /// The oldest event still held (`None` when none is) and the latest id issued.
    async fn event_bounds(&self, enterprise: EnterpriseId) -> Result<EventBounds, StoreError>;

    /// The server secret called `name`: the one already stored, or else
    /// `candidate`, stored now. Every process sharing the database gets the same.
    async fn server_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError>;

    /// Deletes events beyond `retention`, expired user tokens and idempotency
    /// keys older than [`IDEMPOTENCY_KEPT`]; returns how many events went.
    async fn prune(&self, retention: Retention, now: OffsetDateTime) -> Result<u64, StoreError>;

    // --- API keys and operators (CONTRACT §8) ---

    /// Stores a new key of an existing enterprise and moves the key generation.
    async fn insert_api_key(
        &self,
        key: &NewApiKey,
        now: OffsetDateTime,
    ) -> Result<ApiKeyRecord, StoreError>;

    /// The enterprise's keys, oldest first, revoked and expired ones included.
    async fn list_api_keys(
        &self,
        enterprise: EnterpriseId,
    ) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// The key that hashes to `hash` and its enterprise, whatever its state.
    async fn api_key_by_hash(
        &self,
        hash: &KeyHash,
    ) -> Result<Option<(Enterprise, ApiKeyRecord)>, StoreError>;

    /// Revokes a key of the enterprise (refused when unknown or already
    /// revoked) and moves the key generation, in one transaction.
    async fn revoke_api_key(
        &self,
        enterprise: EnterpriseId,
        id: &ApiKeyId,
        by: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Revocation, StoreError>;

    /// Stores `successor` and makes the key `id` expire at `old_expires_at` (or
    /// its own earlier expiry), in one transaction that moves the key
    /// generation. Refused when the key is unknown, revoked, expired at `now`
    /// or already rotated.
    async fn rotate_api_key(
        &self,
        id: &ApiKeyId,
        successor: &NewApiKey,
        old_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError>;

    /// Records a use of the key, unless one was recorded less than a minute
    /// before `now` (so a busy key costs one write a minute, cluster-wide).
    async fn touch_api_key(&self, id: &ApiKeyId, now: OffsetDateTime) -> Result<(), StoreError>;

    /// The key generation: moves with every change of any key.
    async fn key_generation(&self) -> Result<i64, StoreError>;

    /// The keys whose last change came after `generation`, and the generation
    /// they bring the reader to.
    async fn api_keys_changed_since(
        &self,
        generation: i64,
    ) -> Result<(Vec<ApiKeyRecord>, i64), StoreError>;

    /// Stores a new operator; `Conflict` when the name is taken.
    async fn insert_operator(&self, operator: &Operator) -> Result<(), StoreError>;

    /// Every operator, by name.
    async fn list_operators(&self) -> Result<Vec<Operator>, StoreError>;

    async fn operator_by_name(&self, name: &str) -> Result<Option<Operator>, StoreError>;

    /// Disables an operator from `now` on.
    async fn disable_operator(
        &self,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<OperatorChange, StoreError>;

    /// Replaces an operator's password hash (a disabled operator's too: it
    /// stays disabled).
    async fn set_operator_password(
        &self,
        name: &str,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> Result<OperatorChange, StoreError>;
    // --- Idempotency keys (CONTRACT §8) ---

    /// Claims `key` for the request about to run, unless an answer kept less than
    /// [`IDEMPOTENCY_KEPT`] ago or a claim whose lease runs past `now` holds it.
    /// A claim is leased until `lease_until`, so a node that dies mid-request
    /// does not hold the key for good.
    async fn claim_idempotency_key(
        &self,
        enterprise: EnterpriseId,
        key: &str,
        request: &RequestTarget,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Claim, StoreError>;

    /// Keeps the first answer to a claimed key.
    async fn keep_idempotent_answer(
        &self,
        enterprise: EnterpriseId,
        key: &str,
        answer: &KeptAnswer,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Gives up a claim that got no answer worth keeping (a 5xx, say), so that a
    /// retry runs again. A kept answer is left alone.
    async fn release_idempotency_key(
        &self,
        enterprise: EnterpriseId,
        key: &str,
    ) -> Result<(), StoreError>;

    // --- Outgoing webhooks (CONTRACT §9) ---

    /// Stores a new endpoint; it starts after the enterprise's latest event (its
    /// `cursor` is set here, in the same statement). Returns it as stored.
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<Endpoint, StoreError>;

    async fn endpoints(&self, enterprise: EnterpriseId) -> Result<Vec<Endpoint>, StoreError>;

    async fn endpoint(
        &self,
        enterprise: EnterpriseId,
        id: &str,
    ) -> Result<Option<Endpoint>, StoreError>;

    /// Applies an enterprise's change; `None` when it has no such endpoint.
    async fn change_endpoint(
        &self,
        enterprise: EnterpriseId,
        id: &str,
        change: &EndpointChange,
    ) -> Result<Option<Endpoint>, StoreError>;

    /// Deletes an endpoint and its attempts; `false` when there was none.
    async fn delete_endpoint(&self, enterprise: EnterpriseId, id: &str)
    -> Result<bool, StoreError>;

    /// Leases up to `limit` endpoints that have a message due at `now` and no
    /// live lease, to `owner` until `until`. Two callers never lease one endpoint.
    async fn lease_endpoints(
        &self,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Endpoint>, StoreError>;

    /// Records where a leased endpoint stands (and the attempt that got it
    /// there, if any), renewing the lease to `until`. `false` when `owner` no
    /// longer holds the lease (nothing was written).
    async fn record_progress(
        &self,
        owner: &str,
        endpoint_id: &str,
        progress: &Progress,
        attempt: Option<&Attempt>,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Gives a lease back.
    async fn release_endpoint(&self, owner: &str, endpoint_id: &str) -> Result<(), StoreError>;

    /// Every enabled endpoint's backlog: events not yet handled, and when the
    /// oldest of them was committed.
    async fn webhook_backlog(&self) -> Result<Vec<Backlog>, StoreError>;

    /// An endpoint's attempts, newest first, before `before` (a position).
    async fn attempts(
        &self,
        enterprise: EnterpriseId,
        endpoint_id: &str,
        status: Option<AttemptStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Attempt>, StoreError>;

    // ---- Enhanced due diligence and documents (CONTRACT §7) ----

    /// Opens a request of `form` for an active user, with its `edd.requested`
    /// event, unless the user already has one open (then nothing is written).
    async fn open_edd_request(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        form: crate::edd::Form,
        cause: &str,
        now: OffsetDateTime,
    ) -> Result<EddOpening, StoreError>;

    /// Requests in id order after `after`, at most `limit`, optionally of one user.
    async fn list_edd_requests(
        &self,
        enterprise: EnterpriseId,
        user_id: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<crate::edd::EddRequest>, StoreError>;

    /// The user's open request (not yet reviewed), if any.
    async fn open_edd_request_of(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
    ) -> Result<Option<crate::edd::EddRequest>, StoreError>;

    /// Records the answers of request `request_id` if it still takes answers:
    /// its status becomes IN_REVIEW when every file they name is stored, else
    /// PARTIAL_SUBMISSION; one `edd.updated` event.
    async fn record_edd_answers(
        &self,
        enterprise: EnterpriseId,
        request_id: i64,
        answers: &EddAnswers,
        now: OffsetDateTime,
    ) -> Result<EddAnswering, StoreError>;

    /// Marks a request REVIEWED, with an `edd.updated` event naming the
    /// operator and their note.
    async fn review_edd_request(
        &self,
        enterprise: EnterpriseId,
        request_id: i64,
        by: &crate::access::Attribution,
        now: OffsetDateTime,
    ) -> Result<EddReviewing, StoreError>;

    /// Stores every document of one upload for an active user, or none: bytes,
    /// metadata and one `document.uploaded` event each, in one transaction. A
    /// PARTIAL_SUBMISSION request whose named files are then all stored moves
    /// to IN_REVIEW in the same transaction, with its `edd.updated` event.
    async fn store_documents(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        documents: Vec<NewDocument>,
        now: OffsetDateTime,
    ) -> Result<DocumentsStored, StoreError>;

    /// Documents' metadata in id order after `after`, at most `limit`,
    /// optionally of one user.
    async fn list_documents(
        &self,
        enterprise: EnterpriseId,
        user_id: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<crate::edd::Document>, StoreError>;

    /// One document's metadata.
    async fn document(
        &self,
        enterprise: EnterpriseId,
        id: i64,
    ) -> Result<Option<crate::edd::Document>, StoreError>;

    /// Piece `seq` (from 0) of a document's bytes; `None` past the last.
    async fn document_chunk(
        &self,
        enterprise: EnterpriseId,
        id: i64,
        seq: i64,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    // ---- The operator console (CONTRACT §10) ----

    async fn insert_console_session(&self, session: &SessionRecord) -> Result<(), StoreError>;

    /// The session whose token hashes to `hash`, expired or not.
    async fn console_session(&self, hash: &KeyHash) -> Result<Option<SessionRecord>, StoreError>;

    /// Moves a session's last use to `now` and its expiry to `expires_at`.
    async fn touch_console_session(
        &self,
        hash: &KeyHash,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    async fn delete_console_session(&self, hash: &KeyHash) -> Result<(), StoreError>;

    /// Until when sign-ins of `name` are refused, if they are at `now`.
    async fn sign_in_locked_until(
        &self,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError>;

    /// Counts a failed sign-in of `name` (known or not) under `rule`, in one
    /// write transaction; returns the lock's end when this failure locked it.
    async fn record_sign_in_failure(
        &self,
        name: &str,
        rule: Lockout,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError>;

    /// Forgets the failures of `name` (after a successful sign-in).
    async fn clear_sign_in_failures(&self, name: &str) -> Result<(), StoreError>;

    /// Active users of every enterprise after `after`, in list order.
    async fn console_users(
        &self,
        filter: &ConsoleFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ConsoleListed>, StoreError>;

    /// Active `PENDING` users with no requirement left, oldest first.
    async fn review_queue(&self, limit: u32) -> Result<Vec<ConsoleListed>, StoreError>;

    /// The latest `limit` events about one user, newest first.
    async fn user_events(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError>;

    /// EDD requests with their answers: one user's (any status), or every
    /// enterprise's requests not yet reviewed, oldest first.
    async fn console_edd(
        &self,
        user: Option<(EnterpriseId, &str)>,
        limit: u32,
    ) -> Result<Vec<ConsoleEdd>, StoreError>;

    /// The enterprise and active user an unexpired user token belongs to.
    async fn token_owner(
        &self,
        token_hash: &KeyHash,
        now: OffsetDateTime,
    ) -> Result<Option<(EnterpriseId, User)>, StoreError>;
}

/// How long an idempotency key's first answer is kept.
pub const IDEMPOTENCY_KEPT: time::Duration = time::Duration::hours(24);

/// The method and path (with its query) a request was made to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTarget {
    pub method: String,
    pub path: String,
}

/// What [`Store::claim_idempotency_key`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is this request's: run it, then keep or release its answer.
    Claimed,
    /// Another request with the key is running (its lease is live).
    InFlight,
    /// The first request's answer.
    Answered(KeptAnswer),
}

/// A first answer, kept for retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptAnswer {
    pub request: RequestTarget,
    /// SHA-256 of the request body, lowercase hex.
    pub fingerprint: String,
    pub status: u16,
    pub body: String,
}

/// What [`Store::deactivate_user`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deactivation {
    Deactivated,
    /// There was no active user of that id to deactivate.
    NoActiveUser,
}

/// What [`Store::mint_tokens`] did: all of the batch, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Minting {
    Minted,
    /// Nothing was stored: this id (the first such) is no active user of the
    /// enterprise.
    UnknownUser(String),
}

/// What [`Store::grant_feed_tokens`] did with one grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    Granted,
    /// The user is not active (any more): no token was stored.
    UserInactive,
}

/// A lifecycle rule run by [`Store::decide`] inside the write transaction.
pub type Decide<'a> = &'a (dyn Fn(&User, Option<&CodeRecord>) -> Decision + Send + Sync);

/// What [`Store::decide`] did: the rule's answer and the user after the write.
#[derive(Debug, Clone)]
pub struct Decided {
    pub outcome: Result<(), Refusal>,
    pub user: User,
    /// The code on the channel as it was before the decision.
    pub previous_code: Option<CodeRecord>,
}

/// The range of the event log an enterprise can still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventBounds {
    pub oldest: Option<i64>,
    pub latest: i64,
}

/// A stored message of the outbox channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub enterprise: EnterpriseId,
    pub user_id: String,
    pub channel: Channel,
    pub to: String,
    pub code: String,
    pub sent_at: OffsetDateTime,
}

/// The hash of a token to store for a user, and when it expires.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub user_id: String,
    pub hash: KeyHash,
    pub expires_at: OffsetDateTime,
}
