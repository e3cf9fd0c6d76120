//! Rows as every backend stores them, and the one way back to domain types, so
//! that the backends cannot disagree on how a row reads.

use onboard_api::{EndUserSummary, Profile, Requirements};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Listed, StoreError};
use crate::events::{Event, EventDetail, EventKind};
use crate::user::{AccountRole, AccountType, Status, User, UserSummary};
use crate::values::{Email, Name, Phone, UserId};

/// Unix microseconds: how backends store instants.
pub fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

pub fn from_micros(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("corrupt row: {what}"))
}

/// A user row as every backend stores it: the list columns as text, the profile as
/// JSON, and both wire shapes as JSON ([`Rendered`], from [`UserRow::encode`]; a
/// caller that changes a field after encoding must render them again). [`UserRow::decode`] is the one way back to domain types, so the backends
/// cannot disagree on how a row reads.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub position: i64,
    pub id: String,
    pub account_type: String,
    pub account_role: String,
    pub user_id: String,
    pub advisor_user_id: Option<String>,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone_number: String,
    pub status: String,
    pub email_required: bool,
    pub sms_required: bool,
    /// The profile JSON; absent when only the list columns were read.
    pub profile: Option<String>,
    /// The user's wire JSON, rendered when the row is written; absent when read.
    pub rendered: Option<Rendered>,
}

/// A user's two wire shapes as JSON, rendered whenever its row is written (in the
/// same statement), so that `GET /v1/enterprise/users/{user_id}` and a page of
/// the list are served without decoding a row or encoding a user. Rows written
/// before the columns existed hold neither, and rows changed by an earlier
/// release hold stale ones (their `updated_at` moved past `rendered_at`); both
/// are rendered from their columns when read.
///
/// A change to either wire shape (`EndUser`, `EndUserSummary`, or `to_wire`)
/// must come with a migration that sets `list_json` and `user_json` to NULL, so
/// that no row keeps the old text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The list shape ([`EndUserSummary`]), stored in the `list_json` column.
    pub list: String,
    /// The full shape (`EndUser`), stored in the `user_json` column.
    pub full: String,
}

impl Rendered {
    pub fn of(user: &User) -> Result<Rendered, StoreError> {
        Ok(Rendered {
            list: render(&user.summary.to_wire())?,
            full: render(&user.to_wire())?,
        })
    }
}

/// A wire shape as JSON.
pub fn render(shape: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(shape)
        .map_err(|e| StoreError::Internal(format!("a user does not serialise: {e}")))
}

impl UserRow {
    /// The columns of a user, for an insert.
    pub fn encode(user: &User) -> Result<UserRow, StoreError> {
        let s = &user.summary;
        let profile = serde_json::to_string(&user.profile)
            .map_err(|e| StoreError::Internal(format!("profile does not serialise: {e}")))?;
        Ok(UserRow {
            position: 0,
            id: user.id.to_string(),
            account_type: s.account_type.as_str().to_owned(),
            account_role: s.account_role.as_str().to_owned(),
            user_id: s.user_id.to_string(),
            advisor_user_id: s.advisor_user_id.as_ref().map(UserId::to_string),
            email: s.email.to_string(),
            first_name: s.first_name.to_string(),
            last_name: s.last_name.to_string(),
            phone_number: s.phone_number.to_string(),
            status: s.status.as_str().to_owned(),
            email_required: s.requirements.email,
            sms_required: s.requirements.sms,
            profile: Some(profile),
            rendered: Some(Rendered::of(user)?),
        })
    }

    pub fn decode_summary(self) -> Result<Listed, StoreError> {
        Ok(Listed {
            position: self.position,
            user: UserSummary {
                account_type: AccountType::parse(&self.account_type)
                    .map_err(|_| corrupt("account_type"))?,
                account_role: AccountRole::parse(&self.account_role)
                    .map_err(|_| corrupt("account_role"))?,
                user_id: UserId::from_stored(self.user_id),
                advisor_user_id: self.advisor_user_id.map(UserId::from_stored),
                email: Email::from_stored(self.email),
                first_name: Name::from_stored(self.first_name),
                last_name: Name::from_stored(self.last_name),
                phone_number: Phone::from_stored(self.phone_number),
                status: Status::parse(&self.status).map_err(|_| corrupt("status"))?,
                requirements: Requirements {
                    email: self.email_required,
                    sms: self.sms_required,
                },
            },
        })
    }

    pub fn decode(mut self) -> Result<User, StoreError> {
        let profile = self.profile.take().ok_or_else(|| corrupt("no profile"))?;
        let profile: Profile = serde_json::from_str(&profile).map_err(|_| corrupt("profile"))?;
        let id = Uuid::parse_str(&self.id).map_err(|_| corrupt("id"))?;
        Ok(User {
            summary: self.decode_summary()?.user,
            id,
            profile,
        })
    }
}

/// An event row: the user's list shape at the time, as JSON.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub event_id: i64,
    pub kind: String,
    pub cause: String,
    /// Who caused the event (both or neither are set).
    pub operator: Option<String>,
    pub note: Option<String>,
    pub snapshot: String,
    pub created_at: i64,
    /// The [`EventDetail`] of an EDD or document event, as JSON.
    pub detail: Option<String>,
}

impl EventRow {
    pub fn encode(
        kind: EventKind,
        cause: &str,
        user: &UserSummary,
        now: OffsetDateTime,
    ) -> Result<EventRow, StoreError> {
        let snapshot = serde_json::to_string(&user.to_wire())
            .map_err(|e| StoreError::Internal(format!("snapshot does not serialise: {e}")))?;
        Ok(EventRow {
            event_id: 0,
            kind: kind.as_str().to_owned(),
            cause: cause.to_owned(),
            operator: None,
            note: None,
            snapshot,
            created_at: micros(now),
            detail: None,
        })
    }

    /// An EDD or document event: the user's snapshot and what it is about.
    pub fn encode_detailed(
        kind: EventKind,
        cause: &str,
        user: &UserSummary,
        detail: &EventDetail,
        now: OffsetDateTime,
    ) -> Result<EventRow, StoreError> {
        let mut row = EventRow::encode(kind, cause, user, now)?;
        row.detail = Some(
            serde_json::to_string(detail)
                .map_err(|e| StoreError::Internal(format!("detail does not serialise: {e}")))?,
        );
        Ok(row)
    }

    pub fn decode(self) -> Result<Event, StoreError> {
        let wire: EndUserSummary =
            serde_json::from_str(&self.snapshot).map_err(|_| corrupt("event snapshot"))?;
        Ok(Event {
            event_id: self.event_id,
            kind: EventKind::parse(&self.kind).map_err(|_| corrupt("event kind"))?,
            cause: self.cause,
            by: self.operator.map(|operator| crate::access::Attribution {
                operator,
                note: self.note.unwrap_or_default(),
            }),
            user: UserSummary::from_stored(wire).map_err(|_| corrupt("event snapshot"))?,
            at: from_micros(self.created_at),
            detail: self
                .detail
                .map(|d| serde_json::from_str(&d).map_err(|_| corrupt("event detail")))
                .transpose()?,
        })
    }
}
