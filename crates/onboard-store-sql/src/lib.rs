//! Onboard's storage port ([`onboard_core::store::Store`]) written once: every
//! statement, every row mapping and the order of writes of each use case, for
//! every database backend. Start with [`SqlStore`], then [`Engine`].
//!
//! A backend crate implements [`Engine`] (run a statement, begin and commit a
//! write transaction, map its driver's errors) and declares its [`Dialect`] (row
//! locks, notify-at-commit); it keeps its own migrations. Statements are written
//! in the SQL both SQLite and PostgreSQL accept, with `?` placeholders.
//!
//! - [`engine`]: the engine trait, parameter and column values, the dialect.
//! - `users`: users and their codes; the lifecycle's read-decide-write.
//! - `events`: the append-only event log, its bounds and pruning.
//! - `tokens`: user tokens and the outbox.
//! - `access`: API keys, the key generation, and operators.
//! - `edd`: EDD requests, answers and documents (stored in pieces).
//! - `console`: the operator console's sessions, failed sign-ins and the reads
//!   across every enterprise.

mod access;
mod batch;
mod console;
mod edd;
pub mod engine;
/// Migrations written once for both engines, in SQL that both accept. Each engine
/// lists them among its own migrations, at its own next version number, so a new
/// table is not written twice; an engine keeps its own files only where its SQL
/// must differ.
pub mod shared_migrations {
    /// The console's sessions and sign-in lockout, and its two read indexes.
    pub const CONSOLE: &str = include_str!("../migrations/console.sql");
    /// Each user's wire JSON, rendered when its row is written.
    pub const RENDERED_USERS: &str = include_str!("../migrations/rendered_users.sql");
    /// Every shared migration, in the order each engine lists them after its own.
    pub const ALL: &[&str] = &[CONSOLE, RENDERED_USERS];
}
mod events;
mod idempotency;
mod lookups;
mod tokens;
mod users;
mod webhooks;

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use onboard_core::access::{
    ApiKeyId, ApiKeyRecord, Attribution, NewApiKey, Operator, OperatorChange, Revocation, Rotation,
};
use onboard_core::edd::{Document, EddRequest};
use onboard_core::events::{ChangeNotifier, Event, Retention};
use onboard_core::secret::KeyHash;
use onboard_core::store::{
    Claim, Deactivation, Decide, Decided, Enterprise, EnterpriseId, EventBounds, Grant, KeptAnswer,
    Listed, ListedJson, Minting, OutboxEntry, RequestTarget, Store, StoreError, TokenGrant,
    UserFilter, UserRow, from_micros,
};
use onboard_core::store::{ConsoleEdd, ConsoleFilter, ConsoleListed, Lockout, SessionRecord};
use onboard_core::store::{
    DocumentsStored, EddAnswering, EddAnswers, EddOpening, EddReviewing, NewDocument,
};
use onboard_core::user::User;
use onboard_core::verification::{Channel, CodeRecord};
use onboard_core::webhooks::{Attempt, AttemptStatus, Backlog, Endpoint, EndpointChange, Progress};
use time::OffsetDateTime;

pub use engine::{Dialect, Engine, Row, Tx, Value};
pub use users::{INSERT_USER, insert_args};

use engine::{first, one};

/// The store on one engine.
#[derive(Debug, Clone)]
pub struct SqlStore<E> {
    engine: E,
    registrations: Arc<batch::Registrations>,
    lookups: Arc<lookups::UserLookups>,
}

impl<E: Engine> SqlStore<E> {
    pub fn new(engine: E) -> SqlStore<E> {
        SqlStore {
            engine,
            registrations: Arc::default(),
            lookups: Arc::default(),
        }
    }

    pub fn engine(&self) -> &E {
        &self.engine
    }

    /// Bulk-loads user rows into one enterprise in a single transaction, for
    /// benchmarks and imports: the rows are written as they are, with no event,
    /// code or token (so the feed does not announce them).
    pub async fn import_users(
        &self,
        enterprise: EnterpriseId,
        rows: &[UserRow],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.engine.begin().await?;
        for row in rows {
            tx.execute(INSERT_USER, insert_args(enterprise, row, now))
                .await?;
        }
        tx.commit().await
    }
}

