//! `onboard serve`: open the store, make sure someone can call it, serve until a
//! signal asks to stop.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use onboard_core::clock::SystemClock;
use onboard_core::service::Onboarding;
use onboard_core::store::Store;
use onboard_server::{AppState, DEFAULT_BODY_LIMIT};
use tokio::net::TcpListener;

use crate::DatabaseArgs;
use crate::admin::create_enterprise;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ONBOARD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "ONBOARD_BODY_LIMIT", default_value_t = DEFAULT_BODY_LIMIT)]
    pub body_limit: usize,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let store = crate::open_store(&args.database).await?;
    tokio::task::spawn_blocking(onboard_core::values::warm_up)
        .await
        .context("Failed to load phone number metadata")?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("Failed to listen on {}", args.listen))?;
    let address = listener
        .local_addr()
        .context("Failed to read the bound address")?;
    first_run(store.as_ref(), address).await?;
    let state = AppState {
        onboarding: Onboarding::new(store, Arc::new(SystemClock)),
        body_limit: args.body_limit,
    };
    tracing::info!(%address, "onboard is serving");
    onboard_server::serve(listener, state, shutdown_signal())
        .await
        .context("Failed while serving")?;
    tracing::info!("onboard stopped");
    Ok(())
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
    let (_, key) = create_enterprise(store, "default").await?;
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
