//! `onboard serve`: open the store, make sure someone can call it, serve until a
//! signal asks to stop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use onboard_core::clock::SystemClock;
use onboard_core::delivery::Delivery;
use onboard_core::events::Retention;
use onboard_core::lifecycle::{Jurisdictions, ReviewPolicy};
use onboard_core::registration::Rules;
use onboard_core::service::{Onboarding, Quotas, Review, WebhookSettings};
use onboard_core::store::Store;
use onboard_delivery::outgoing::HttpWebhookSender;
use onboard_delivery::smtp::SmtpChannel;
use onboard_delivery::webhook::WebhookChannel;
use onboard_server::ConsoleSettings;
use onboard_server::edge::EdgeLimits;
use onboard_server::feed::limits::FeedLimits;
use onboard_server::state::Housekeeping;
use onboard_server::vendor_limits::VendorLimitSettings;
use onboard_server::{AppState, DEFAULT_BODY_LIMIT, Options};
use time::Duration;
use tokio::net::TcpListener;

use crate::DatabaseArgs;
use crate::config::{
    EmailChannel, FileConfig, MAX_RETENTION_DAYS, MAX_TIMEOUT_MS, SmsChannel, in_range,
};
use crate::enterprise::{EnterpriseExists, create_enterprise};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML configuration file (see docs/OPERATING.md); flags and environment win over it.
    #[arg(long, env = "ONBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "ONBOARD_LISTEN")]
    pub listen: Option<SocketAddr>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Serve HTTPS and `wss://` with this PEM certificate chain (needs
    /// `--tls-key`); reloaded on SIGHUP and when the file changes.
    #[arg(long, env = "ONBOARD_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `--tls-cert`.
    #[arg(long, env = "ONBOARD_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Largest request body accepted, in bytes [default: 262144].
    #[arg(long, env = "ONBOARD_BODY_LIMIT")]
    pub body_limit: Option<usize>,
    /// Sandbox mode: `GET /v1/sandbox/messages` shows the outbox over HTTP.
    #[arg(long, env = "ONBOARD_SANDBOX")]
    pub sandbox: bool,
    /// Emulate the vendor's published rate limits per client address: 250 REST
    /// requests per 10 s, 10 WebSocket connections and 40 messages per minute
    /// (then 429 with Retry-After). Off by default.
    #[arg(long, env = "ONBOARD_VENDOR_LIMITS")]
    pub vendor_limits: bool,
    /// Mark the operator console's cookies `Secure`: set it when browsers reach
    /// the server over TLS (directly or through a proxy).
    #[arg(long, env = "ONBOARD_CONSOLE_SECURE_COOKIE")]
    pub console_secure_cookie: bool,
    /// Webhook endpoints may be on loopback, private or link-local addresses
    /// (development and tests; refused by default).
    #[arg(long, env = "ONBOARD_WEBHOOKS_ALLOW_PRIVATE_NETWORKS")]
    pub webhooks_allow_private_networks: bool,
    /// The waits between webhook attempts, in seconds, e.g. `1,1,2` [default:
    /// 5,300,1800,7200,18000,36000,36000].
    #[arg(long, env = "ONBOARD_WEBHOOK_RETRY_SCHEDULE", value_delimiter = ',')]
    pub webhook_retry_schedule: Option<Vec<u64>>,
    /// What happens when a user has met every requirement: `auto` (VERIFIED at
    /// once) or `manual` (PENDING until `onboard users approve`) [default: auto].
    #[arg(long, env = "ONBOARD_REVIEW_POLICY")]
    pub review_policy: Option<String>,
    /// Comma-separated ISO 3166-1 or 3166-2 codes whose residents (or companies)
    /// become UNSUPPORTED, e.g. `CU,IR,US-NY`.
    #[arg(long, env = "ONBOARD_UNSUPPORTED_JURISDICTIONS", value_delimiter = ',')]
    pub unsupported_jurisdictions: Option<Vec<String>>,
    /// Open WebSocket connections allowed per enterprise, all its keys together [default: 20000].
    #[arg(long, env = "ONBOARD_WS_MAX_CONNECTIONS_PER_KEY")]
    pub ws_max_connections_per_key: Option<usize>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// The edge's limits (CONTRACT §11); each also has a `[limits]` key in the file.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// A request's headers must arrive within this many milliseconds [default: 10000].
    #[arg(long, env = "ONBOARD_HEADER_TIMEOUT_MS")]
    pub header_timeout_ms: Option<u64>,
    /// A request's body must arrive within this many milliseconds [default: 30000].
    #[arg(long, env = "ONBOARD_BODY_TIMEOUT_MS")]
    pub body_timeout_ms: Option<u64>,
    /// Idle keep-alive connections close after this many milliseconds [default: 60000].
    #[arg(long, env = "ONBOARD_IDLE_TIMEOUT_MS")]
    pub idle_timeout_ms: Option<u64>,
    /// Open connections on this node; the next is refused [default: 10000].
    #[arg(long, env = "ONBOARD_MAX_CONNECTIONS")]
    pub max_connections: Option<u64>,
    /// On SIGTERM or SIGINT, exit within this many milliseconds [default: 30000].
    #[arg(long, env = "ONBOARD_SHUTDOWN_TIMEOUT_MS")]
    pub shutdown_timeout_ms: Option<u64>,
    /// A WebSocket must authenticate within this many milliseconds [default: 10000].
    #[arg(long, env = "ONBOARD_WS_AUTH_TIMEOUT_MS")]
    pub ws_auth_timeout_ms: Option<u64>,
    /// A WebSocket write stuck this many milliseconds closes it [default: 30000].
    #[arg(long, env = "ONBOARD_WS_WRITE_TIMEOUT_MS")]
    pub ws_write_timeout_ms: Option<u64>,
    /// Failed authentications before a WebSocket is closed [default: 5].
    #[arg(long, env = "ONBOARD_WS_MAX_AUTH_FAILURES")]
    pub ws_max_auth_failures: Option<u64>,
}