fn enterprise_from(row: &Row) -> Result<Enterprise, StoreError> {
    Ok(Enterprise {
        id: EnterpriseId(row.int("id")?),
        name: row.text("name")?,
        created_at: from_micros(row.int("created_at")?),
    })
}

const ENTERPRISE_COLUMNS: &str = "id, name, created_at";

#[async_trait]
impl<E: Engine> Store for SqlStore<E> {
    async fn ping(&self) -> Result<(), StoreError> {
        self.engine.ping().await
    }

    async fn forward_changes(&self, notifier: Weak<dyn ChangeNotifier>) {
        self.engine.forward_changes(notifier).await
    }

    async fn create_enterprise(
        &self,
        name: &str,
        key_hash: &KeyHash,
        now: OffsetDateTime,
    ) -> Result<Enterprise, StoreError> {
        access::create_enterprise(&self.engine, name, key_hash, now).await
    }

    async fn list_enterprises(&self) -> Result<Vec<Enterprise>, StoreError> {
        let sql = format!("SELECT {ENTERPRISE_COLUMNS} FROM enterprises ORDER BY id");
        let rows = self.engine.read(&sql, Vec::new()).await?;
        rows.iter().map(enterprise_from).collect()
    }

    async fn enterprise_by_key(
        &self,
        key_hash: &KeyHash,
    ) -> Result<Option<Enterprise>, StoreError> {
        // Any key not revoked; expiry needs the service's clock, which the
        // authenticating caller (`api_key_by_hash`) applies.
        Ok(access::by_hash(&self.engine, key_hash)
            .await?
            .filter(|(_, key)| key.revoked_at.is_none())
            .map(|(enterprise, _)| enterprise))
    }

    async fn enterprise_by_name(&self, name: &str) -> Result<Option<Enterprise>, StoreError> {
        let sql = format!("SELECT {ENTERPRISE_COLUMNS} FROM enterprises WHERE name = ?");
        let rows = self.engine.read(&sql, args![name]).await?;
        first(rows).as_ref().map(enterprise_from).transpose()
    }

    async fn insert_user(
        &self,
        enterprise: EnterpriseId,
        user: &User,
        cause: &str,
        first_code: Option<(Channel, &CodeRecord)>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if E::GROUP_COMMIT {
            return users::insert(&self.engine, enterprise, user, cause, first_code, now).await;
        }
        let new = batch::NewUser {
            user: user.clone(),
            cause: cause.to_owned(),
            first_code: first_code.map(|(channel, code)| (channel, code.clone())),
            now,
        };
        self.registrations
            .insert(&self.engine, enterprise, new)
            .await
    }

    async fn decide(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        channel: Option<Channel>,
        now: OffsetDateTime,
        decide: Decide<'_>,
    ) -> Result<Option<Decided>, StoreError> {
        users::decide(&self.engine, enterprise, user_id, channel, now, decide).await
    }

    async fn restore_code(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        channel: Channel,
        failed: OffsetDateTime,
        previous: Option<&CodeRecord>,
    ) -> Result<(), StoreError> {
        users::restore_code(&self.engine, enterprise, user_id, channel, failed, previous).await
    }

    async fn find_user(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
    ) -> Result<Option<User>, StoreError> {
        users::find(&self.engine, enterprise, user_id).await
    }

    async fn user_json(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
    ) -> Result<Option<String>, StoreError> {
        if !E::SHARE_LOOKUPS {
            return users::find_json(&self.engine, enterprise, user_id).await;
        }
        let found = self.lookups.find(&self.engine, enterprise, user_id).await?;
        match found {
            lookups::Found::Json(json) => Ok(Some(json)),
            lookups::Found::Stale => users::find_rendered(&self.engine, enterprise, user_id).await,
            lookups::Found::Missing => Ok(None),
        }
    }

