//! The seven scenarios of the benchmark suite. Each starts its own server on a fresh database,
//! measures ours, then measures its floor with the same client, and returns rows.

pub mod feed_fanout;
pub mod feed_latency;
pub mod get_user;
pub mod idle;
pub mod list_users;
pub mod register;
pub mod webhook_delivery;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::Context;
use clap::ValueEnum;

use crate::dataset;
use crate::plan::Plan;
use crate::process::{Database, OnboardBin, PgDatabase, Served};
use crate::report::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    GetUser,
    ListUsers,
    Register,
    FeedLatency,
    FeedFanout,
    IdleConnections,
    WebhookDelivery,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::GetUser,
        Scenario::ListUsers,
        Scenario::Register,
        Scenario::FeedLatency,
        Scenario::FeedFanout,
        Scenario::IdleConnections,
        Scenario::WebhookDelivery,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::GetUser => "get-user",
            Scenario::ListUsers => "list-users",
            Scenario::Register => "register",
            Scenario::FeedLatency => "feed-latency",
            Scenario::FeedFanout => "feed-fanout",
            Scenario::IdleConnections => "idle-connections",
            Scenario::WebhookDelivery => "webhook-delivery",
        }
    }

    pub async fn run(self, ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
        match self {
            Scenario::GetUser => get_user::run(ctx).await,
            Scenario::ListUsers => list_users::run(ctx).await,
            Scenario::Register => register::run(ctx).await,
            Scenario::FeedLatency => feed_latency::run(ctx).await,
            Scenario::FeedFanout => feed_fanout::run(ctx).await,
            Scenario::IdleConnections => idle::run(ctx).await,
            Scenario::WebhookDelivery => webhook_delivery::run(ctx).await,
        }
    }
}

/// What every scenario needs.
pub struct Ctx {
    pub plan: Plan,
    pub server: OnboardBin,
    /// `--database-url`; `None` means a fresh SQLite file per server.
    pub database_url: Option<String>,
    /// `--postgres-url`: a fresh PostgreSQL database per server on this server.
    pub postgres_url: Option<String>,
    /// Holds every data folder of the run; removed at the end.
    pub work: tempfile::TempDir,
    /// Set when the open-file limit could not be raised as far as wanted.
    pub nofile_note: Option<String>,
    runs: AtomicU32,
}

impl Ctx {
    pub fn new(
        plan: Plan,
        server: OnboardBin,
        database_url: Option<String>,
    ) -> anyhow::Result<Ctx> {
        let work = tempfile::Builder::new()
            .prefix("onboard-bench-")
            .tempdir()
            .context("Failed to create a temporary folder")?;
        Ok(Ctx {
            plan,
            server,
            database_url,
            postgres_url: None,
            work,
            nofile_note: None,
            runs: AtomicU32::new(0),
        })
    }

    /// A fresh database for one server: a SQLite file in `dir`, a new PostgreSQL
    /// database with `--postgres-url`, or `--database-url` as given.
    pub async fn database(&self, dir: &std::path::Path) -> anyhow::Result<Database> {
        if let Some(server) = &self.postgres_url {
            let db = PgDatabase::create(server).await?;
            return Ok(Database::Postgres(std::sync::Arc::new(db)));
        }
        Ok(match &self.database_url {
            Some(url) => Database::Url(url.clone()),
            None => Database::Sqlite(dir.join("onboard.db")),
        })
    }

    /// A new empty folder under the run's temporary folder.
    pub fn folder(&self, name: &str) -> anyhow::Result<PathBuf> {
        let n = self.runs.fetch_add(1, Ordering::Relaxed);
        let dir = self.work.path().join(format!("{n:02}-{name}"));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("Failed to create {}", dir.display()))?;
        Ok(dir)
    }
}

/// One of our servers with its enterprise and data.
pub struct Onboard {
    pub served: Served,
    pub key: String,
    pub database: Database,
    pub enterprise: String,
    pub dir: PathBuf,
}

impl Onboard {
    /// Creates an enterprise, loads `users` users (`user_id(prefix, 0..users)`)
    /// straight into the database, and starts `onboard serve`.
    pub async fn start(ctx: &Ctx, name: &str, users: u64) -> anyhow::Result<Onboard> {
        Onboard::start_with(ctx, name, users, &[]).await
    }

    /// [`Onboard::start`] with more `onboard serve` flags.
    pub async fn start_with(
        ctx: &Ctx,
        name: &str,
        users: u64,
        flags: &[&str],
    ) -> anyhow::Result<Onboard> {
        let dir = ctx.folder(name)?;
        let database = ctx.database(&dir).await?;
        // Unique, so that a reused external database does not refuse the name.
        let enterprise = format!("bench-{name}-{}", uuid::Uuid::now_v7().simple());
        let key = ctx.server.create_enterprise(&database, &enterprise).await?;
        if users > 0 {
            dataset::bulk_load(&database, &enterprise, USERS, 0..users).await?;
        }
        let served = ctx.server.serve_with(&database, &dir, flags).await?;
        Ok(Onboard {
            served,
            key,
            database,
            enterprise,
            dir,
        })
    }

    /// Stops the server, loads users `from..to`, and starts it again.
    pub async fn grow(self, ctx: &Ctx, from: u64, to: u64) -> anyhow::Result<Onboard> {
        crate::process::stop(self.served).await;
        dataset::bulk_load(&self.database, &self.enterprise, USERS, from..to).await?;
        let served = ctx.server.serve(&self.database, &self.dir).await?;
        Ok(Onboard { served, ..self })
    }
}

/// The `user_id` prefix of bulk-loaded users.
pub const USERS: &str = "bench_";

/// Bytes captured from a `GET` on our server, to be served by the floor.
pub async fn capture_get(client: &reqwest::Client, url: &str, key: &str) -> anyhow::Result<String> {
    let response = client
        .get(url)
        .bearer_auth(key)
        .send()
        .await
        .with_context(|| format!("Failed to GET {url}"))?;
    anyhow::ensure!(
        response.status().is_success(),
        "GET {url}: {}",
        response.status()
    );
    Ok(response.text().await?)
}
