//! Operators (CONTRACT §8): the people who review users and manage keys. An
//! [`Actor`] is an operator checked to exist and not be disabled; the use cases
//! that record who acted take one.

use super::{Onboarding, ServiceError};
use crate::access::{
    Attribution, MAX_NOTE_CHARS, Operator, OperatorChange, OperatorName, Password, Role,
};
use crate::time_format::rfc3339_millis;

/// An operator allowed to act now: known and not disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: OperatorName,
    pub role: Role,
}

impl Actor {
    /// What an event caused by this operator records: the name and the note.
    pub fn attribution(&self, note: &str) -> Result<Attribution, ServiceError> {
        let note = note.trim();
        if note.chars().count() > MAX_NOTE_CHARS {
            return Err(ServiceError::BadRequest(format!(
                "the note is longer than {MAX_NOTE_CHARS} characters"
            )));
        }
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(ServiceError::BadRequest(
                "the note contains control characters".into(),
            ));
        }
        if crate::values::has_invisible(note) {
            return Err(ServiceError::BadRequest(format!(
                "the note {}",
                crate::values::ValueError::Invisible
            )));
        }
        Ok(Attribution {
            operator: self.name.to_string(),
            note: note.to_owned(),
        })
    }
}

fn unknown(name: &str) -> ServiceError {
    ServiceError::NotFound(format!("No operator is named {name:?}."))
}

fn bad_name(e: crate::access::AccessError) -> ServiceError {
    ServiceError::BadRequest(e.0)
}

impl Onboarding {
    /// A fresh password from the service's randomness.
    pub fn generate_password(&self) -> Password {
        Password::generate(self.random.as_ref())
    }

    /// `onboard operators create`.
    pub async fn create_operator(
        &self,
        name: &str,
        role: Role,
        password: &Password,
    ) -> Result<Operator, ServiceError> {
        let name = OperatorName::parse(name).map_err(bad_name)?;
        let now = self.clock.now();
        let operator = Operator {
            name,
            role,
            password_hash: self.hash_password(password)?,
            created_at: now,
            password_set_at: now,
            disabled_at: None,
        };
        match self.store.insert_operator(&operator).await {
            Ok(()) => Ok(operator),
            Err(crate::store::StoreError::Conflict(_)) => Err(ServiceError::Conflict(format!(
                "An operator named {:?} already exists.",
                operator.name.as_str()
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// `onboard operators list`: every operator, by name.
    pub async fn operators(&self) -> Result<Vec<Operator>, ServiceError> {
        Ok(self.store.list_operators().await?)
    }

    /// `onboard operators disable`: the operator can no longer sign in or act.
    pub async fn disable_operator(&self, name: &str) -> Result<(), ServiceError> {
        match self.store.disable_operator(name, self.clock.now()).await? {
            OperatorChange::Changed => Ok(()),
            OperatorChange::Unknown => Err(unknown(name)),
            OperatorChange::AlreadyDisabled => Err(ServiceError::Conflict(format!(
                "Operator {name:?} is already disabled."
            ))),
        }
    }

    /// `onboard operators reset-password`.
    pub async fn reset_operator_password(
        &self,
        name: &str,
        password: &Password,
    ) -> Result<(), ServiceError> {
        let hash = self.hash_password(password)?;
        match self
            .store
            .set_operator_password(name, &hash, self.clock.now())
            .await?
        {
            OperatorChange::Changed => Ok(()),
            _ => Err(unknown(name)),
        }
    }

    /// The operator named, if it may act now; a clear refusal otherwise.
    pub async fn actor(&self, name: &str) -> Result<Actor, ServiceError> {
        let operator = self
            .store
            .operator_by_name(name)
            .await?
            .ok_or_else(|| unknown(name))?;
        if let Some(at) = operator.disabled_at {
            return Err(ServiceError::Forbidden(format!(
                "Operator {name:?} was disabled at {}; a disabled operator cannot act.",
                rfc3339_millis(at)
            )));
        }
        Ok(Actor {
            name: operator.name,
            role: operator.role,
        })
    }

    /// Checks an operator's password (the console's sign-in). `None` for an
    /// unknown name, a wrong password or a disabled operator alike, so that the
    /// answer does not tell which names exist; an unknown name costs the same
    /// hash as a known one.
    pub async fn verify_operator(
        &self,
        name: &str,
        password: &Password,
    ) -> Result<Option<Actor>, ServiceError> {
        let presented = password.clone();
        let Some(operator) = self.store.operator_by_name(name).await? else {
            let random = self.random.clone();
            blocking(move || presented.hash(random.as_ref()).is_ok()).await?;
            return Ok(None);
        };
        let phc = operator.password_hash.clone();
        let matches = blocking(move || presented.matches(&phc)).await?;
        let may_act = matches && operator.disabled_at.is_none();
        Ok(may_act.then_some(Actor {
            name: operator.name,
            role: operator.role,
        }))
    }

    fn hash_password(&self, password: &Password) -> Result<String, ServiceError> {
        password
            .hash(self.random.as_ref())
            .map_err(|e| ServiceError::Internal(e.0))
    }
}

/// Argon2 is slow on purpose: it runs on a blocking thread, not the runtime's.
async fn blocking(check: impl FnOnce() -> bool + Send + 'static) -> Result<bool, ServiceError> {
    tokio::task::spawn_blocking(check)
        .await
        .map_err(|e| ServiceError::Internal(format!("password check failed: {e}")))
}
