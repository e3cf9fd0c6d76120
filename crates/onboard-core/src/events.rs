//! The append-only event log (CONTRACT §5): every change of a user is written as an
//! event in the same transaction as the change, with a per-enterprise `event_id`
//! that grows by one. The feed, the REST replay and the audit trail all read it.

use onboard_api::{DocumentOut, EddRequestOut, EventOut};
use time::OffsetDateTime;

use crate::user::UserSummary;
use crate::values::ValueError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Registered,
    /// Status or requirements changed.
    Updated,
    Deactivated,
    /// An EDD request was opened (CONTRACT §7).
    EddRequested,
    /// An EDD request changed status (answers, a file, a review).
    EddUpdated,
    /// A document was stored.
    DocumentUploaded,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Registered => "user.registered",
            EventKind::Updated => "user.updated",
            EventKind::Deactivated => "user.deactivated",
            EventKind::EddRequested => "edd.requested",
            EventKind::EddUpdated => "edd.updated",
            EventKind::DocumentUploaded => "document.uploaded",
        }
    }

    /// Whether the event is a change of the user's status or requirements (or
    /// its registration): the only kinds the WebSocket feed carries, each with a
    /// user token. The others stay in the REST log (CONTRACT §5, §7).
    pub fn is_user_change(self) -> bool {
        matches!(self, EventKind::Registered | EventKind::Updated)
    }

    pub fn parse(text: &str) -> Result<Self, ValueError> {
        match text {
            "user.registered" => Ok(EventKind::Registered),
            "user.updated" => Ok(EventKind::Updated),
            "user.deactivated" => Ok(EventKind::Deactivated),
            "edd.requested" => Ok(EventKind::EddRequested),
            "edd.updated" => Ok(EventKind::EddUpdated),
            "document.uploaded" => Ok(EventKind::DocumentUploaded),
            _ => Err(ValueError::NotInList(
                "user.registered, user.updated, user.deactivated, edd.requested, \
                 edd.updated, document.uploaded"
                    .into(),
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
    /// What an EDD or document event is about; `None` for user events.
    pub detail: Option<EventDetail>,
}

/// The subject of an EDD or document event, stored beside the user's snapshot.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventDetail {
    /// `edd.requested`, `edd.updated`: the request right after the change.
    EddRequest(EddRequestOut),
    /// `document.uploaded`: the document's metadata.
    Document(DocumentOut),
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
            edd_request: match &self.detail {
                Some(EventDetail::EddRequest(request)) => Some(request.clone()),
                _ => None,
            },
            document: match &self.detail {
                Some(EventDetail::Document(document)) => Some(document.clone()),
                _ => None,
            },
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
