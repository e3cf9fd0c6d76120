//! One-time codes (CONTRACT §4): six digits from a CSPRNG, stored hashed, valid ten
//! minutes, five wrong tries burn them, one send per channel per 30 seconds.

use std::fmt;

use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::random::Random;
use crate::values::ValueError;

pub const CODE_TTL: Duration = Duration::minutes(10);
pub const RESEND_INTERVAL: Duration = Duration::seconds(30);
pub const MAX_ATTEMPTS: u32 = 5;

/// Where a code goes: the user's email address or phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        match text.to_ascii_lowercase().as_str() {
            "email" => Ok(Channel::Email),
            "sms" => Ok(Channel::Sms),
            _ => Err(ValueError::NotInList("email, sms".into())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fresh six-digit code. `Debug` hides it; only delivery sees the digits.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

impl Code {
    pub fn generate(random: &dyn Random) -> Code {
        Code(format!("{:06}", random.below(1_000_000)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The stored form: SHA-256 over the user's server id, the channel and the
    /// digits, so equal codes of two users or channels never share a hash.
    pub fn hash(user: Uuid, channel: Channel, digits: &str) -> String {
        let mut h = Sha256::new();
        h.update(user.as_bytes());
        h.update(channel.as_str().as_bytes());
        h.update(digits.as_bytes());
        hex::encode(h.finalize())
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code(******)")
    }
}

/// A presented code must be six ASCII digits; anything else is a malformed request.
pub fn parse_otp(text: &str) -> Result<String, ValueError> {
    let digits = text.trim();
    if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(digits.to_owned())
    } else {
        Err(ValueError::Rule("must be the 6-digit code".into()))
    }
}

/// The stored state of a user's code on one channel. `hash` is `None` once the
/// code was used; the row stays so that the resend interval still holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub hash: Option<String>,
    pub sent_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub failed_attempts: u32,
    /// When the codes of the last [`CODE_QUOTA_WINDOW`] on this channel were sent,
    /// oldest first, this one included: the daily quota counts them.
    pub recent_sends: Vec<OffsetDateTime>,
}

/// The span over which codes per user and channel are counted.
pub const CODE_QUOTA_WINDOW: Duration = Duration::hours(24);

impl CodeRecord {
    pub fn new(hash: String, now: OffsetDateTime) -> Self {
        CodeRecord {
            hash: Some(hash),
            sent_at: now,
            expires_at: now + CODE_TTL,
            failed_attempts: 0,
            recent_sends: vec![now],
        }
    }

    /// With `quota` codes per [`CODE_QUOTA_WINDOW`], may this code follow the sends
    /// of `before`? If so the code, carrying the sends still in the window; if not,
    /// the seconds until the oldest of them leaves it.
    pub fn following(mut self, before: Option<&CodeRecord>, quota: u32) -> Result<CodeRecord, u64> {
        let now = self.sent_at;
        let start = now - CODE_QUOTA_WINDOW;
        let mut recent: Vec<OffsetDateTime> = before
            .map(|code| code.recent_sends.clone())
            .unwrap_or_default();
        recent.retain(|sent| *sent > start && *sent <= now);
        let quota = usize::try_from(quota.max(1)).unwrap_or(usize::MAX);
        if recent.len() >= quota {
            let frees = recent[recent.len() - quota] + CODE_QUOTA_WINDOW;
            return Err(((frees - now).whole_milliseconds().max(1) as u64).div_ceil(1000));
        }
        recent.push(now);
        self.recent_sends = recent;
        Ok(self)
    }

    /// Seconds until another code may be sent, if one may not be sent now.
    pub fn resend_wait(&self, now: OffsetDateTime) -> Option<u64> {
        let ready = self.sent_at + RESEND_INTERVAL;
        (now < ready).then(|| ((ready - now).whole_milliseconds() as u64).div_ceil(1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SequenceRandom;

    #[test]
    fn codes_are_six_digits_and_hash_per_user_and_channel() {
        let random = SequenceRandom::new(7);
        for _ in 0..100 {
            let code = Code::generate(&random);
            assert_eq!(code.expose().len(), 6);
            assert!(code.expose().bytes().all(|b| b.is_ascii_digit()));
        }
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_ne!(
            Code::hash(a, Channel::Email, "123456"),
            Code::hash(b, Channel::Email, "123456")
        );
        assert_ne!(
            Code::hash(a, Channel::Email, "123456"),
            Code::hash(a, Channel::Sms, "123456")
        );
    }

    #[test]
    fn the_daily_quota_counts_the_sends_of_the_last_24_hours() {
        let start = OffsetDateTime::UNIX_EPOCH;
        let mut code = CodeRecord::new("h".into(), start);
        for minute in 1..3 {
            let next = CodeRecord::new("h".into(), start + Duration::minutes(minute));
            code = next.following(Some(&code), 3).expect("within the quota");
        }
        assert_eq!(code.recent_sends.len(), 3);
        // The fourth within the day waits for the first to leave the window.
        let fourth = CodeRecord::new("h".into(), start + Duration::hours(1));
        assert_eq!(fourth.clone().following(Some(&code), 3), Err(23 * 3600));
        // A day after the first send there is room again, and the window slides.
        let later = CodeRecord::new("h".into(), start + Duration::hours(24));
        let later = later
            .following(Some(&code), 3)
            .expect("the first send left");
        assert_eq!(later.recent_sends.len(), 3);
        assert_eq!(later.recent_sends[0], start + Duration::minutes(1));
    }

    #[test]
    fn the_resend_wait_rounds_up_to_whole_seconds() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let record = CodeRecord::new("h".into(), now);
        assert_eq!(record.resend_wait(now), Some(30));
        assert_eq!(
            record.resend_wait(now + Duration::milliseconds(29_001)),
            Some(1)
        );
        assert_eq!(record.resend_wait(now + Duration::seconds(30)), None);
    }
}
