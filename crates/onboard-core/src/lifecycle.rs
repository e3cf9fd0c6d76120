//! The end user's lifecycle (CONTRACT §4) as one state machine. Status and
//! requirements change only through [`advance`]; every call that changes them
//! yields a [`Transition`] with its cause, which the store writes together with the
//! event the feed carries.
//!
//! The `decide_*` functions are the rules of each use case as pure functions of
//! the user and its code: the store runs them inside its write transaction (see
//! `UserStore::decide`), so two concurrent confirmations cannot both succeed.

use onboard_api::{Profile, Requirements};
use time::OffsetDateTime;

use crate::user::{AccountType, Status, UserSummary};
use crate::verification::{Channel, CodeRecord, MAX_ATTEMPTS};

/// What happens when nothing is outstanding any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReviewPolicy {
    /// The user becomes `VERIFIED` at once.
    #[default]
    Auto,
    /// The user stays `PENDING` until an operator approves it.
    Manual,
}

impl ReviewPolicy {
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "auto" => Some(ReviewPolicy::Auto),
            "manual" => Some(ReviewPolicy::Manual),
            _ => None,
        }
    }
}

/// Jurisdictions the operator does not serve: ISO 3166-1 (`CU`) or 3166-2 (`US-NY`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jurisdictions(Vec<String>);

impl Jurisdictions {
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(codes: I) -> Self {
        Jurisdictions(
            codes
                .into_iter()
                .map(|c| c.as_ref().trim().to_ascii_uppercase())
                .filter(|c| !c.is_empty())
                .collect(),
        )
    }

    /// The listed code the user's residence or incorporation falls in, if any.
    pub fn unsupported_in(&self, profile: &Profile) -> Option<String> {
        let (country, state) = if let Some(i) = &profile.individual {
            (&i.residential_country_code, &i.residential_state)
        } else if let Some(b) = &profile.business {
            (&b.incorporation_country, &b.incorporation_state)
        } else {
            return None;
        };
        let subdivision = state.as_ref().map(|s| {
            if s.contains('-') {
                s.clone()
            } else {
                format!("{country}-{s}")
            }
        });
        self.0
            .iter()
            .find(|code| *code == country || Some(*code) == subdivision.as_ref())
            .cloned()
    }
}

/// What made the user move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Verified(Channel),
    Approved,
    Rejected,
}

/// A change of status or requirements and why it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub status: Status,
    pub requirements: Requirements,
    pub cause: String,
    /// The operator who caused it, and their note; `None` for the user's own steps.
    pub by: Option<crate::access::Attribution>,
}

/// Why a lifecycle request was refused: 422 in the API, 429 when throttled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("Email already verified")]
    EmailAlreadyVerified,
    #[error("Phone already verified")]
    PhoneAlreadyVerified,
    #[error("Email must be verified before an sms code can be requested")]
    EmailFirst,
    #[error("Corporations have no sms verification step")]
    NoSmsStep,
    #[error("The user is UNSUPPORTED; its verification cannot continue")]
    Unsupported,
    #[error("An {0} code was sent less than 30 seconds ago; retry in {1} seconds")]
    Throttled(Channel, u64),
    /// The daily quota of codes on the channel is spent (429): the quota and the
    /// seconds until one more may be sent.
    #[error("At most {1} {0} codes may be sent to a user in 24 hours; retry in {2} seconds")]
    QuotaSpent(Channel, u32, u64),
    #[error("No {0} code has been sent; request one first")]
    NoCode(Channel),
    #[error("The {0} code is wrong; {1} attempts left")]
    WrongCode(Channel, u32),
    #[error("The {0} code has expired; request a new one")]
    Expired(Channel),
    #[error(
        "The {0} code was entered wrongly {MAX_ATTEMPTS} times and no longer works; request a new one"
    )]
    Burned(Channel),
    #[error("The user is {0}, not PENDING")]
    NotPending(&'static str),
    #[error("The user still has requirements outstanding: {0}")]
    Outstanding(String),
}

/// The status and requirements of a newly registered user.
pub fn registered(account_type: AccountType, unsupported_in: Option<&str>) -> Transition {
    let requirements = account_type.initial_requirements();
    match unsupported_in {
        Some(code) => Transition {
            status: Status::Unsupported,
            requirements,
            cause: format!("registered in unsupported jurisdiction {code}"),
            by: None,
        },
        None => Transition {
            status: Status::Pending,
            requirements,
            cause: "registered".into(),
            by: None,
        },
    }
}

/// The one function through which status and requirements change.
pub fn advance(
    user: &UserSummary,
    trigger: Trigger,
    policy: ReviewPolicy,
) -> Result<Transition, Refusal> {
    let mut requirements = user.requirements;
    let (status, cause) = match trigger {
        Trigger::Verified(channel) => {
            if user.status == Status::Unsupported {
                return Err(Refusal::Unsupported);
            }
            match channel {
                Channel::Email => requirements.email = false,
                Channel::Sms => requirements.sms = false,
            }
            let done = !requirements.email && !requirements.sms;
            let status = if done && policy == ReviewPolicy::Auto {
                Status::Verified
            } else {
                user.status
            };
            (status, format!("{channel} verified"))
        }
        Trigger::Approved => {
            require_pending(user)?;
            if let Some(open) = outstanding(requirements) {
                return Err(Refusal::Outstanding(open));
            }
            (Status::Verified, "approved by an operator".to_owned())
        }
        Trigger::Rejected => {
            if user.status == Status::Unsupported {
                return Err(Refusal::NotPending(Status::Unsupported.as_str()));
            }
            (Status::Unsupported, "rejected by an operator".to_owned())
        }
    };
    Ok(Transition {
        status,
        requirements,
        cause,
        by: None,
    })
}

