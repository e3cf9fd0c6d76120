//! Sending and confirming codes, and operator reviews (CONTRACT §2, §4). The rules
//! are `lifecycle::decide_*`; this module fetches, delivers and reports.

use crate::events::ChangeNotifier as _;
use onboard_api::CodeSent;

use super::{Onboarding, ServiceError, user_not_found};
use crate::delivery::{CodeMessage, DeliveryError};
use crate::lifecycle::{self, Trigger};
use crate::store::{Decide, Decided, Enterprise};
use crate::user::UserSummary;
use crate::values::UserId;
use crate::verification::{Channel, Code, CodeRecord};
use time::OffsetDateTime;

impl Onboarding {
    /// `POST /v1/enterprise/users/send-verification/:user_id`.
    pub async fn send_code(
        &self,
        enterprise: &Enterprise,
        user_id: &UserId,
        channel: Channel,
    ) -> Result<CodeSent, ServiceError> {
        let now = self.clock.now();
        let code = Code::generate(self.random.as_ref());
        let quota = self.quotas.codes_per_day;
        let decide: Decide<'_> = &|user, existing| {
            let fresh = CodeRecord::new(Code::hash(user.id, channel, code.expose()), now);
            lifecycle::decide_send(&user.summary, existing, channel, fresh, quota)
        };
        let decided = self.run(enterprise, user_id, Some(channel), decide).await?;
        let previous = decided.previous_code.as_ref();
        self.deliver(
            enterprise,
            &decided.user.summary,
            channel,
            code,
            now,
            previous,
        )
        .await
    }

    /// Hands a stored code to its channel. On failure the code is undone (the one
    /// it replaced, `previous`, works again) so that the client may ask again at
    /// once, and the failure is reported: a 502 naming the channel, or the storage
    /// failure itself.
    pub(super) async fn deliver(
        &self,
        enterprise: &Enterprise,
        user: &UserSummary,
        channel: Channel,
        code: Code,
        sent_at: OffsetDateTime,
        previous: Option<&CodeRecord>,
    ) -> Result<CodeSent, ServiceError> {
        let to = match channel {
            Channel::Email => user.email.to_string(),
            Channel::Sms => user.phone_number.to_string(),
        };
        let message = CodeMessage {
            enterprise: enterprise.id,
            user_id: user.user_id.to_string(),
            channel,
            to: to.clone(),
            code,
            sent_at,
        };
        if let Err(e) = self.delivery.for_channel(channel).deliver(&message).await {
            tracing::warn!(channel = channel.as_str(), error = %e, "code delivery failed");
            let failure = match e {
                DeliveryError::Channel(why) => ServiceError::DeliveryFailed(format!(
                    "The {channel} code could not be delivered: {why}"
                )),
                DeliveryError::Store(store) => store.into(),
            };
            let restored = self
                .store
                .restore_code(
                    enterprise.id,
                    user.user_id.as_str(),
                    channel,
                    sent_at,
                    previous,
                )
                .await;
            if let Err(e) = restored {
                // The delivery failure is what the client needs to hear about.
                tracing::warn!(error = %e, "an undelivered code could not be undone");
            }
            return Err(failure);
        }
        let (email, phone_number) = match channel {
            Channel::Email => (Some(to), None),
            Channel::Sms => (None, Some(to)),
        };
        Ok(CodeSent {
            user_id: user.user_id.to_string(),
            r#type: channel.as_str().into(),
            email,
            phone_number,
        })
    }

    /// `POST /v1/enterprise/users/verify/:user_id`: `otp` is already six digits.
    pub async fn confirm_code(
        &self,
        enterprise: &Enterprise,
        user_id: &UserId,
        channel: Channel,
        otp: &str,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let policy = self.review.policy;
        let decide: Decide<'_> = &|user, existing| {
            let presented = Code::hash(user.id, channel, otp);
            lifecycle::decide_confirm(&user.summary, existing, channel, &presented, now, policy)
        };
        self.run(enterprise, user_id, Some(channel), decide).await?;
        self.changes.changed(enterprise.id);
        Ok(())
    }

    /// `onboard users approve|reject`: an operator's decision under `manual`
    /// review. The `user.updated` event it appends names the operator and the note.
    pub async fn review(
        &self,
        enterprise: &Enterprise,
        user_id: &UserId,
        approve: bool,
        by: &super::Actor,
        note: &str,
    ) -> Result<(), ServiceError> {
        let attribution = by.attribution(note)?;
        let trigger = if approve {
            Trigger::Approved
        } else {
            Trigger::Rejected
        };
        let policy = self.review.policy;
        let decide: Decide<'_> = &|user, _| {
            let mut decision = lifecycle::decide_review(&user.summary, trigger, policy);
            if let Some(transition) = &mut decision.transition {
                transition.by = Some(attribution.clone());
            }
            decision
        };
        self.run(enterprise, user_id, None, decide).await?;
        self.changes.changed(enterprise.id);
        Ok(())
    }

    async fn run(
        &self,
        enterprise: &Enterprise,
        user_id: &UserId,
        channel: Option<Channel>,
        decide: Decide<'_>,
    ) -> Result<Decided, ServiceError> {
        let now = self.clock.now();
        let decided = self
            .store
            .decide(enterprise.id, user_id.as_str(), channel, now, decide)
            .await?
            .ok_or_else(|| user_not_found(user_id.as_str()))?;
        match &decided.outcome {
            Ok(()) => Ok(decided),
            Err(refusal) => Err(ServiceError::Refused(refusal.clone())),
        }
    }
}
