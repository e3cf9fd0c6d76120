//! `onboard serve`'s configuration, typed and layered: defaults, then the TOML file
//! named by `--config`, then environment variables, then flags (clap merges the
//! last two: a flag beats its variable). Secrets have redacting `Debug`s.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! sandbox = true
//! tls_cert = "/etc/onboard/cert.pem"         # HTTPS and wss:// (CONTRACT §13)
//! tls_key = "/etc/onboard/key.pem"
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
//! max_connections_per_key = 20000            # WebSocket connections per enterprise
//! [email]
//! channel = "smtp"                           # or "outbox" (default)
//! smtp = { host = "smtp.example.com", port = 587, tls = "starttls",
//!          username = "onboard", password = "…", from = "Onboard <no-reply@example.com>" }
//! [sms]
//! channel = "webhook"                        # or "outbox" (default)
//! webhook = { url = "https://sms-relay.example.com/send", secret = "…" }
//! [limits]                                   # the edge (CONTRACT §11)
//! header_timeout_ms = 10000
//! body_timeout_ms = 30000
//! idle_timeout_ms = 60000
//! max_connections = 10000
//! shutdown_timeout_ms = 30000
//! ws_auth_timeout_ms = 10000
//! ws_write_timeout_ms = 30000
//! ws_max_auth_failures = 5
//! [console]
//! secure_cookie = true                       # browsers reach the console over TLS
//! [[edd.prompts]]                            # replaces the shipped EDD questionnaires
//! id = 1
//! form = "individual"                        # or "business"
//! prompt = "What is the source of your funds?"
//! response_type = "Single-Select"            # Free-Form | Single-Select | File-Upload
//! response_options = ["Salary", "Savings", "Other"]
//! ```
//!
//! Every number is checked against a range when the file is read: a value out of
//! range is refused with a sentence naming the setting, never wrapped or clamped.

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
    /// The master keyring file (`--master-key-file`).
    pub master_key_file: Option<PathBuf>,
    /// The PEM certificate chain and key to serve HTTPS with (`--tls-cert`,
    /// `--tls-key`).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
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
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    #[serde(default)]
    pub validation: ValidationConfig,
    #[serde(default)]
    pub edd: EddConfig,
    #[serde(default)]
    pub console: ConsoleConfig,
}

/// The operator console (CONTRACT §10).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Mark the console's cookies `Secure` (browsers reach the server over TLS).
    pub secure_cookie: Option<bool>,
}

/// The EDD questionnaires (CONTRACT §7): `[[edd.prompts]]` replaces the shipped
/// ones as a whole, both forms at once.
///
/// ```toml
/// [[edd.prompts]]
/// id = 1
/// form = "individual"                        # or "business"
/// prompt = "What is the source of your funds?"
/// response_type = "Single-Select"            # Free-Form | Single-Select | File-Upload
/// response_options = ["Salary", "Savings", "Other"]
/// is_required = true                         # default true
/// optional_free_form = true                  # default false
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EddConfig {
    pub prompts: Option<Vec<onboard_core::edd::PromptSpec>>,
}

impl EddConfig {
    /// The questionnaires to serve: the file's, checked, or the shipped ones.
    pub fn questionnaires(&self) -> anyhow::Result<onboard_core::edd::Questionnaires> {
        match &self.prompts {
            None => Ok(onboard_core::edd::Questionnaires::default()),
            Some(specs) => {
                onboard_core::edd::Questionnaires::from_specs(specs).map_err(anyhow::Error::msg)
            }
        }
    }
}

/// The edge's limits (CONTRACT §11); flags and environment win over them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub header_timeout_ms: Option<u64>,
    pub body_timeout_ms: Option<u64>,
    pub idle_timeout_ms: Option<u64>,
    pub max_connections: Option<u64>,
    pub shutdown_timeout_ms: Option<u64>,
    pub ws_auth_timeout_ms: Option<u64>,
    pub ws_write_timeout_ms: Option<u64>,
    pub ws_max_auth_failures: Option<u64>,
    /// User tokens a key may mint over REST per minute (default 10,000).
    pub tokens_per_minute: Option<u64>,
    /// Feed replays (`subscribe` with `after`) a key may start per minute (default 60).
    pub replays_per_minute: Option<u64>,
    /// Verification codes per user and channel in 24 hours (default 10).
    pub codes_per_day: Option<u64>,
    /// MiB of documents one user may have stored (default 100).
    pub document_mib_per_user: Option<u64>,
    /// MiB of documents one enterprise may have stored (default 10,240).
    pub document_mib_per_enterprise: Option<u64>,
    /// Emulate the vendor's published per-address rate limits (default false).
    pub vendor_limits: Option<bool>,
}

