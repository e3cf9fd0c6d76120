//! The use cases of the End Users API, one method each: what a handler calls after
//! extracting its input. [`Onboarding`] owns the store and the clock; it turns
//! storage outcomes into [`ServiceError`]s that the HTTP layer maps one to one.

use std::sync::Arc;

use onboard_api::FieldProblem;
use serde_json::Value;
use uuid::Uuid;

use crate::clock::Clock;
use crate::registration::Registration;
use crate::secret::KeyHash;
use crate::store::{Enterprise, EnterpriseId, Store, StoreError, UserFilter};
use crate::user::{AccountRole, User, UserSummary};
use crate::values::UserId;

/// Why a use case did not succeed; each variant is one HTTP status (CONTRACT §1).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid token. check authorization header.")]
    Unauthorized,
    #[error("{}", summarise(.0))]
    Invalid(Vec<FieldProblem>),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the database is unavailable; try again shortly")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

fn summarise(problems: &[FieldProblem]) -> String {
    let Some(first) = problems.first() else {
        return "the request is invalid".into();
    };
    match problems.len() - 1 {
        0 => format!("{} {}", first.field, first.message),
        1 => format!("{} {} (and 1 more problem)", first.field, first.message),
        n => format!("{} {} (and {n} more problems)", first.field, first.message),
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(why) => ServiceError::Unavailable(why),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

/// The keyset position of a list page, opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(i64);

impl Cursor {
    pub fn parse(text: &str) -> Result<Cursor, ServiceError> {
        let bad = || ServiceError::BadRequest("cursor is not one this server issued".into());
        let hex = text.strip_prefix('c').ok_or_else(bad)?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        i64::from_str_radix(hex, 16)
            .ok()
            .filter(|p| *p >= 0)
            .map(Cursor)
            .ok_or_else(bad)
    }

    pub fn encode(self) -> String {
        format!("c{:x}", self.0)
    }
}

/// One page of users and the cursor of the next, if there may be one.
#[derive(Debug)]
pub struct UserPage {
    pub users: Vec<UserSummary>,
    pub next: Option<Cursor>,
}

#[derive(Clone)]
pub struct Onboarding {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Onboarding {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Onboarding { store, clock }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The enterprise a bearer API key belongs to.
    pub async fn authenticate(&self, api_key: &str) -> Result<Enterprise, ServiceError> {
        self.store
            .enterprise_by_key(&KeyHash::of(api_key))
            .await?
            .ok_or(ServiceError::Unauthorized)
    }

    /// `POST /v1/enterprise/register-account` (CONTRACT §2, §3).
    pub async fn register(
        &self,
        enterprise: &Enterprise,
        body: Value,
    ) -> Result<User, ServiceError> {
        let now = self.clock.now();
        let advisor_problem = self.advisor_problem(enterprise.id, &body).await?;
        let registration = match (Registration::parse(body, now.date()), advisor_problem) {
            (Ok(r), None) => r,
            (Ok(_), Some(p)) => return Err(ServiceError::Invalid(vec![p])),
            (Err(mut problems), p) => {
                problems.extend(p);
                return Err(ServiceError::Invalid(problems));
            }
        };
        let user = registration.into_user(Uuid::now_v7());
        match self.store.insert_user(enterprise.id, &user, now).await {
            Ok(()) => Ok(user),
            Err(StoreError::Conflict(_)) => Err(ServiceError::Conflict(format!(
                "user_id {} is already taken in this enterprise (ids are never reused, \
                 even after deactivation)",
                user.summary.user_id
            ))),
            Err(StoreError::AdvisorUnavailable) => {
                Err(ServiceError::Invalid(vec![advisor_missing(
                    user.summary.advisor_user_id.as_deref().unwrap_or_default(),
                )]))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The `advisor_user_id` rule needs the store, so it runs beside the parse and
    /// its problem joins the others. The insert checks again, atomically.
    async fn advisor_problem(
        &self,
        enterprise: EnterpriseId,
        body: &Value,
    ) -> Result<Option<FieldProblem>, ServiceError> {
        let role = body.get("account_role").and_then(Value::as_str);
        let advisor = body.get("advisor_user_id").and_then(Value::as_str);
        let (Some(advisor), false) = (
            advisor,
            role.is_some_and(|r| r.eq_ignore_ascii_case("advisor")),
        ) else {
            return Ok(None);
        };
        if UserId::parse(advisor).is_err() {
            return Ok(None);
        }
        Ok(match self.store.find_user(enterprise, advisor).await? {
            None => Some(advisor_missing(advisor)),
            Some(u) if u.summary.account_role != AccountRole::Advisor => Some(FieldProblem {
                field: "advisor_user_id".into(),
                message: format!("names {advisor}, which is a client, not an advisor"),
            }),
            Some(_) => None,
        })
    }

    /// `GET /v1/enterprise/users/:user_id`.
    pub async fn user(&self, enterprise: &Enterprise, user_id: &str) -> Result<User, ServiceError> {
        self.store
            .find_user(enterprise.id, user_id)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("No user with user_id {user_id} exists."))
            })
    }

    /// One page of `GET /v1/enterprise/users`; the full list is these pages streamed.
    pub async fn list_page(
        &self,
        enterprise: EnterpriseId,
        filter: UserFilter,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<UserPage, ServiceError> {
        // One row more than asked says whether another page exists, so a full last
        // page ends with `next_cursor: null` instead of costing an empty round trip.
        let mut rows = self
            .store
            .list_users(enterprise, filter, after.map(|c| c.0), limit + 1)
            .await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = if more {
            rows.last().map(|r| Cursor(r.position))
        } else {
            None
        };
        Ok(UserPage {
            users: rows.into_iter().map(|r| r.user).collect(),
            next,
        })
    }

    /// `DELETE /v1/enterprise/account/:user_id`.
    pub async fn deactivate(
        &self,
        enterprise: &Enterprise,
        user_id: &str,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        if self
            .store
            .deactivate_user(enterprise.id, user_id, now)
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::NotFound(
                "The account does not exist to be disabled.".into(),
            ))
        }
    }
}

fn advisor_missing(advisor: &str) -> FieldProblem {
    FieldProblem {
        field: "advisor_user_id".into(),
        message: format!("names {advisor}, which is not an active advisor of this enterprise"),
    }
}
