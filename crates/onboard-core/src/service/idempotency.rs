//! Safe retries (CONTRACT §8): an `Idempotency-Key` names a request; its first
//! answer is kept for 24 hours and given again to a retry with the same method,
//! path and body, on any node. The HTTP layer reads the body and captures the
//! answer; the rules live here.

use time::Duration;

use super::{Onboarding, ServiceError};
use crate::store::{Claim, Enterprise, KeptAnswer, RequestTarget};

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// How long a claim holds its key without an answer: a node that dies while
/// running the request frees the key after this.
const LEASE: Duration = Duration::seconds(60);

/// An `Idempotency-Key` header's value, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// 1 to 255 printable ASCII characters.
    pub fn parse(raw: &[u8]) -> Result<Self, ServiceError> {
        if raw.is_empty() || raw.len() > MAX_IDEMPOTENCY_KEY {
            return Err(ServiceError::BadRequest(format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters long; it is {}",
                raw.len()
            )));
        }
        if !raw.iter().all(|b| (0x20..0x7f).contains(b)) {
            return Err(ServiceError::BadRequest(
                "Idempotency-Key must hold printable ASCII characters only".into(),
            ));
        }
        Ok(IdempotencyKey(String::from_utf8_lossy(raw).into_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What to do with a request that carries a key.
#[derive(Debug)]
pub enum Retry {
    /// Run it; then [`Onboarding::keep_answer`] or [`Onboarding::release_key`].
    Run,
    /// Another request with this key is running.
    Wait,
    /// Answer with this, the first request's answer.
    Replay(KeptAnswer),
}

impl Onboarding {
    /// Claims `key` for `request`, or says why it cannot run now.
    pub async fn claim_key(
        &self,
        enterprise: &Enterprise,
        key: &IdempotencyKey,
        request: &RequestTarget,
    ) -> Result<Retry, ServiceError> {
        let now = self.clock.now();
        let claim = self
            .store
            .claim_idempotency_key(enterprise.id, key.as_str(), request, now, now + LEASE)
            .await?;
        Ok(match claim {
            Claim::Claimed => Retry::Run,
            Claim::InFlight => Retry::Wait,
            Claim::Answered(kept) => Retry::Replay(kept),
        })
    }

    /// Whether a retry of `request` with body `fingerprint` may receive `kept`:
    /// the same method, path and body. Otherwise a 422 naming the difference.
    pub fn check_retry(
        key: &IdempotencyKey,
        kept: &KeptAnswer,
        request: &RequestTarget,
        fingerprint: &str,
    ) -> Result<(), ServiceError> {
        let first = &kept.request;
        if first != request {
            return Err(ServiceError::Unprocessable(format!(
                "Idempotency-Key {:?} was first used for {} {}, not {} {}; use a new key \
                 for a new request",
                key.as_str(),
                first.method,
                first.path,
                request.method,
                request.path
            )));
        }
        if kept.fingerprint != fingerprint {
            return Err(ServiceError::Unprocessable(format!(
                "Idempotency-Key {:?} was first used with another body for {} {}; use a new \
                 key for a new request",
                key.as_str(),
                first.method,
                first.path
            )));
        }
        Ok(())
    }

    /// Whether an answer of `status` is kept for retries: everything but server
    /// failures (5xx) and throttling (429), which a retry should try again.
    pub fn answer_is_kept(status: u16) -> bool {
        status < 500 && status != 429
    }

    /// Keeps the first answer to a claimed key.
    pub async fn keep_answer(
        &self,
        enterprise: &Enterprise,
        key: &IdempotencyKey,
        answer: &KeptAnswer,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        self.store
            .keep_idempotent_answer(enterprise.id, key.as_str(), answer, now)
            .await?;
        Ok(())
    }

    /// Frees a claimed key whose answer is not kept.
    pub async fn release_key(
        &self,
        enterprise: &Enterprise,
        key: &IdempotencyKey,
    ) -> Result<(), ServiceError> {
        self.store
            .release_idempotency_key(enterprise.id, key.as_str())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_to_255_printable_characters() {
        assert!(IdempotencyKey::parse(b"a").is_ok());
        assert!(IdempotencyKey::parse(b"order 42 / retry-1").is_ok());
        assert!(IdempotencyKey::parse(&[b'k'; 255]).is_ok());
        assert!(IdempotencyKey::parse(&[b'k'; 256]).is_err());
        assert!(IdempotencyKey::parse(b"").is_err());
        assert!(IdempotencyKey::parse(b"tab\there").is_err());
        assert!(IdempotencyKey::parse("caf\u{e9}".as_bytes()).is_err());
    }

    #[test]
    fn a_retry_must_match_method_path_and_body() {
        let key = IdempotencyKey::parse(b"k1").unwrap();
        let target = |path: &str| RequestTarget {
            method: "POST".into(),
            path: path.into(),
        };
        let kept = KeptAnswer {
            request: target("/v1/enterprise/register-account"),
            fingerprint: "abc".into(),
            status: 201,
            body: "{}".into(),
        };
        let same = target("/v1/enterprise/register-account");
        assert!(Onboarding::check_retry(&key, &kept, &same, "abc").is_ok());
        let Err(ServiceError::Unprocessable(why)) =
            Onboarding::check_retry(&key, &kept, &same, "abd")
        else {
            panic!("another body is refused");
        };
        assert!(why.contains("another body"), "{why}");
        let other = target("/v1/enterprise/user-tokens");
        let Err(ServiceError::Unprocessable(why)) =
            Onboarding::check_retry(&key, &kept, &other, "abc")
        else {
            panic!("another path is refused");
        };
        assert!(why.contains("not POST /v1/enterprise/user-tokens"), "{why}");
    }

    #[test]
    fn server_failures_and_throttling_are_not_kept() {
        assert!(Onboarding::answer_is_kept(201));
        assert!(Onboarding::answer_is_kept(409));
        assert!(Onboarding::answer_is_kept(422));
        assert!(!Onboarding::answer_is_kept(429));
        assert!(!Onboarding::answer_is_kept(503));
    }
}
