//! The tenant: an enterprise, whose key scopes every request.

use time::OffsetDateTime;

/// An enterprise's row id. Every user-facing query is scoped by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnterpriseId(pub i64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enterprise {
    pub id: EnterpriseId,
    pub name: String,
    pub created_at: OffsetDateTime,
}