/// Outgoing event webhooks (CONTRACT §9).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Loopback, private and link-local targets are allowed (default false).
    pub allow_private_networks: Option<bool>,
    /// The waits between attempts, in seconds (default 5, 300, 1800, 7200, 18000,
    /// 36000, 36000).
    pub retry_schedule: Option<Vec<u64>>,
    /// How long one attempt may take (default 15000, at most 50000: below the
    /// 60 s lease of an endpoint).
    pub timeout_ms: Option<u64>,
    /// Days of failure without a success after which an endpoint is disabled
    /// (default 5).
    pub disable_after_days: Option<u64>,
    /// How long a node holds an endpoint it works on (default 60000): after a
    /// crash, the endpoint is taken over once its lease ends.
    pub lease_ms: Option<u64>,
}

/// Validation rules an operator may tighten (CONTRACT §3).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationConfig {
    /// Phone numbers must be valid numbers of `phone_country_code`, not only of a
    /// possible length (default false).
    pub strict_phone_numbers: Option<bool>,
}

/// The longest any timeout may be set to: an hour.
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;
/// The most days of events retention may keep: a century.
pub const MAX_RETENTION_DAYS: u64 = 36_500;

/// `value` if it lies in `min..=max`, else a sentence naming the setting.
pub fn in_range(setting: &str, value: u64, min: u64, max: u64) -> anyhow::Result<u64> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        bail!("{setting} must be between {min} and {max}, not {value}")
    }
}