/// Everything `onboard serve` runs with, merged in one place (defaults, then the
/// configuration file, then the environment and flags, which clap has already
/// layered) and checked against its ranges before anything starts.
pub struct Settings {
    pub listen: SocketAddr,
    pub database: DatabaseArgs,
    pub review: Review,
    pub rules: Rules,
    pub quotas: Quotas,
    /// The server's own settings: body limit, sandbox, feed and edge limits,
    /// housekeeping.
    pub server: Options,
    /// The EDD questionnaires (`[[edd.prompts]]`, or the shipped ones).
    pub edd: onboard_core::edd::Questionnaires,
    /// How event webhooks are sent.
    pub webhooks: WebhookSettings,
    /// The certificate chain and key to serve HTTPS with, if any.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The file, for the delivery channels it configures.
    pub file: FileConfig,
}

/// `--tls-cert` and `--tls-key` (or `tls_cert`/`tls_key`): both or neither.
fn tls_files(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<Option<(PathBuf, PathBuf)>> {
    let cert = args.tls_cert.clone().or(file.tls_cert.clone());
    let key = args.tls_key.clone().or(file.tls_key.clone());
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some((cert, key))),
        (None, None) => Ok(None),
        (Some(_), None) => anyhow::bail!("--tls-cert needs --tls-key (or tls_key in the file)"),
        (None, Some(_)) => anyhow::bail!("--tls-key needs --tls-cert (or tls_cert in the file)"),
    }
}