    async fn list_users_json(
        &self,
        enterprise: EnterpriseId,
        filter: UserFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ListedJson>, StoreError> {
        users::list_json(&self.engine, enterprise, filter, after, limit).await
    }

    async fn list_users(
        &self,
        enterprise: EnterpriseId,
        filter: UserFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Listed>, StoreError> {
        users::list(&self.engine, enterprise, filter, after, limit).await
    }

    async fn deactivate_user(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<Deactivation, StoreError> {
        users::deactivate(&self.engine, enterprise, user_id, now).await
    }

    async fn append_outbox(&self, message: &OutboxEntry) -> Result<(), StoreError> {
        tokens::append_outbox(&self.engine, message).await
    }

    async fn list_outbox(
        &self,
        enterprise: Option<EnterpriseId>,
        user_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        tokens::list_outbox(&self.engine, enterprise, user_id, limit).await
    }

    async fn mint_tokens(
        &self,
        enterprise: EnterpriseId,
        grants: &[TokenGrant],
        now: OffsetDateTime,
    ) -> Result<Minting, StoreError> {
        tokens::mint(&self.engine, enterprise, grants, now).await
    }

    async fn grant_feed_tokens(
        &self,
        enterprise: EnterpriseId,
        grants: &[TokenGrant],
        now: OffsetDateTime,
    ) -> Result<Vec<Grant>, StoreError> {
        tokens::grant_best_effort(&self.engine, enterprise, grants, now).await
    }

    async fn active_among(
        &self,
        enterprise: EnterpriseId,
        user_ids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        users::active_among(&self.engine, enterprise, user_ids).await
    }

    async fn user_by_token(
        &self,
        token_hash: &KeyHash,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        tokens::user_by_token(&self.engine, token_hash, now).await
    }

    async fn read_events(
        &self,
        enterprise: EnterpriseId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        events::read(&self.engine, enterprise, after, limit).await
    }

    async fn event_bounds(&self, enterprise: EnterpriseId) -> Result<EventBounds, StoreError> {
        events::bounds(&self.engine, enterprise).await
    }

    async fn server_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        self.engine
            .write_count(
                "INSERT INTO server_secrets (name, value) VALUES (?, ?) \
                 ON CONFLICT (name) DO NOTHING",
                args![name, candidate],
            )
            .await?;
        let rows = self
            .engine
            .read(
                "SELECT value FROM server_secrets WHERE name = ?",
                args![name],
            )
            .await?;
        one(rows)?.text("value")
    }

    async fn prune(&self, retention: Retention, now: OffsetDateTime) -> Result<u64, StoreError> {
        let removed = events::prune(&self.engine, retention, now).await?;
        idempotency::prune(&self.engine, now).await?;
        console::prune(&self.engine, now).await?;
        Ok(removed)
    }

    async fn claim_idempotency_key(
        &self,
        enterprise: EnterpriseId,
        key: &str,
        request: &RequestTarget,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Claim, StoreError> {
        idempotency::claim(&self.engine, enterprise, key, request, now, lease_until).await
    }

    async fn keep_idempotent_answer(
        &self,
        enterprise: EnterpriseId,
        key: &str,
        answer: &KeptAnswer,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        idempotency::keep(&self.engine, enterprise, key, answer, now).await
    }

    async fn release_idempotency_key(
        &self,
        enterprise: EnterpriseId,
        key: &str,
    ) -> Result<(), StoreError> {
        idempotency::release(&self.engine, enterprise, key).await
    }

    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<Endpoint, StoreError> {
        webhooks::create(&self.engine, endpoint).await
    }

    async fn endpoints(&self, enterprise: EnterpriseId) -> Result<Vec<Endpoint>, StoreError> {
        webhooks::list(&self.engine, enterprise).await
    }

    async fn endpoint(
        &self,
        enterprise: EnterpriseId,
        id: &str,
    ) -> Result<Option<Endpoint>, StoreError> {
        webhooks::get(&self.engine, enterprise, id).await
    }

    async fn change_endpoint(
        &self,
        enterprise: EnterpriseId,
        id: &str,
        change: &EndpointChange,
    ) -> Result<Option<Endpoint>, StoreError> {
        webhooks::change(&self.engine, enterprise, id, change).await
    }

    async fn delete_endpoint(
        &self,
        enterprise: EnterpriseId,
        id: &str,
    ) -> Result<bool, StoreError> {
        webhooks::delete(&self.engine, enterprise, id).await
    }

    async fn lease_endpoints(
        &self,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Endpoint>, StoreError> {
        webhooks::lease(&self.engine, owner, now, until, limit).await
    }

    async fn record_progress(
        &self,
        owner: &str,
        endpoint_id: &str,
        progress: &Progress,
        attempt: Option<&Attempt>,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        webhooks::record(&self.engine, owner, endpoint_id, progress, attempt, until).await
    }

    async fn release_endpoint(&self, owner: &str, endpoint_id: &str) -> Result<(), StoreError> {
        webhooks::release(&self.engine, owner, endpoint_id).await
    }

    async fn webhook_backlog(&self) -> Result<Vec<Backlog>, StoreError> {
        webhooks::backlog(&self.engine).await
    }

    async fn attempts(
        &self,
        enterprise: EnterpriseId,
        endpoint_id: &str,
        status: Option<AttemptStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Attempt>, StoreError> {
        webhooks::attempts(&self.engine, enterprise, endpoint_id, status, before, limit).await
    }

    // --- API keys and operators ---

    async fn insert_api_key(
        &self,
        key: &NewApiKey,
        now: OffsetDateTime,
    ) -> Result<ApiKeyRecord, StoreError> {
        access::insert(&self.engine, key, now).await
    }

    async fn list_api_keys(
        &self,
        enterprise: EnterpriseId,
    ) -> Result<Vec<ApiKeyRecord>, StoreError> {
        access::list(&self.engine, enterprise).await
    }

    async fn api_key_by_hash(
        &self,
        hash: &KeyHash,
    ) -> Result<Option<(Enterprise, ApiKeyRecord)>, StoreError> {
        access::by_hash(&self.engine, hash).await
    }

    async fn revoke_api_key(
        &self,
        enterprise: EnterpriseId,
        id: &ApiKeyId,
        by: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Revocation, StoreError> {
        access::revoke(&self.engine, enterprise, id, by, now).await
    }

    async fn rotate_api_key(
        &self,
        id: &ApiKeyId,
        successor: &NewApiKey,
        old_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        access::rotate(&self.engine, id, successor, old_expires_at, now).await
    }

    async fn touch_api_key(&self, id: &ApiKeyId, now: OffsetDateTime) -> Result<(), StoreError> {
        access::touch(&self.engine, id, now).await
    }

    async fn key_generation(&self) -> Result<i64, StoreError> {
        access::generation(&self.engine).await
    }

    async fn api_keys_changed_since(
        &self,
        generation: i64,
    ) -> Result<(Vec<ApiKeyRecord>, i64), StoreError> {
        access::changed_since(&self.engine, generation).await
    }

    async fn insert_operator(&self, operator: &Operator) -> Result<(), StoreError> {
        access::insert_operator(&self.engine, operator).await
    }

    async fn list_operators(&self) -> Result<Vec<Operator>, StoreError> {
        access::list_operators(&self.engine).await
    }

    async fn operator_by_name(&self, name: &str) -> Result<Option<Operator>, StoreError> {
        access::operator_by_name(&self.engine, name).await
    }

    async fn disable_operator(
        &self,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<OperatorChange, StoreError> {
        access::disable_operator(&self.engine, name, now).await
    }

    async fn set_operator_password(
        &self,
        name: &str,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> Result<OperatorChange, StoreError> {
        access::set_operator_password(&self.engine, name, password_hash, now).await
    }

    // ---- Enhanced due diligence and documents (CONTRACT §7) ----

    async fn open_edd_request(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        form: onboard_core::edd::Form,
        cause: &str,
        now: OffsetDateTime,
    ) -> Result<EddOpening, StoreError> {
        edd::open_request(&self.engine, enterprise, user_id, form, cause, now).await
    }

    async fn list_edd_requests(
        &self,
        enterprise: EnterpriseId,
        user_id: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<EddRequest>, StoreError> {
        edd::list_requests(&self.engine, enterprise, user_id, after, limit).await
    }

    async fn open_edd_request_of(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
    ) -> Result<Option<EddRequest>, StoreError> {
        edd::open_request_of(&self.engine, enterprise, user_id).await
    }

    async fn record_edd_answers(
        &self,
        enterprise: EnterpriseId,
        request_id: i64,
        answers: &EddAnswers,
        now: OffsetDateTime,
    ) -> Result<EddAnswering, StoreError> {
        edd::record_answers(&self.engine, enterprise, request_id, answers, now).await
    }

    async fn review_edd_request(
        &self,
        enterprise: EnterpriseId,
        request_id: i64,
        by: &Attribution,
        now: OffsetDateTime,
    ) -> Result<EddReviewing, StoreError> {
        edd::review(&self.engine, enterprise, request_id, by, now).await
    }

    async fn store_documents(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        documents: Vec<NewDocument>,
        now: OffsetDateTime,
    ) -> Result<DocumentsStored, StoreError> {
        edd::store_documents(&self.engine, enterprise, user_id, documents, now).await
    }

    async fn list_documents(
        &self,
        enterprise: EnterpriseId,
        user_id: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Document>, StoreError> {
        edd::list_documents(&self.engine, enterprise, user_id, after, limit).await
    }

    async fn document(
        &self,
        enterprise: EnterpriseId,
        id: i64,
    ) -> Result<Option<Document>, StoreError> {
        edd::document(&self.engine, enterprise, id).await
    }

    async fn document_chunk(
        &self,
        enterprise: EnterpriseId,
        id: i64,
        seq: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        edd::document_chunk(&self.engine, enterprise, id, seq).await
    }

    async fn insert_console_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        console::insert_session(&self.engine, session).await
    }

    async fn console_session(&self, hash: &KeyHash) -> Result<Option<SessionRecord>, StoreError> {
        console::session(&self.engine, hash).await
    }

    async fn touch_console_session(
        &self,
        hash: &KeyHash,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        console::touch_session(&self.engine, hash, now, expires_at).await
    }

    async fn delete_console_session(&self, hash: &KeyHash) -> Result<(), StoreError> {
        console::delete_session(&self.engine, hash).await
    }

    async fn sign_in_locked_until(
        &self,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        console::locked_until(&self.engine, name, now).await
    }

    async fn record_sign_in_failure(
        &self,
        name: &str,
        rule: Lockout,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        console::record_failure(&self.engine, name, rule, now).await
    }

    async fn clear_sign_in_failures(&self, name: &str) -> Result<(), StoreError> {
        console::clear_failures(&self.engine, name).await
    }

    async fn console_users(
        &self,
        filter: &ConsoleFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ConsoleListed>, StoreError> {
        console::list_users(&self.engine, filter, after, limit).await
    }

    async fn review_queue(&self, limit: u32) -> Result<Vec<ConsoleListed>, StoreError> {
        console::review_queue(&self.engine, limit).await
    }

    async fn user_events(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        console::user_events(&self.engine, enterprise, user_id, limit).await
    }

    async fn console_edd(
        &self,
        user: Option<(EnterpriseId, &str)>,
        limit: u32,
    ) -> Result<Vec<ConsoleEdd>, StoreError> {
        console::edd_requests(&self.engine, user, limit).await
    }

    async fn token_owner(
        &self,
        token_hash: &KeyHash,
        now: OffsetDateTime,
    ) -> Result<Option<(EnterpriseId, User)>, StoreError> {
        edd::token_owner(&self.engine, token_hash, now).await
    }
}
