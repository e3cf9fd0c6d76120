//! Registering, reading, listing and deactivating end users (CONTRACT §2, §3).

use crate::events::ChangeNotifier as _;
use onboard_api::FieldProblem;
use serde_json::Value;
use uuid::Uuid;

use super::{Cursor, NoSuchUser, Onboarding, ServiceError, UserPage, user_not_found};
use crate::lifecycle;
use crate::registration::Registration;
use crate::store::{Deactivation, Enterprise, EnterpriseId, StoreError, UserFilter};
use crate::user::{AccountRole, User};
use crate::values::UserId;
use crate::verification::{Channel, Code, CodeRecord};

impl Onboarding {
    /// `POST /v1/enterprise/register-account` (CONTRACT §2, §3).
    pub async fn register(
        &self,
        enterprise: &Enterprise,
        body: Value,
    ) -> Result<User, ServiceError> {
        let now = self.clock.now();
        let advisor_problem = self.advisor_problem(enterprise.id, &body).await?;
        let registration = match (
            Registration::parse_with(body, now.date(), self.rules),
            advisor_problem,
        ) {
            (Ok(r), None) => r,
            (Ok(_), Some(p)) => return Err(ServiceError::Invalid(vec![p])),
            (Err(mut problems), p) => {
                problems.extend(p);
                return Err(ServiceError::Invalid(problems));
            }
        };
        let unsupported = self
            .review
            .unsupported
            .unsupported_in(&registration.profile);
        let start = lifecycle::registered(registration.account_type, unsupported.as_deref());
        let mut user = registration.into_user(Uuid::now_v7());
        user.summary.status = start.status;
        user.summary.requirements = start.requirements;
        // Registration sends the first email code itself (CONTRACT §4). It is
        // stored with the user, in the same commit; a new user has no earlier code
        // and no throttle to respect, so no decision is needed.
        let first_code = unsupported.is_none().then(|| {
            let code = Code::generate(self.random.as_ref());
            let record = CodeRecord::new(Code::hash(user.id, Channel::Email, code.expose()), now);
            (code, record)
        });
        let stored_code = first_code
            .as_ref()
            .map(|(_, record)| (Channel::Email, record));
        match self
            .store
            .insert_user(enterprise.id, &user, &start.cause, stored_code, now)
            .await
        {
            Ok(()) => self.changes.changed(enterprise.id),
            Err(StoreError::Conflict(_)) => {
                return Err(ServiceError::Conflict(format!(
                    "user_id {} is already taken in this enterprise (ids are never reused, \
                     even after deactivation)",
                    user.summary.user_id
                )));
            }
            Err(StoreError::AdvisorUnavailable) => {
                return Err(ServiceError::Invalid(vec![advisor_missing(
                    user.summary
                        .advisor_user_id
                        .as_ref()
                        .map_or("", |id| id.as_str()),
                )]));
            }
            Err(e) => return Err(e.into()),
        }
        if let Some((code, _)) = first_code {
            // The user exists either way; a failed send is logged (and its code
            // undone) and the client can ask again with send-verification.
            let sent = self.deliver(enterprise, &user.summary, Channel::Email, code, now, None);
            if let Err(e) = sent.await {
                tracing::warn!(error = %e, "the first email code could not be sent");
            }
        }
        Ok(user)
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
    pub async fn user(
        &self,
        enterprise: &Enterprise,
        user_id: &UserId,
    ) -> Result<User, ServiceError> {
        self.store
            .find_user(enterprise.id, user_id.as_str())
            .await?
            .ok_or_else(|| user_not_found(user_id.as_str()))
    }

    /// `GET /v1/enterprise/users/:user_id`: [`Onboarding::user`] as its wire JSON
    /// (`EndUser`), stored with the row when it was written.
    pub async fn user_json(
        &self,
        enterprise: &Enterprise,
        user_id: &UserId,
    ) -> Result<String, ServiceError> {
        self.store
            .user_json(enterprise.id, user_id.as_str())
            .await?
            .ok_or_else(|| user_not_found(user_id.as_str()))
    }

    /// One page of `GET /v1/enterprise/users`, each user as its list-shape JSON;
    /// the full list is these pages streamed.
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
            .list_users_json(enterprise, filter, after.map(|c| c.0), limit + 1)
            .await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = if more {
            rows.last().map(|r| Cursor(r.position))
        } else {
            None
        };
        Ok(UserPage {
            users: rows.into_iter().map(|r| r.json).collect(),
            next,
        })
    }

    /// `DELETE /v1/enterprise/account/:user_id`.
    pub async fn deactivate(
        &self,
        enterprise: &Enterprise,
        user_id: &UserId,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        match self
            .store
            .deactivate_user(enterprise.id, user_id.as_str(), now)
            .await?
        {
            Deactivation::Deactivated => {
                self.feed_tokens.forget(enterprise.id, user_id.as_str());
                self.changes.changed(enterprise.id);
                Ok(())
            }
            Deactivation::NoActiveUser => Err(NoSuchUser::Account.error(user_id.as_str())),
        }
    }
}

fn advisor_missing(advisor: &str) -> FieldProblem {
    FieldProblem {
        field: "advisor_user_id".into(),
        message: format!("names {advisor}, which is not an active advisor of this enterprise"),
    }
}
