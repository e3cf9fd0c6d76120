//! The `onboard` command: `serve` runs the server, the other subcommands are the
//! operator's admin tools. Start with [`Cli`]; each subcommand has its own module.
//! Every fallible IO step carries a "Failed to …" context for the operator.

pub mod config;
mod database;
mod edd;
mod enterprise;
mod keys;
mod logging;
mod operators;
mod outbox;
mod serve;
mod users;
mod watch;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use database::open_store;

#[derive(Debug, Parser)]
#[command(
    name = "onboard",
    version,
    about = "A self-hostable end-user onboarding server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Box<serve::ServeArgs>),
    /// Manage enterprises and their API keys.
    #[command(subcommand)]
    Enterprise(enterprise::EnterpriseCommand),
    /// Review end users: approve or reject (for the `manual` review policy).
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Read the messages the outbox channel stored.
    #[command(subcommand)]
    Outbox(outbox::OutboxCommand),
    /// Enhanced due diligence: open a request for a user, mark one reviewed.
    #[command(subcommand)]
    Edd(edd::EddCommand),
    /// Follow the live feed: one JSON line per event, resuming after disconnects.
    Watch(watch::WatchArgs),
    /// Create, list, revoke and rotate an enterprise's API keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Manage operators: the people who review users and manage keys.
    #[command(subcommand)]
    Operators(operators::OperatorsCommand),
}

/// How a listing is printed: a table for people, JSON for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// Where the data lives: an embedded SQLite database in `--data-dir` unless
/// `--database-url` names another.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Folder of the embedded SQLite database (used when no --database-url is
    /// given) [default: onboard-data].
    #[arg(long, env = "ONBOARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: `sqlite:/var/lib/onboard/onboard.db` or
    /// `postgres://user:password@host:5432/onboard`.
    #[arg(long, env = "ONBOARD_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// PostgreSQL: connections in the pool [default: 16].
    #[arg(long, env = "ONBOARD_DB_MAX_CONNECTIONS")]
    pub db_max_connections: Option<u32>,
    /// PostgreSQL: how long a request waits for a connection before it is
    /// answered 503, in milliseconds [default: 3000].
    #[arg(long, env = "ONBOARD_DB_ACQUIRE_TIMEOUT_MS")]
    pub db_acquire_timeout_ms: Option<u64>,
}

impl DatabaseArgs {
    pub fn pool_settings(&self) -> onboard_store_postgres::PoolSettings {
        let mut settings = onboard_store_postgres::PoolSettings::default();
        if let Some(max) = self.db_max_connections {
            settings.max_connections = max.max(1);
        }
        if let Some(ms) = self.db_acquire_timeout_ms {
            settings.acquire_timeout = std::time::Duration::from_millis(ms);
        }
        settings
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(*args).await,
        Command::Enterprise(command) => enterprise::enterprise(command).await,
        Command::Users(command) => users::users(command).await,
        Command::Outbox(command) => outbox::outbox(command).await,
        Command::Watch(args) => watch::run(args).await,
        Command::Keys(command) => keys::keys(command).await,
        Command::Operators(command) => operators::operators(command).await,
        Command::Edd(command) => edd::run(command).await,
    }
}
