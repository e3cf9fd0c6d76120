//! What the operator console (CONTRACT §10) keeps and reads beyond the API's own
//! rows: sessions, failed sign-ins, and reads across every enterprise.

use time::OffsetDateTime;

use crate::edd::EddRequest;
use crate::secret::KeyHash;
use crate::user::{AccountRole, AccountType, Status, UserSummary};

/// A console session as stored: the token itself is never kept, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub token_hash: KeyHash,
    pub operator: String,
    /// The anti-forgery token every form of this session carries.
    pub csrf: String,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    /// `last_seen_at` plus the idle limit.
    pub expires_at: OffsetDateTime,
}

/// The lockout rule the store applies to failed sign-ins of one name: `max`
/// failures within `window` lock the name for `lock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    pub max: i64,
    pub window: time::Duration,
    pub lock: time::Duration,
}

/// Filters of the console's Users page, all optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleFilter {
    pub enterprise: Option<crate::tenant::EnterpriseId>,
    pub status: Option<Status>,
    pub role: Option<AccountRole>,
    pub account_type: Option<AccountType>,
    /// Matches a `user_id` or an email exactly (case-insensitive for emails),
    /// or the start of a first or last name (case-insensitive).
    pub search: Option<String>,
}

/// A user listed by the console, with the name of its enterprise.
#[derive(Debug, Clone)]
pub struct ConsoleListed {
    /// Keyset cursor: the next page starts after it.
    pub position: i64,
    pub enterprise: String,
    pub user: UserSummary,
    pub created_at: OffsetDateTime,
}

/// An EDD request as the console shows it: its enterprise and its answers.
#[derive(Debug, Clone)]
pub struct ConsoleEdd {
    pub enterprise: String,
    pub request: EddRequest,
    /// The answers as stored (JSON), once given.
    pub answers: Option<String>,
    pub reviewed_by: Option<String>,
    pub review_note: Option<String>,
}
