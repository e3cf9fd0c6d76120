//! Sms through a webhook (CONTRACT §4): a signed JSON POST to the operator's URL,
//! retried with backoff.
//!
//! Signature: `X-Onboard-Timestamp: <unix seconds>` and
//! `X-Onboard-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`. The
//! receiver recomputes it over the raw body and rejects stale timestamps.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use onboard_core::delivery::{CodeMessage, Deliver, DeliveryError};
use onboard_core::time_format::rfc3339_millis;
use serde::Deserialize;
use sha2::Sha256;

pub const TIMESTAMP_HEADER: &str = "x-onboard-timestamp";

/// The longest wait between two tries, however many there are.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
pub const SIGNATURE_HEADER: &str = "x-onboard-signature";

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// The shared HMAC secret (or `ONBOARD_WEBHOOK_SECRET`, which wins).
    #[serde(default)]
    pub secret: String,
    /// Tries in all, the first included (default 4).
    pub max_attempts: Option<u32>,
    /// Wait before the first retry, doubled each time (default 200 ms).
    pub backoff_ms: Option<u64>,
    /// Per-try timeout (default 5 s).
    pub timeout_ms: Option<u64>,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

/// The wait after `wait`: doubled, at most [`MAX_BACKOFF`]; it saturates, so no
/// setting can make it overflow.
pub fn next_wait(wait: Duration) -> Duration {
    wait.saturating_mul(2).min(MAX_BACKOFF)
}

/// `v1=` and the hex HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

pub struct WebhookChannel {
    client: reqwest::Client,
    url: reqwest::Url,
    secret: Vec<u8>,
    max_attempts: u32,
    backoff: Duration,
}

impl WebhookChannel {
    pub fn new(config: &WebhookConfig) -> Result<Self, String> {
        let url = reqwest::Url::parse(&config.url)
            .map_err(|e| format!("the webhook URL is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("the webhook URL must be http:// or https://".into());
        }
        if config.secret.len() < 16 {
            return Err("the webhook secret must be at least 16 characters".into());
        }
        let timeout = Duration::from_millis(config.timeout_ms.unwrap_or(5_000));
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("the HTTP client could not be built: {e}"))?;
        Ok(WebhookChannel {
            client,
            url,
            secret: config.secret.as_bytes().to_vec(),
            max_attempts: config.max_attempts.unwrap_or(4).max(1),
            backoff: Duration::from_millis(config.backoff_ms.unwrap_or(200)).min(MAX_BACKOFF),
        })
    }

    async fn try_once(&self, body: &[u8]) -> Result<(), Attempt> {
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let response = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature(&self.secret, timestamp, body))
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| {
                Attempt::Retry(if e.is_timeout() {
                    "timed out"
                } else {
                    "unreachable"
                })
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
            Err(Attempt::Retry("answered with a server error"))
        } else {
            Err(Attempt::Fail(status.as_u16()))
        }
    }
}

enum Attempt {
    Retry(&'static str),
    Fail(u16),
}

#[derive(serde::Serialize)]
struct Payload<'a> {
    channel: &'a str,
    to: &'a str,
    code: &'a str,
    text: String,
    user_id: &'a str,
    sent_at: String,
}

#[async_trait]
impl Deliver for WebhookChannel {
    async fn deliver(&self, m: &CodeMessage) -> Result<(), DeliveryError> {
        let body = serde_json::to_vec(&Payload {
            channel: m.channel.as_str(),
            to: &m.to,
            code: m.code.expose(),
            text: m.text(),
            user_id: &m.user_id,
            sent_at: rfc3339_millis(m.sent_at),
        })
        .map_err(|_| DeliveryError::Channel("the webhook body could not be built".into()))?;
        let mut wait = self.backoff;
        let mut last = "failed";
        for attempt in 1..=self.max_attempts {
            match self.try_once(&body).await {
                Ok(()) => return Ok(()),
                Err(Attempt::Fail(status)) => {
                    return Err(DeliveryError::Channel(format!(
                        "the sms webhook refused the message with status {status}"
                    )));
                }
                Err(Attempt::Retry(why)) => {
                    last = why;
                    tracing::warn!(attempt, why, "sms webhook try failed");
                    if attempt < self.max_attempts {
                        tokio::time::sleep(wait).await;
                        wait = next_wait(wait);
                    }
                }
            }
        }
        Err(DeliveryError::Channel(format!(
            "the sms webhook {last} after {} tries",
            self.max_attempts
        )))
    }
}

#[cfg(test)]
mod backoff_tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_and_saturates_at_the_cap() {
        assert_eq!(
            next_wait(Duration::from_millis(200)),
            Duration::from_millis(400)
        );
        assert_eq!(next_wait(Duration::from_secs(50)), MAX_BACKOFF);
        assert_eq!(next_wait(Duration::MAX), MAX_BACKOFF);
        let mut wait = Duration::from_millis(u64::MAX);
        for _ in 0..200 {
            wait = next_wait(wait);
        }
        assert_eq!(wait, MAX_BACKOFF);
    }
}