/// `in_range` for a setting that may be absent.
fn check_opt(setting: &str, value: Option<u64>, min: u64, max: u64) -> anyhow::Result<()> {
    match value {
        Some(value) => in_range(setting, value, min, max).map(|_| ()),
        None => Ok(()),
    }
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
        let mut config = FileConfig::parse(&text)
            .with_context(|| format!("Failed to read the configuration file {}", path.display()))?;
        config.secrets_from_env();
        Ok(config)
    }

    /// Parses and checks a configuration file's text (the environment aside).
    pub fn parse(text: &str) -> anyhow::Result<FileConfig> {
        let config: FileConfig = toml::from_str(text).context("it is not valid TOML")?;
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
        let as_u64 = |n: Option<usize>| n.map(|n| n as u64);
        check_opt("body_limit", as_u64(self.body_limit), 1, 1 << 30)?;
        let db = &self.database;
        check_opt(
            "database.max_connections",
            db.max_connections.map(u64::from),
            1,
            10_000,
        )?;
        check_opt(
            "database.acquire_timeout_ms",
            db.acquire_timeout_ms,
            1,
            MAX_TIMEOUT_MS,
        )?;
        let events = &self.events;
        check_opt(
            "events.retention_days",
            events.retention_days,
            1,
            MAX_RETENTION_DAYS,
        )?;
        check_opt(
            "events.retention_max_events",
            events.retention_max_events,
            1,
            i64::MAX as u64,
        )?;
        check_opt(
            "events.max_connections_per_key",
            as_u64(events.max_connections_per_key),
            1,
            1_000_000,
        )?;
        let hooks = &self.webhooks;
        if let Some(schedule) = &hooks.retry_schedule {
            if schedule.len() > 20 {
                bail!("webhooks.retry_schedule must list at most 20 waits");
            }
            for wait in schedule {
                check_opt("webhooks.retry_schedule", Some(*wait), 0, 7 * 24 * 3600)?;
            }
        }
        // An attempt runs under its endpoint's lease: it must end well within
        // it (at most five sixths of it), so that no other node can take the
        // endpoint while an attempt is still waiting for its answer.
        check_opt("webhooks.lease_ms", hooks.lease_ms, 2_000, 3_600_000)?;
        let lease_ms = hooks.lease_ms.unwrap_or(60_000);
        check_opt("webhooks.timeout_ms", hooks.timeout_ms, 1, lease_ms * 5 / 6)?;
        if hooks.timeout_ms.is_none() && lease_ms * 5 / 6 < 15_000 {
            bail!(
                "webhooks.lease_ms below 18000 needs a webhooks.timeout_ms of at most five sixths of it"
            );
        }
        check_opt(
            "webhooks.disable_after_days",
            hooks.disable_after_days,
            1,
            365,
        )?;
        if let Some(webhook) = &self.sms.webhook {
            check_opt(
                "sms.webhook.max_attempts",
                webhook.max_attempts.map(u64::from),
                1,
                20,
            )?;
            check_opt("sms.webhook.backoff_ms", webhook.backoff_ms, 0, 60_000)?;
            check_opt("sms.webhook.timeout_ms", webhook.timeout_ms, 1, 600_000)?;
        }
        let l = &self.limits;
        for (setting, value) in [
            ("limits.header_timeout_ms", l.header_timeout_ms),
            ("limits.body_timeout_ms", l.body_timeout_ms),
            ("limits.idle_timeout_ms", l.idle_timeout_ms),
            ("limits.shutdown_timeout_ms", l.shutdown_timeout_ms),
            ("limits.ws_auth_timeout_ms", l.ws_auth_timeout_ms),
            ("limits.ws_write_timeout_ms", l.ws_write_timeout_ms),
        ] {
            check_opt(setting, value, 1, MAX_TIMEOUT_MS)?;
        }
        check_opt("limits.max_connections", l.max_connections, 1, 1_000_000)?;
        self.edd.questionnaires()?;
        check_opt(
            "limits.ws_max_auth_failures",
            l.ws_max_auth_failures,
            1,
            1_000,
        )?;
        check_opt(
            "limits.tokens_per_minute",
            l.tokens_per_minute,
            1,
            10_000_000,
        )?;
        check_opt(
            "limits.replays_per_minute",
            l.replays_per_minute,
            1,
            100_000,
        )?;
        check_opt("limits.codes_per_day", l.codes_per_day, 1, 1_000)?;
        for (name, value) in [
            ("limits.document_mib_per_user", l.document_mib_per_user),
            (
                "limits.document_mib_per_enterprise",
                l.document_mib_per_enterprise,
            ),
        ] {
            check_opt(name, value, 1, 1_048_576)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(text: &str) -> String {
        format!("{:#}", FileConfig::parse(text).expect_err(text))
    }

    #[test]
    fn out_of_range_numbers_are_refused_with_a_sentence() {
        let why = refusal("[events]\nretention_days = 18446744073709551615\n");
        assert!(
            why.contains("events.retention_days must be between 1 and 36500"),
            "{why}"
        );
        let why = refusal("[events]\nretention_max_events = 0\n");
        assert!(why.contains("events.retention_max_events"), "{why}");
        let why = refusal("[limits]\nheader_timeout_ms = 0\n");
        assert!(
            why.contains("limits.header_timeout_ms must be between 1 and"),
            "{why}"
        );
        let why = refusal("[limits]\nshutdown_timeout_ms = 99999999999\n");
        assert!(why.contains("limits.shutdown_timeout_ms"), "{why}");
        let why = refusal("[limits]\nmax_connections = 0\n");
        assert!(why.contains("limits.max_connections"), "{why}");
        let why =
            refusal("[sms]\nwebhook = { url = \"http://x\", backoff_ms = 18446744073709551615 }\n");
        assert!(why.contains("sms.webhook.backoff_ms"), "{why}");
        let why = refusal("[limits]\nheader_timeout_ms = -1\n");
        assert!(why.contains("TOML"), "{why}");
    }

    #[test]
    fn edd_prompts_replace_the_shipped_ones_and_bad_ones_are_named() {
        let both = "[[edd.prompts]]\nid = 7\nform = \"individual\"\nprompt = \"Why?\"\n\
                    response_type = \"Free-Form\"\n\
                    [[edd.prompts]]\nid = 8\nform = \"business\"\nprompt = \"Pick\"\n\
                    response_type = \"Single-Select\"\nresponse_options = [\"a\", \"b\"]\n";
        let config = FileConfig::parse(both).unwrap();
        let q = config.edd.questionnaires().unwrap();
        assert_eq!(q.prompts(None).map(|p| p.id).collect::<Vec<_>>(), [7, 8]);
        let why = refusal(&both.replace("response_options = [\"a\", \"b\"]", ""));
        assert!(why.contains("edd.prompts[1].response_options"), "{why}");
        let why = refusal(&both.replace("Free-Form", "Essay"));
        assert!(why.contains("edd.prompts[0].response_type"), "{why}");
        let why = refusal(
            "[[edd.prompts]]\nid = 1\nform = \"individual\"\nprompt = \"x\"\nresponse_type = \"Free-Form\"\nwhat = 1\n",
        );
        assert!(why.contains("what"), "{why}");
    }

    #[test]
    fn in_range_values_are_kept() {
        let config = FileConfig::parse(
            "[events]\nretention_days = 36500\n[limits]\nheader_timeout_ms = 1\nmax_connections = 1000000\n",
        )
        .unwrap();
        assert_eq!(config.events.retention_days, Some(36_500));
        assert_eq!(config.limits.header_timeout_ms, Some(1));
        assert_eq!(FileConfig::parse("").unwrap().limits.max_connections, None);
    }
}
