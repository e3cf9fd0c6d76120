//! `onboard watch`: a feed client that prints one JSON line per event and, when
//! the connection drops, reconnects with backoff and resumes after the last
//! `event_id` it printed, so that its output has no gap and no duplicate. The
//! feed protocol, the resume and the backoff are `onboard-client`'s
//! [`Subscription`](onboard_client::Subscription); this is its printer.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use clap::Args;
use onboard_api::FeedMessage;
use onboard_client::{Certificates, FeedClient, FeedUpdate};
use onboard_core::random::OsRandom;
use onboard_core::service::{WebhookRequest, WebhookSender as _};
use onboard_core::time_format::rfc3339_millis;
use onboard_core::webhooks::{WebhookSecret, check_url};
use onboard_delivery::outgoing::HttpWebhookSender;
use time::OffsetDateTime;

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The feed's WebSocket URL (`ws://…` or, through TLS, `wss://…`).
    #[arg(long, env = "ONBOARD_WS_URL", default_value = "ws://127.0.0.1:8080/ws")]
    pub url: String,
    /// The enterprise API key.
    #[arg(long, env = "ENTERPRISE_API_KEY", hide_env_values = true)]
    pub api_key: String,
    /// Start after this event_id (replaying everything later); default: live only.
    #[arg(long)]
    pub after: Option<i64>,
    /// For `wss://`: trust only the certificates of this PEM file (a private CA
    /// or a self-signed certificate) instead of the public roots.
    #[arg(long, env = "ONBOARD_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Also POST each event to this URL as a signed Standard Webhooks message
    /// (for developing a webhook handler without a public URL). The signing
    /// secret is printed on stderr at start.
    #[arg(long)]
    pub forward_to: Option<String>,
    /// The secret to sign forwarded messages with (`whsec_…`); default: a new one.
    #[arg(long, env = "ONBOARD_FORWARD_SECRET", hide_env_values = true)]
    pub forward_secret: Option<String>,
}

pub async fn run(args: WatchArgs) -> anyhow::Result<()> {
    let mut feed = FeedClient::new(&args.url, args.api_key.as_str())?;
    if let Some(path) = &args.ca_cert {
        let pem =
            std::fs::read(path).with_context(|| format!("Failed to read {}", path.display()))?;
        let roots = Certificates::from_pem(&pem).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        feed = feed.trust_only(&roots)?;
    }
    let forward = match &args.forward_to {
        Some(url) => Some(Forward::new(url, args.forward_secret.as_deref())?),
        None => None,
    };
    let mut subscription = feed.subscribe(args.after);
    let mut stdout = std::io::stdout();
    loop {
        match subscription.next().await? {
            FeedUpdate::Message(message) => {
                let line = serde_json::to_string(&message).context("Failed to encode an event")?;
                writeln!(stdout, "{line}")
                    .and_then(|()| stdout.flush())
                    .context("Failed to write to stdout")?;
                if let Some(forward) = &forward {
                    forward.send(&message).await;
                }
            }
            FeedUpdate::Reconnecting { reason, delay } => {
                eprintln!(
                    "disconnected ({reason}); reconnecting in {} ms",
                    delay.as_millis()
                );
            }
            FeedUpdate::ServerError { message, .. } => eprintln!("server error: {message}"),
            FeedUpdate::Subscribed { .. } => {}
        }
    }
}

/// `--forward-to`: each feed message POSTed as a signed webhook, in order.
struct Forward {
    url: String,
    secret: WebhookSecret,
    sender: HttpWebhookSender,
}

/// Attempts per message before it is reported and skipped.
const FORWARD_ATTEMPTS: u32 = 3;

impl Forward {
    fn new(url: &str, secret: Option<&str>) -> anyhow::Result<Forward> {
        check_url(url, true).map_err(|e| anyhow!("--forward-to: {e}"))?;
        let secret = match secret {
            Some(text) => WebhookSecret::parse(text)
                .ok_or_else(|| anyhow!("--forward-secret must be whsec_ and base64"))?,
            None => WebhookSecret::generate(&OsRandom),
        };
        let sender = HttpWebhookSender::new().map_err(anyhow::Error::msg)?;
        eprintln!(
            "forwarding events to {url}; signing secret: {}",
            secret.expose()
        );
        Ok(Forward {
            url: url.to_owned(),
            secret,
            sender,
        })
    }

    async fn send(&self, message: &FeedMessage) {
        let id = format!("msg_forward_{}", message.event_id);
        let body = serde_json::json!({
            "type": message.recipient,
            "timestamp": rfc3339_millis(
                OffsetDateTime::from_unix_timestamp_nanos(i128::from(message.timestamp))
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            ),
            "event_id": message.event_id,
            "data": message,
        });
        let body = body.to_string().into_bytes();
        for attempt in 1..=FORWARD_ATTEMPTS {
            let now = OffsetDateTime::now_utc().unix_timestamp();
            let request = WebhookRequest {
                url: self.url.clone(),
                message_id: id.clone(),
                timestamp: now,
                signature: self.secret.sign(&id, now, &body),
                body: body.clone(),
                timeout: std::time::Duration::from_secs(15),
                // The point is a handler on this machine.
                allow_private_networks: true,
            };
            let sent = self.sender.post(request).await;
            if sent.result.succeeded() {
                return;
            }
            let why = match sent.result.status {
                Some(status) => format!("answered {status}"),
                None => sent.response,
            };
            eprintln!(
                "forwarding event {} failed ({why}), attempt {attempt} of {FORWARD_ATTEMPTS}",
                message.event_id
            );
            if attempt < FORWARD_ATTEMPTS {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}
