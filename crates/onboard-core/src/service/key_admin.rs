//! Creating, listing, revoking and rotating an enterprise's API keys (CONTRACT
//! §8). The keys themselves are shown once, here; the store keeps their hashes.

use time::Duration;

use super::{Actor, Onboarding, ServiceError};
use crate::access::{
    self, ApiKeyId, ApiKeyRecord, KeyRefusal, NewApiKey, Revocation, Role, Rotation,
};
use crate::secret::ApiKey;
use crate::store::Enterprise;
use crate::time_format::rfc3339_millis;

/// A new key: its record, and the key itself, to show once.
#[derive(Debug)]
pub struct CreatedKey {
    pub record: ApiKeyRecord,
    pub key: ApiKey,
}

/// A rotation: the old key (now expiring), the new one, and the new key itself.
#[derive(Debug)]
pub struct RotatedKey {
    pub old: ApiKeyRecord,
    pub new: ApiKeyRecord,
    pub key: ApiKey,
}

impl Onboarding {
    /// `onboard keys create`: a new key for the enterprise, expiring after
    /// `expires_in` if given.
    pub async fn create_key(
        &self,
        enterprise: &Enterprise,
        label: &str,
        expires_in: Option<Duration>,
        by: Option<&Actor>,
    ) -> Result<CreatedKey, ServiceError> {
        may_manage_keys(by)?;
        let label = access::parse_label(label).map_err(|e| ServiceError::BadRequest(e.0))?;
        if expires_in.is_some_and(|d| d <= Duration::ZERO) {
            return Err(ServiceError::BadRequest(
                "a key must live longer than 0 seconds; without an expiry it lives until revoked"
                    .into(),
            ));
        }
        let now = self.clock.now();
        let (new, key) = new_key(enterprise, label, by)?;
        let new = NewApiKey {
            expires_at: expires_in.map(|d| now + d),
            ..new
        };
        let record = self.store.insert_api_key(&new, now).await?;
        Ok(CreatedKey { record, key })
    }

    /// `onboard keys list`: every key of the enterprise, oldest first.
    pub async fn keys_of(
        &self,
        enterprise: &Enterprise,
    ) -> Result<Vec<ApiKeyRecord>, ServiceError> {
        Ok(self.store.list_api_keys(enterprise.id).await?)
    }

    /// `onboard keys revoke`: the key stops working at once, on every node.
    pub async fn revoke_key(
        &self,
        enterprise: &Enterprise,
        id: &ApiKeyId,
        by: Option<&Actor>,
    ) -> Result<ApiKeyRecord, ServiceError> {
        may_manage_keys(by)?;
        let by_name = by.map(|actor| actor.name.as_str());
        let now = self.clock.now();
        match self
            .store
            .revoke_api_key(enterprise.id, id, by_name, now)
            .await?
        {
            Revocation::Revoked(record) => {
                self.keys.clear();
                Ok(record)
            }
            Revocation::Refused(refusal) => Err(refused(enterprise, id, refusal)),
        }
    }

    /// `onboard keys rotate`: a new key now, and the old one expiring after
    /// `grace` (or at its own earlier expiry).
    pub async fn rotate_key(
        &self,
        enterprise: &Enterprise,
        id: &ApiKeyId,
        grace: Duration,
        by: Option<&Actor>,
    ) -> Result<RotatedKey, ServiceError> {
        may_manage_keys(by)?;
        let now = self.clock.now();
        let old_label = self
            .store
            .list_api_keys(enterprise.id)
            .await?
            .into_iter()
            .find(|k| &k.id == id)
            .map(|k| k.label)
            .ok_or_else(|| refused(enterprise, id, KeyRefusal::Unknown))?;
        let (new, key) = new_key(enterprise, old_label, by)?;
        match self
            .store
            .rotate_api_key(id, &new, now + grace, now)
            .await?
        {
            Rotation::Rotated { old, new } => {
                self.keys.clear();
                Ok(RotatedKey {
                    old: *old,
                    new: *new,
                    key,
                })
            }
            Rotation::Refused(refusal) => Err(refused(enterprise, id, refusal)),
        }
    }
}

/// Keys are an admin's to manage: a named operator must be one.
fn may_manage_keys(by: Option<&Actor>) -> Result<(), ServiceError> {
    match by {
        Some(actor) if actor.role != Role::Admin => Err(ServiceError::Forbidden(format!(
            "operator {} is a {}; only admins manage API keys",
            actor.name,
            actor.role.as_str()
        ))),
        _ => Ok(()),
    }
}

fn new_key(
    enterprise: &Enterprise,
    label: String,
    by: Option<&Actor>,
) -> Result<(NewApiKey, ApiKey), ServiceError> {
    let key = ApiKey::generate()
        .map_err(|e| ServiceError::Internal(format!("no random bytes for an API key: {e}")))?;
    let new = NewApiKey {
        id: ApiKeyId::generate(),
        enterprise: enterprise.id,
        label,
        hash: key.hash(),
        expires_at: None,
        created_by: by.map(|actor| actor.name.to_string()),
    };
    Ok((new, key))
}

fn refused(enterprise: &Enterprise, id: &ApiKeyId, refusal: KeyRefusal) -> ServiceError {
    match refusal {
        KeyRefusal::Unknown => ServiceError::NotFound(format!(
            "No key {id} belongs to enterprise {:?}.",
            enterprise.name
        )),
        KeyRefusal::AlreadyRevoked(at) => ServiceError::Conflict(format!(
            "Key {id} was already revoked at {}.",
            rfc3339_millis(at)
        )),
        KeyRefusal::Expired(at) => ServiceError::Conflict(format!(
            "Key {id} expired at {}; create a new key instead of rotating it.",
            rfc3339_millis(at)
        )),
        KeyRefusal::AlreadyRotated(next) => ServiceError::Conflict(format!(
            "Key {id} was already rotated; its successor is {next}."
        )),
    }
}
