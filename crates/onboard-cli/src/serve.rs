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
use onboard_core::service::{Onboarding, Review};
use onboard_core::store::Store;
use onboard_delivery::smtp::SmtpChannel;
use onboard_delivery::webhook::WebhookChannel;
use onboard_server::feed::limits::FeedLimits;
use onboard_server::{AppState, DEFAULT_BODY_LIMIT, Options};
use time::Duration;
use tokio::net::TcpListener;

use crate::DatabaseArgs;
use crate::admin::{EnterpriseExists, create_enterprise};
use crate::config::{EmailChannel, FileConfig, SmsChannel};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML configuration file (see the README); flags and environment win over it.
    #[arg(long, env = "ONBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "ONBOARD_LISTEN")]
    pub listen: Option<SocketAddr>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Largest request body accepted, in bytes [default: 262144].
    #[arg(long, env = "ONBOARD_BODY_LIMIT")]
    pub body_limit: Option<usize>,
    /// Sandbox mode: `GET /v1/sandbox/messages` shows the outbox over HTTP.
    #[arg(long, env = "ONBOARD_SANDBOX")]
    pub sandbox: bool,
    /// What happens when a user has met every requirement: `auto` (VERIFIED at
    /// once) or `manual` (PENDING until `onboard users approve`) [default: auto].
    #[arg(long, env = "ONBOARD_REVIEW_POLICY")]
    pub review_policy: Option<String>,
    /// Comma-separated ISO 3166-1 or 3166-2 codes whose residents (or companies)
    /// become UNSUPPORTED, e.g. `CU,IR,US-NY`.
    #[arg(long, env = "ONBOARD_UNSUPPORTED_JURISDICTIONS", value_delimiter = ',')]
    pub unsupported_jurisdictions: Option<Vec<String>>,
    /// Open WebSocket connections allowed per enterprise key [default: 20000].
    #[arg(long, env = "ONBOARD_WS_MAX_CONNECTIONS_PER_KEY")]
    pub ws_max_connections_per_key: Option<usize>,
}

pub async fn run(mut args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let file = FileConfig::load(args.config.as_deref())?;
    args.database.data_dir = args.database.data_dir.or(file.data_dir.clone());
    args.database.database_url = args.database.database_url.or(file.database_url.clone());
    args.database.db_max_connections = args
        .database
        .db_max_connections
        .or(file.database.max_connections);
    args.database.db_acquire_timeout_ms = args
        .database
        .db_acquire_timeout_ms
        .or(file.database.acquire_timeout_ms);
    let listen = args.listen.or(file.listen).unwrap_or(DEFAULT_LISTEN);
    let review = review_settings(&args, &file)?;
    onboard_delivery::install_tls_provider();
    let store = crate::open_store(&args.database).await?;
    let delivery = delivery(&file, store.clone())?;
    tokio::task::spawn_blocking(onboard_core::values::warm_up)
        .await
        .context("Failed to load phone number metadata")?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("Failed to listen on {listen}"))?;
    let address = listener
        .local_addr()
        .context("Failed to read the bound address")?;
    first_run(store.as_ref(), address).await?;
    let onboarding = Onboarding::new(store, Arc::new(SystemClock))
        .with_review(review)
        .with_delivery(delivery);
    let mut feed = FeedLimits::default();
    if let Some(max) = args
        .ws_max_connections_per_key
        .or(file.events.max_connections_per_key)
    {
        feed.max_connections_per_key = max;
    }
    let options = Options {
        body_limit: args
            .body_limit
            .or(file.body_limit)
            .unwrap_or(DEFAULT_BODY_LIMIT),
        sandbox: args.sandbox || file.sandbox.unwrap_or(false),
        feed,
    };
    let state = AppState::new(onboarding, options);
    tokio::spawn(prune_forever(state.onboarding.clone(), retention(&file)));
    tracing::info!(%address, "onboard is serving");
    onboard_server::serve(listener, state, shutdown_signal())
        .await
        .context("Failed while serving")?;
    tracing::info!("onboard stopped");
    Ok(())
}

const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

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

fn retention(file: &FileConfig) -> Retention {
    Retention {
        max_age: file.events.retention_days.map(|d| Duration::days(d as i64)),
        max_events: file.events.retention_max_events,
    }
}

/// Once a minute: drop events beyond retention and expired user tokens. A failed
/// round is logged and tried again at the next tick.
async fn prune_forever(onboarding: Onboarding, retention: Retention) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        match onboarding.prune(retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "pruned events beyond retention"),
            Err(e) => tracing::warn!(error = %e, "pruning failed"),
        }
    }
}

/// On an empty database, creates an enterprise and prints its key once, with a
/// call to try, so that a new user is one paste away from a working request.
async fn first_run(store: &dyn Store, address: SocketAddr) -> anyhow::Result<()> {
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
         Try it:\n\n  curl -H 'Authorization: Bearer {key}' http://{address}/v1/enterprise/users\n",
        key = key.expose()
    );
    Ok(())
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
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
