//! Events ready to send: each with the user token its message carries. Tokens are
//! minted in one write per batch, 24 h from now, and only their hashes are stored.

use onboard_api::{FeedPayload, FeedRequirements, FeedToken};
use onboard_core::events::{Event, EventKind};
use onboard_core::secret::{USER_TOKEN_TTL, UserToken};
use onboard_core::service::Onboarding;
use onboard_core::store::{EnterpriseId, TokenGrant};
use onboard_core::time_format::rfc3339_millis;

/// An event and the token minted for it (`None` for a deactivation, or when the
/// user was deactivated before the token could be minted).
#[derive(Debug)]
pub struct FeedItem {
    pub event: Event,
    pub token: Option<FeedToken>,
}

impl FeedItem {
    /// Whether the event is sent on the WebSocket feed. CONTRACT §5 sends a
    /// message on registration and on every status or requirements change;
    /// deactivations stay in the log (and `GET /v1/enterprise/events`) only.
    pub fn is_sent(&self) -> bool {
        self.event.kind != EventKind::Deactivated
    }

    /// `payload` in the shape of `seeds/000_*`.
    pub fn payload(&self) -> FeedPayload {
        let u = &self.event.user;
        FeedPayload {
            user_id: u.user_id.clone(),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            email: u.email.clone(),
            phone_number: u.phone_number.clone(),
            account_role: u.account_role.as_str().to_owned(),
            account_type: u.account_type.as_str().to_owned(),
            status: u.status.as_str().to_owned(),
            user_token: self.token.clone(),
            requirements: FeedRequirements {
                sms: u.requirements.sms,
                email: u.requirements.email,
            },
        }
    }
}

/// Mints the tokens of a batch of events in one write. If that write fails the
/// messages still go out, without tokens, rather than stalling the feed.
pub async fn items_with_tokens(
    onboarding: &Onboarding,
    enterprise: EnterpriseId,
    events: Vec<Event>,
) -> Vec<FeedItem> {
    let now = onboarding.clock().now();
    let expires_at = now + USER_TOKEN_TTL;
    let tokens: Vec<Option<UserToken>> = events
        .iter()
        .map(|e| {
            (e.kind != EventKind::Deactivated)
                .then(|| UserToken::generate(onboarding.random().as_ref()))
        })
        .collect();
    let grants: Vec<TokenGrant> = events
        .iter()
        .zip(&tokens)
        .filter_map(|(e, t)| {
            t.as_ref().map(|t| TokenGrant {
                user_id: e.user.user_id.clone(),
                hash: t.hash(),
                expires_at,
            })
        })
        .collect();
    let mut granted = match onboarding
        .store()
        .grant_feed_tokens(enterprise, &grants, now)
        .await
    {
        Ok(granted) => granted.into_iter(),
        Err(e) => {
            tracing::warn!(error = %e, "feed tokens could not be minted");
            vec![false; grants.len()].into_iter()
        }
    };
    events
        .into_iter()
        .zip(tokens)
        .map(|(event, token)| {
            let token = token
                .filter(|_| granted.next().unwrap_or(false))
                .map(|t| FeedToken {
                    token: t.expose().to_owned(),
                    expires: rfc3339_millis(expires_at),
                    partner_user_id: event.user.user_id.clone(),
                });
            FeedItem { event, token }
        })
        .collect()
}
