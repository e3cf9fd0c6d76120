//! `onboard serve`'s configuration, typed and layered: defaults, then the TOML file
//! named by `--config`, then environment variables, then flags (clap merges the
//! last two: a flag beats its variable). Secrets have redacting `Debug`s.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! sandbox = true
//! database_url = "postgres://onboard@db.internal:5432/onboard"
//! [database]                                 # PostgreSQL pool
//! max_connections = 16
//! acquire_timeout_ms = 3000
//! [review]
//! policy = "manual"                          # or "auto" (default)
//! unsupported_jurisdictions = ["CU", "US-NY"]
//! [events]
//! retention_days = 30
//! retention_max_events = 1000000
//! max_connections_per_key = 20000            # WebSocket connections per key
//! [email]
//! channel = "smtp"                           # or "outbox" (default)
//! smtp = { host = "smtp.example.com", port = 587, tls = "starttls",
//!          username = "onboard", password = "…", from = "Onboard <no-reply@example.com>" }
//! [sms]
//! channel = "webhook"                        # or "outbox" (default)
//! webhook = { url = "https://sms-relay.example.com/send", secret = "…" }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use onboard_delivery::smtp::SmtpConfig;
use onboard_delivery::webhook::WebhookConfig;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub body_limit: Option<usize>,
    pub sandbox: Option<bool>,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub review: ReviewConfig,
    #[serde(default)]
    pub events: EventsConfig,
    #[serde(default)]
    pub email: EmailConfig,
    #[serde(default)]
    pub sms: SmsConfig,
}

/// PostgreSQL pool settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub max_connections: Option<u32>,
    pub acquire_timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewConfig {
    pub policy: Option<String>,
    pub unsupported_jurisdictions: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    pub retention_days: Option<u64>,
    pub retention_max_events: Option<u64>,
    pub max_connections_per_key: Option<usize>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailChannel {
    #[default]
    Outbox,
    Smtp,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    #[serde(default)]
    pub channel: EmailChannel,
    pub smtp: Option<SmtpConfig>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsChannel {
    #[default]
    Outbox,
    Webhook,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    #[serde(default)]
    pub channel: SmsChannel,
    pub webhook: Option<WebhookConfig>,
}

impl FileConfig {
    /// Reads `path`, or the empty configuration when there is none.
    pub fn load(path: Option<&Path>) -> anyhow::Result<FileConfig> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("Failed to read the configuration file {}", path.display()))?;
        let mut config: FileConfig = toml::from_str(&text).with_context(|| {
            format!("Failed to parse the configuration file {}", path.display())
        })?;
        config.secrets_from_env();
        config.check()?;
        Ok(config)
    }

    /// Secrets may stay out of the file: `ONBOARD_SMTP_PASSWORD` and
    /// `ONBOARD_WEBHOOK_SECRET` override what it says.
    fn secrets_from_env(&mut self) {
        if let (Some(smtp), Ok(password)) = (
            self.email.smtp.as_mut(),
            std::env::var("ONBOARD_SMTP_PASSWORD"),
        ) {
            smtp.password = Some(password);
        }
        if let (Some(webhook), Ok(secret)) = (
            self.sms.webhook.as_mut(),
            std::env::var("ONBOARD_WEBHOOK_SECRET"),
        ) {
            webhook.secret = secret;
        }
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.email.channel == EmailChannel::Smtp && self.email.smtp.is_none() {
            bail!("[email] channel = \"smtp\" needs an [email.smtp] table");
        }
        if self.sms.channel == SmsChannel::Webhook && self.sms.webhook.is_none() {
            bail!("[sms] channel = \"webhook\" needs an [sms.webhook] table");
        }
        Ok(())
    }
}