impl Settings {
    pub fn resolve(mut args: ServeArgs, file: FileConfig) -> anyhow::Result<Settings> {
        let db = &mut args.database;
        db.data_dir = db.data_dir.take().or(file.data_dir.clone());
        db.database_url = db.database_url.take().or(file.database_url.clone());
        db.master_key_file = db.master_key_file.take().or(file.master_key_file.clone());
        db.db_max_connections = db.db_max_connections.or(file.database.max_connections);
        db.db_acquire_timeout_ms = db
            .db_acquire_timeout_ms
            .or(file.database.acquire_timeout_ms);
        let review = review_settings(&args, &file)?;
        let (edge, feed) = limits(&args, &file)?;
        let body_limit = args
            .body_limit
            .or(file.body_limit)
            .unwrap_or(DEFAULT_BODY_LIMIT);
        in_range("body_limit", body_limit as u64, 1, 1 << 30)?;
        let server = Options {
            body_limit,
            sandbox: args.sandbox || file.sandbox.unwrap_or(false),
            feed,
            edge,
            housekeeping: Housekeeping {
                retention: retention(&file),
                ..Housekeeping::default()
            },
            vendor_limits: (args.vendor_limits || file.limits.vendor_limits.unwrap_or(false))
                .then(VendorLimitSettings::default),
            console: ConsoleSettings {
                secure_cookie: args.console_secure_cookie
                    || file.console.secure_cookie.unwrap_or(false),
            },
            // Loaded (and checked) by `serve`, which reports a fault as a sentence.
            tls: None,
        };
        let webhooks = webhook_settings(&args, &file)?;
        let tls = tls_files(&args, &file)?;
        Ok(Settings {
            tls,
            listen: args.listen.or(file.listen).unwrap_or(DEFAULT_LISTEN),
            database: args.database,
            review,
            rules: Rules {
                strict_phone_numbers: file.validation.strict_phone_numbers.unwrap_or(false),
            },
            quotas: quotas(&file),
            edd: file.edd.questionnaires()?,
            server,
            webhooks,
            file,
        })
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    crate::logging::init();
    let served = serve(args).await;
    // Buffered log lines leave before an error is reported.
    crate::logging::flush();
    served
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let file = FileConfig::load(args.config.as_deref())?;
    let mut settings = Settings::resolve(args, file)?;
    onboard_delivery::install_tls_provider();
    if let Some((cert, key)) = &settings.tls {
        let tls = onboard_server::tls::Tls::load(cert, key)
            .context("Failed to load the TLS certificate and key")?;
        settings.server.tls = Some(tls);
        // Browsers reach the console over HTTPS now: its cookies say so.
        settings.server.console.secure_cookie = true;
    }
    let store = crate::open_store(&settings.database).await?;
    let delivery = delivery(&settings.file, store.clone())?;
    tokio::task::spawn_blocking(onboard_core::values::warm_up)
        .await
        .context("Failed to load phone number metadata")?;
    let listen = settings.listen;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("Failed to listen on {listen}"))?;
    let address = listener
        .local_addr()
        .context("Failed to read the bound address")?;
    let base = match settings.server.tls {
        Some(_) => format!("https://{address}"),
        None => format!("http://{address}"),
    };
    first_run(store.as_ref(), &base).await?;
    let onboarding = Onboarding::new(store, Arc::new(SystemClock))
        .with_review(settings.review)
        .with_delivery(delivery)
        .with_rules(settings.rules)
        .with_quotas(settings.quotas)
        .with_edd(settings.edd)
        .with_webhooks(
            Arc::new(HttpWebhookSender::new().map_err(anyhow::Error::msg)?),
            settings.webhooks,
        );
    let settings_tls = settings.server.tls.is_some();
    let state = AppState::new(onboarding, settings.server);
    let scheme = if settings_tls { "https" } else { "http" };
    tracing::info!(%address, scheme, "onboard is serving");
    onboard_server::serve(listener, state, shutdown_signal())
        .await
        .context("Failed while serving")?;
    tracing::info!("onboard stopped");
    Ok(())
}

