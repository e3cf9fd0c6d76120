//! An EDD request and its status path (CONTRACT §7).

use onboard_api::EddRequestOut;
use time::OffsetDateTime;

use super::Form;
use crate::time_format::rfc3339_millis;
use crate::values::UserId;

/// Where a request stands (CONTRACT §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EddStatus {
    Requested,
    PartialSubmission,
    InReview,
    Reviewed,
}

impl EddStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EddStatus::Requested => "REQUESTED",
            EddStatus::PartialSubmission => "PARTIAL_SUBMISSION",
            EddStatus::InReview => "IN_REVIEW",
            EddStatus::Reviewed => "REVIEWED",
        }
    }

    pub fn parse(text: &str) -> Option<EddStatus> {
        [
            EddStatus::Requested,
            EddStatus::PartialSubmission,
            EddStatus::InReview,
            EddStatus::Reviewed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Open until an operator marks it reviewed.
    pub fn is_open(self) -> bool {
        self != EddStatus::Reviewed
    }

    /// Whether answers may (still) be recorded.
    pub fn takes_answers(self) -> bool {
        matches!(self, EddStatus::Requested | EddStatus::PartialSubmission)
    }

    /// The status once answers naming `files` are recorded and `missing` of them
    /// are not uploaded yet.
    pub fn after_answers(missing: usize) -> EddStatus {
        if missing == 0 {
            EddStatus::InReview
        } else {
            EddStatus::PartialSubmission
        }
    }
}

/// An EDD request of one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EddRequest {
    pub id: i64,
    pub user_id: UserId,
    pub form: Form,
    pub status: EddStatus,
    pub date_added: OffsetDateTime,
    pub date_updated: OffsetDateTime,
}

impl EddRequest {
    pub fn to_wire(&self) -> EddRequestOut {
        EddRequestOut {
            id: self.id,
            user_id: self.user_id.as_str().to_owned(),
            ddq_id: self.form.ddq_id(),
            required_form: self.form.required_form().to_owned(),
            status: self.status.as_str().to_owned(),
            date_added: rfc3339_millis(self.date_added),
            date_updated: rfc3339_millis(self.date_updated),
        }
    }
}
