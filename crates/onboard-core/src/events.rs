//! The append-only event log (CONTRACT §5): every change of a user is written as an
//! event in the same transaction as the change, with a per-enterprise `event_id`
//! that grows by one. The feed, the REST replay and the audit trail all read it.

use onboard_api::EventOut;
use time::OffsetDateTime;

use crate::user::UserSummary;
use crate::values::ValueError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Registered,
    /// Status or requirements changed.
    Updated,
    Deactivated,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Registered => "user.registered",
            EventKind::Updated => "user.updated",
            EventKind::Deactivated => "user.deactivated",
        }
    }

    pub fn parse(text: &str) -> Result<Self, ValueError> {
        match text {
            "user.registered" => Ok(EventKind::Registered),
            "user.updated" => Ok(EventKind::Updated),
            "user.deactivated" => Ok(EventKind::Deactivated),
            _ => Err(ValueError::NotInList(
                "user.registered, user.updated, user.deactivated".into(),
            )),
        }
    }
}

/// One stored event: the user as it was right after the change.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub event_id: i64,
    pub kind: EventKind,
    pub cause: String,
    /// The operator who caused the event and their note, when one did.
    pub by: Option<crate::access::Attribution>,
    pub user: UserSummary,
    pub at: OffsetDateTime,
}

impl Event {
    pub fn to_wire(&self) -> EventOut {
        EventOut {
            event_id: self.event_id,
            r#type: self.kind.as_str().to_owned(),
            cause: self.cause.clone(),
            operator: self.by.as_ref().map(|by| by.operator.clone()),
            note: self.by.as_ref().map(|by| by.note.clone()),
            created_at: crate::time_format::rfc3339_millis(self.at),
            user: self.user.to_wire(),
        }
    }
}

/// Told after every committed change, so that readers of the log wake up.
/// Implemented by the service's `Changes`; storage backends that can hear other
/// processes' commits forward them to it (`Store::forward_changes`).
pub trait ChangeNotifier: Send + Sync + 'static {
    fn changed(&self, enterprise: crate::tenant::EnterpriseId);
}

/// How long events are kept; both limits apply when both are set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    pub max_age: Option<time::Duration>,
    pub max_events: Option<u64>,
}
