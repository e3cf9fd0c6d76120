//! `onboard watch`: a feed client that prints one JSON line per event and, when
//! the connection drops, reconnects with backoff and resumes after the last
//! `event_id` it printed, so that its output has no gap and no duplicate.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The feed's WebSocket URL.
    #[arg(long, env = "ONBOARD_WS_URL", default_value = "ws://127.0.0.1:8080/ws")]
    pub url: String,
    /// The enterprise API key.
    #[arg(long, env = "ENTERPRISE_API_KEY", hide_env_values = true)]
    pub api_key: String,
    /// Start after this event_id (replaying everything later); default: live only.
    #[arg(long)]
    pub after: Option<i64>,
}

/// Why a connection ended.
enum End {
    /// Worth retrying: the network or the server went away.
    Dropped(String),
    /// Retrying cannot help (a refused key, history no longer held).
    Fatal(String),
}

pub async fn run(args: WatchArgs) -> anyhow::Result<()> {
    let mut after = args.after;
    let mut backoff = Duration::from_millis(250);
    loop {
        match follow(&args, &mut after, &mut backoff).await {
            End::Fatal(why) => bail!("{why}"),
            End::Dropped(why) => {
                eprintln!(
                    "disconnected ({why}); reconnecting in {} ms",
                    backoff.as_millis()
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// One connection: authenticate, subscribe after `after`, print until it ends.
/// `after` advances with every event printed.
/// A subscription that starts resets `backoff`.
async fn follow(args: &WatchArgs, after: &mut Option<i64>, backoff: &mut Duration) -> End {
    let (mut ws, _) = match tokio_tungstenite::connect_async(args.url.as_str()).await {
        Ok(connected) => connected,
        Err(e) => return End::Dropped(format!("cannot connect to {}: {e}", args.url)),
    };
    let auth = json!({"type": "authenticate", "apiKey": args.api_key, "enterprise": true});
    let mut subscribe = json!({"type": "subscribe", "feeds": [onboard_api::USERS_FEED]});
    if let Some(after) = after {
        subscribe["after"] = json!(after);
    }
    for message in [auth, subscribe] {
        if let Err(e) = ws.send(Message::text(message.to_string())).await {
            return End::Dropped(e.to_string());
        }
    }
    let mut stdout = std::io::stdout();
    while let Some(frame) = ws.next().await {
        let text = match frame {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(_)) => {
                return End::Dropped("the server closed the connection".into());
            }
            Ok(_) => continue,
            Err(e) => return End::Dropped(e.to_string()),
        };
        let Ok(value) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        if value.get("type").and_then(Value::as_str) == Some("success")
            && value.get("action").and_then(Value::as_str) == Some("subscribe")
        {
            *backoff = Duration::from_millis(250);
            // Live-only at first: the server says where it started, so that a
            // reconnect before the first event still resumes from there.
            if after.is_none() {
                *after = value["payload"]["after"].as_i64();
            }
            continue;
        }
        if let Some(id) = value.get("event_id").and_then(Value::as_i64) {
            let printed = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
            if printed.context("Failed to write to stdout").is_err() {
                return End::Fatal("stdout is closed".into());
            }
            *after = Some(id);
        } else if value.get("type").and_then(Value::as_str) == Some("error") {
            let action = value["action"].as_str().unwrap_or("");
            let why = value["payload"]["message"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            let transient = why.contains("try again");
            if (action == "authenticate" || action == "subscribe") && !transient {
                return End::Fatal(format!("{action} refused: {why}"));
            }
            eprintln!("server error: {why}");
        }
    }
    End::Dropped("the connection ended".into())
}
