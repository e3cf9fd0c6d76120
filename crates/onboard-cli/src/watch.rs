//! `onboard watch`: a feed client that prints one JSON line per event and, when
//! the connection drops, reconnects with backoff and resumes after the last
//! `event_id` it printed, so that its output has no gap and no duplicate. The
//! feed protocol, the resume and the backoff are `onboard-client`'s
//! [`Subscription`](onboard_client::Subscription); this is its printer.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use clap::Args;
use onboard_client::{Certificates, FeedClient, FeedUpdate};

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
}

pub async fn run(args: WatchArgs) -> anyhow::Result<()> {
    let mut feed = FeedClient::new(&args.url, args.api_key.as_str())?;
    if let Some(path) = &args.ca_cert {
        let pem =
            std::fs::read(path).with_context(|| format!("Failed to read {}", path.display()))?;
        let roots = Certificates::from_pem(&pem).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        feed = feed.trust_only(&roots)?;
    }
    let mut subscription = feed.subscribe(args.after);
    let mut stdout = std::io::stdout();
    loop {
        match subscription.next().await? {
            FeedUpdate::Message(message) => {
                let line = serde_json::to_string(&message).context("Failed to encode an event")?;
                writeln!(stdout, "{line}")
                    .and_then(|()| stdout.flush())
                    .context("Failed to write to stdout")?;
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
