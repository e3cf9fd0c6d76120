//! User tokens, kept only as hashes (CONTRACT §4), and the outbox where the
//! outbox channel keeps the codes it "sent".

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;
use crate::secret::KeyHash;
use crate::tenant::EnterpriseId;
use crate::user::User;
use crate::verification::Channel;

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

/// What [`TokenStore::mint_tokens`] did: all of the batch, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Minting {
    Minted,
    /// Nothing was stored: this id (the first such) is no active user of the
    /// enterprise.
    UnknownUser(String),
}

/// What [`TokenStore::grant_feed_tokens`] did with one grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    Granted,
    /// The user is not active (any more): no token was stored.
    UserInactive,
}

/// User tokens and the outbox.
#[async_trait]
pub trait TokenStore: Send + Sync {
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

    /// The active user an unexpired token belongs to.
    async fn user_by_token(
        &self,
        token_hash: &KeyHash,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError>;

    /// The enterprise and active user an unexpired user token belongs to.
    async fn token_owner(
        &self,
        token_hash: &KeyHash,
        now: OffsetDateTime,
    ) -> Result<Option<(EnterpriseId, User)>, StoreError>;
}