const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// The edge's and the feed's limits: flags, then the file, then the defaults,
/// each checked against its range.
fn limits(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<(EdgeLimits, FeedLimits)> {
    let (a, f) = (&args.limits, &file.limits);
    let millis =
        |setting: &str, flag: Option<u64>, key: Option<u64>, default: std::time::Duration| {
            match flag.or(key) {
                None => Ok(default),
                Some(ms) => {
                    in_range(setting, ms, 1, MAX_TIMEOUT_MS).map(std::time::Duration::from_millis)
                }
            }
        };
    let (edge_default, feed_default) = (EdgeLimits::default(), FeedLimits::default());
    let edge = EdgeLimits {
        header_timeout: millis(
            "the header timeout (ms)",
            a.header_timeout_ms,
            f.header_timeout_ms,
            edge_default.header_timeout,
        )?,
        body_timeout: millis(
            "the body timeout (ms)",
            a.body_timeout_ms,
            f.body_timeout_ms,
            edge_default.body_timeout,
        )?,
        idle_timeout: millis(
            "the idle timeout (ms)",
            a.idle_timeout_ms,
            f.idle_timeout_ms,
            edge_default.idle_timeout,
        )?,
        shutdown_timeout: millis(
            "the shutdown timeout (ms)",
            a.shutdown_timeout_ms,
            f.shutdown_timeout_ms,
            edge_default.shutdown_timeout,
        )?,
        max_connections: match a.max_connections.or(f.max_connections) {
            None => edge_default.max_connections,
            Some(n) => in_range("the connection cap", n, 1, 1_000_000)? as usize,
        },
    };
    let mut feed = FeedLimits {
        auth_timeout: millis(
            "the WebSocket authentication timeout (ms)",
            a.ws_auth_timeout_ms,
            f.ws_auth_timeout_ms,
            feed_default.auth_timeout,
        )?,
        write_timeout: millis(
            "the WebSocket write timeout (ms)",
            a.ws_write_timeout_ms,
            f.ws_write_timeout_ms,
            feed_default.write_timeout,
        )?,
        ..feed_default
    };
    if let Some(n) = a.ws_max_auth_failures.or(f.ws_max_auth_failures) {
        feed.max_auth_failures =
            in_range("the WebSocket authentication failures", n, 1, 1_000)? as u32;
    }
    if let Some(max) = args
        .ws_max_connections_per_key
        .or(file.events.max_connections_per_key)
    {
        in_range(
            "the WebSocket connections per enterprise",
            max as u64,
            1,
            1_000_000,
        )?;
        feed.max_connections_per_key = max;
    }
    Ok((edge, feed))
}

fn review_settings(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<Review> {
    let policy = match args
        .review_policy
        .as_deref()
        .or(file.review.policy.as_deref())
    {
        None => ReviewPolicy::Auto,
        Some(text) => ReviewPolicy::parse(text)
            .with_context(|| format!("the review policy must be auto or manual, not {text:?}"))?,
    };
    let codes = args
        .unsupported_jurisdictions
        .clone()
        .or(file.review.unsupported_jurisdictions.clone())
        .unwrap_or_default();
    for code in &codes {
        let code = code.trim().to_ascii_uppercase();
        let known = match code.split_once('-') {
            None => rust_iso3166::from_alpha2(&code).is_some(),
            Some(_) => rust_iso3166::iso3166_2::from_code(&code).is_some(),
        };
        anyhow::ensure!(known, "{code:?} is not an ISO 3166-1 or 3166-2 code");
    }
    Ok(Review {
        policy,
        unsupported: Jurisdictions::new(codes),
    })
}

/// The channel for each kind of code: the outbox unless configured otherwise.
fn delivery(file: &FileConfig, store: Arc<dyn Store>) -> anyhow::Result<Delivery> {
    let mut delivery = Delivery::outbox(store);
    if let (EmailChannel::Smtp, Some(smtp)) = (file.email.channel, &file.email.smtp) {
        let channel = SmtpChannel::new(smtp).map_err(anyhow::Error::msg)?;
        delivery.email = Arc::new(channel);
    }
    if let (SmsChannel::Webhook, Some(webhook)) = (file.sms.channel, &file.sms.webhook) {
        let channel = WebhookChannel::new(webhook).map_err(anyhow::Error::msg)?;
        delivery.sms = Arc::new(channel);
    }
    Ok(delivery)
}

/// The per-key budgets of `[limits]`; the rest keep their defaults.
fn webhook_settings(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<WebhookSettings> {
    let hooks = &file.webhooks;
    let mut settings = WebhookSettings {
        allow_private_networks: args.webhooks_allow_private_networks
            || hooks.allow_private_networks.unwrap_or(false),
        ..WebhookSettings::default()
    };
    if let Some(waits) = args
        .webhook_retry_schedule
        .as_ref()
        .or(hooks.retry_schedule.as_ref())
    {
        if waits.len() > 20 {
            anyhow::bail!("--webhook-retry-schedule lists at most 20 waits");
        }
        for wait in waits {
            in_range("webhook retry schedule", *wait, 0, 7 * 24 * 3600)?;
        }
        settings.schedule.waits = waits
            .iter()
            .map(|s| Duration::seconds(i64::try_from(*s).unwrap_or(0)))
            .collect();
    }
    if let Some(ms) = hooks.lease_ms {
        settings.lease = Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX));
    }
    if let Some(ms) = hooks.timeout_ms {
        settings.schedule.timeout = std::time::Duration::from_millis(ms);
    }
    if let Some(days) = hooks.disable_after_days {
        settings.schedule.disable_after = Duration::days(i64::try_from(days).unwrap_or(5));
    }
    Ok(settings)
}

fn quotas(file: &FileConfig) -> Quotas {
    let mut quotas = Quotas::default();
    let limits = &file.limits;
    if let Some(n) = limits.tokens_per_minute {
        quotas.tokens_per_minute = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let Some(n) = limits.replays_per_minute {
        quotas.replays_per_minute = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let Some(n) = limits.codes_per_day {
        quotas.codes_per_day = u32::try_from(n).unwrap_or(u32::MAX);
    }
    // The file's check keeps both within a TiB, so the bytes fit.
    if let Some(mib) = limits.document_mib_per_user {
        quotas.document_bytes_per_user = mib * 1024 * 1024;
    }
    if let Some(mib) = limits.document_mib_per_enterprise {
        quotas.document_bytes_per_enterprise = mib * 1024 * 1024;
    }
    quotas
}

fn retention(file: &FileConfig) -> Retention {
    // The file's check keeps `retention_days` within a century.
    let days = |d: u64| Duration::days(i64::try_from(d.min(MAX_RETENTION_DAYS)).unwrap_or(0));
    Retention {
        max_age: file.events.retention_days.map(days),
        max_events: file.events.retention_max_events,
    }
}

/// On an empty database, creates an enterprise and prints its key once, with a
/// call to try, so that a new user is one paste away from a working request.
async fn first_run(store: &dyn Store, base: &str) -> anyhow::Result<()> {
    let existing = store
        .list_enterprises()
        .await
        .context("Failed to read enterprises")?;
    if !existing.is_empty() {
        return Ok(());
    }
    let key = match create_enterprise(store, "default").await {
        Ok((_, key)) => key,
        // Another node sharing the database created it first: it printed the key.
        Err(e) if e.downcast_ref::<EnterpriseExists>().is_some() => return Ok(()),
        Err(e) => return Err(e),
    };
    println!(
        "\nCreated enterprise \"default\". Its API key is shown this once:\n\n  {key}\n\n\
         Try it:\n\n  curl -H 'Authorization: Bearer {key}' {base}/v1/enterprise/users\n",
        key = key.expose()
    );
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn resolve(flags: &[&str], file: &str) -> anyhow::Result<Settings> {
        let args = Cli::try_parse_from(std::iter::once("serve").chain(flags.iter().copied()))
            .expect("the flags parse")
            .serve;
        Settings::resolve(args, FileConfig::parse(file)?)
    }

    #[test]
    fn defaults_then_the_file_then_flags() {
        let defaults = resolve(&[], "").unwrap();
        assert_eq!(defaults.listen, DEFAULT_LISTEN);
        assert_eq!(defaults.server.body_limit, DEFAULT_BODY_LIMIT);
        assert!(!defaults.server.sandbox);
        assert!(!defaults.rules.strict_phone_numbers);
        assert_eq!(defaults.quotas, Quotas::default());

        let file = "listen = \"127.0.0.1:9001\"\nbody_limit = 1000\n\
                    [limits]\nheader_timeout_ms = 2000\nreplays_per_minute = 5\n\
                    [validation]\nstrict_phone_numbers = true\n\
                    [events]\nretention_max_events = 7\n";
        let from_file = resolve(&[], file).unwrap();
        assert_eq!(from_file.listen.port(), 9001);
        assert_eq!(from_file.server.body_limit, 1000);
        assert_eq!(
            from_file.server.edge.header_timeout,
            std::time::Duration::from_secs(2)
        );
        assert_eq!(from_file.quotas.replays_per_minute, 5);
        assert!(from_file.rules.strict_phone_numbers);
        assert_eq!(from_file.server.housekeeping.retention.max_events, Some(7));
        assert_eq!(defaults.edd, onboard_core::edd::Questionnaires::default());
        let prompts = "[[edd.prompts]]\nid = 40\nform = \"individual\"\nprompt = \"Why?\"\n\
                       response_type = \"Free-Form\"\n\
                       [[edd.prompts]]\nid = 41\nform = \"business\"\nprompt = \"File\"\n\
                       response_type = \"File-Upload\"\nis_required = false\n";
        let served = resolve(&[], prompts).unwrap().edd;
        let ids: Vec<i64> = served.prompts(None).map(|p| p.id).collect();
        assert_eq!(ids, [40, 41]);

        let flags = [
            "--listen",
            "127.0.0.1:9002",
            "--body-limit",
            "2000",
            "--header-timeout-ms",
            "3000",
        ];
        let from_flags = resolve(&flags, file).unwrap();
        assert_eq!(from_flags.listen.port(), 9002);
        assert_eq!(from_flags.server.body_limit, 2000);
        assert_eq!(
            from_flags.server.edge.header_timeout,
            std::time::Duration::from_secs(3)
        );
        // What the flags do not set still comes from the file.
        assert_eq!(from_flags.quotas.replays_per_minute, 5);
    }

    #[test]
    fn the_console_cookie_is_secure_from_the_file_or_the_flag() {
        assert!(!resolve(&[], "").unwrap().server.console.secure_cookie);
        let file = "[console]\nsecure_cookie = true\n";
        assert!(resolve(&[], file).unwrap().server.console.secure_cookie);
        let flag = resolve(&["--console-secure-cookie"], "").unwrap();
        assert!(flag.server.console.secure_cookie);
        assert!(resolve(&[], "[console]\nsecure = true\n").is_err());
    }

    #[test]
    fn out_of_range_values_are_refused_with_the_setting_named() {
        let Err(e) = resolve(&["--header-timeout-ms", "0"], "") else {
            panic!("a zero timeout was accepted");
        };
        assert!(e.to_string().contains("header timeout"), "{e}");
        let Err(e) = resolve(&[], "[limits]\nreplays_per_minute = 0\n") else {
            panic!("a zero budget was accepted");
        };
        assert!(e.to_string().contains("limits.replays_per_minute"), "{e}");
    }
}
