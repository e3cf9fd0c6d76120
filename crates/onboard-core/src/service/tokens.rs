//! User auth tokens (CONTRACT §2, §4): 64 hex characters, 24 hours, stored as hashes.

use onboard_api::UserTokenOut;

use super::{NoSuchUser, Onboarding, ServiceError};
use crate::secret::{KeyHash, USER_TOKEN_TTL, UserToken};
use crate::store::{Enterprise, EnterpriseId, Minting, TokenGrant};
use crate::time_format::rfc3339_millis;
use crate::user::User;
use crate::values::UserId;

impl Onboarding {
    /// Mints one token per user id, all or nothing; a 404 names the first id that
    /// is not an active user of the enterprise.
    pub async fn mint_tokens(
        &self,
        enterprise: EnterpriseId,
        user_ids: &[UserId],
    ) -> Result<Vec<UserTokenOut>, ServiceError> {
        self.take_tokens(enterprise, user_ids.len())?;
        let now = self.clock.now();
        let expires_at = now + USER_TOKEN_TTL;
        let tokens: Vec<UserToken> = user_ids
            .iter()
            .map(|_| UserToken::generate(self.random.as_ref()))
            .collect();
        let grants: Vec<TokenGrant> = user_ids
            .iter()
            .zip(&tokens)
            .map(|(user_id, token)| TokenGrant {
                user_id: user_id.to_string(),
                hash: token.hash(),
                expires_at,
            })
            .collect();
        if let Minting::UnknownUser(unknown) =
            self.store.mint_tokens(enterprise, &grants, now).await?
        {
            return Err(NoSuchUser::TokenUser.error(&unknown));
        }
        Ok(user_ids
            .iter()
            .zip(tokens)
            .map(|(user_id, token)| UserTokenOut {
                token: token.expose().to_owned(),
                expires: rfc3339_millis(expires_at),
                partner_user_id: user_id.to_string(),
            })
            .collect())
    }

    /// `POST /v1/enterprise/user-tokens/:user_id`.
    pub async fn mint_token(
        &self,
        enterprise: &Enterprise,
        user_id: &UserId,
    ) -> Result<UserTokenOut, ServiceError> {
        let mut minted = self
            .mint_tokens(enterprise.id, std::slice::from_ref(user_id))
            .await?;
        minted
            .pop()
            .ok_or_else(|| ServiceError::Internal("no token minted".into()))
    }

    /// `GET /v1/user`: the active user an unexpired token belongs to.
    pub async fn user_by_token(&self, token: &str) -> Result<User, ServiceError> {
        self.store
            .user_by_token(&KeyHash::of(token), self.clock.now())
            .await?
            .ok_or(ServiceError::Unauthorized)
    }
}