fn require_pending(user: &UserSummary) -> Result<(), Refusal> {
    match user.status {
        Status::Pending => Ok(()),
        other => Err(Refusal::NotPending(other.as_str())),
    }
}

fn outstanding(r: Requirements) -> Option<String> {
    let open: Vec<&str> = [(r.email, "email"), (r.sms, "sms")]
        .into_iter()
        .filter_map(|(open, name)| open.then_some(name))
        .collect();
    (!open.is_empty()).then(|| open.join(", "))
}

/// What a decision writes to the user's code on the channel in question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeWrite {
    Keep,
    Replace(CodeRecord),
    /// The code was used: forget its hash, keep the row for the resend interval.
    Consume,
    CountFailure,
}

/// Everything one use case decides to write, and what it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub code: CodeWrite,
    pub transition: Option<Transition>,
    pub outcome: Result<(), Refusal>,
}

impl Decision {
    fn refuse(refusal: Refusal) -> Self {
        Decision {
            code: CodeWrite::Keep,
            transition: None,
            outcome: Err(refusal),
        }
    }
}

/// May a code be sent on `channel` now, with at most `daily_quota` codes per user
/// and channel in 24 hours? If so, store `fresh` in place of the old one.
pub fn decide_send(
    user: &UserSummary,
    existing: Option<&CodeRecord>,
    channel: Channel,
    fresh: CodeRecord,
    daily_quota: u32,
) -> Decision {
    if let Err(refusal) = may_verify(user, channel) {
        return Decision::refuse(refusal);
    }
    if let Some(wait) = existing.and_then(|c| c.resend_wait(fresh.sent_at)) {
        return Decision::refuse(Refusal::Throttled(channel, wait));
    }
    let fresh = match fresh.following(existing, daily_quota) {
        Ok(fresh) => fresh,
        Err(wait) => return Decision::refuse(Refusal::QuotaSpent(channel, daily_quota, wait)),
    };
    Decision {
        code: CodeWrite::Replace(fresh),
        transition: None,
        outcome: Ok(()),
    }
}

/// Does `presented_hash` confirm the code on `channel`? If so, move the user.
pub fn decide_confirm(
    user: &UserSummary,
    existing: Option<&CodeRecord>,
    channel: Channel,
    presented_hash: &str,
    now: OffsetDateTime,
    policy: ReviewPolicy,
) -> Decision {
    if let Err(refusal) = may_verify(user, channel) {
        return Decision::refuse(refusal);
    }
    let Some((code, hash)) = existing.and_then(|c| c.hash.as_deref().map(|h| (c, h))) else {
        return Decision::refuse(Refusal::NoCode(channel));
    };
    if code.failed_attempts >= MAX_ATTEMPTS {
        return Decision::refuse(Refusal::Burned(channel));
    }
    if now > code.expires_at {
        return Decision::refuse(Refusal::Expired(channel));
    }
    if !constant_time_eq(hash.as_bytes(), presented_hash.as_bytes()) {
        let left = MAX_ATTEMPTS - code.failed_attempts - 1;
        return Decision {
            code: CodeWrite::CountFailure,
            transition: None,
            outcome: Err(Refusal::WrongCode(channel, left)),
        };
    }
    match advance(user, Trigger::Verified(channel), policy) {
        Ok(t) => Decision {
            code: CodeWrite::Consume,
            transition: Some(t),
            outcome: Ok(()),
        },
        Err(refusal) => Decision::refuse(refusal),
    }
}

/// An operator's approval or rejection.
pub fn decide_review(user: &UserSummary, trigger: Trigger, policy: ReviewPolicy) -> Decision {
    match advance(user, trigger, policy) {
        Ok(t) => Decision {
            code: CodeWrite::Keep,
            transition: Some(t),
            outcome: Ok(()),
        },
        Err(refusal) => Decision::refuse(refusal),
    }
}

/// The order rules of CONTRACT §4: email before sms, no sms for corporations.
fn may_verify(user: &UserSummary, channel: Channel) -> Result<(), Refusal> {
    if user.status == Status::Unsupported {
        return Err(Refusal::Unsupported);
    }
    let r = user.requirements;
    match channel {
        Channel::Email if !r.email => Err(Refusal::EmailAlreadyVerified),
        Channel::Email => Ok(()),
        Channel::Sms if user.account_type == AccountType::Corporation => Err(Refusal::NoSmsStep),
        Channel::Sms if !r.sms => Err(Refusal::PhoneAlreadyVerified),
        Channel::Sms if r.email => Err(Refusal::EmailFirst),
        Channel::Sms => Ok(()),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
