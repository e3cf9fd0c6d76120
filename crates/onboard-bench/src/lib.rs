//! Onboard's benchmark suite: each figure beside the best this machine
//! does for the same work, measured in the same run, so that the ratio means the
//! same on any machine.
//!
//! Read [`scenarios`] first: one module per scenario, each starting the real
//! `onboard serve` ([`process`]) on a fresh database (bulk-loaded by [`dataset`]
//! when it needs many users), measuring it with the [`driver`] and the feed
//! [`subscribers`], then measuring its floor the same way: the bench's own
//! [`floor`] server, or the same rows straight through sqlx. [`report`] prints
//! the table and writes the JSON; [`plan`] holds the `tiny` and `full` sizes.
//!
//! Everything runs on 127.0.0.1, and every loop is bounded in count and in time.

pub mod dataset;
pub mod driver;
pub mod floor;
pub mod pin;
pub mod plan;
pub mod process;
pub mod report;
pub mod scenarios;
pub mod stats;
pub mod subscribers;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, ValueEnum};

use crate::pin::{PinRequest, Pinning};
use crate::plan::{Plan, Size};
use crate::process::OnboardBin;
use crate::report::{Machine, Report};
use crate::scenarios::{Ctx, Scenario};

#[derive(Debug, Parser)]
#[command(
    name = "onboard-bench",
    about = "Onboard's benchmarks, each beside this machine's floor measured in the same run"
)]
pub struct Cli {
    /// The scenario to run, or `all`.
    #[arg(value_enum)]
    pub target: Target,
    /// `tiny` runs every code path in seconds (the CI smoke test); `full` is the
    /// size the benchmark targets are set for.
    #[arg(long, value_enum, default_value = "full")]
    pub size: Size,
    /// Write the report as JSON here too.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The `onboard` binary [default: `onboard` next to this executable].
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Run the server on this database instead of a fresh SQLite file per
    /// scenario. Scenarios that bulk-load rows or write their floor straight into
    /// the database need SQLite, or `--postgres-url`.
    #[arg(long, hide_env_values = true, conflicts_with = "postgres_url")]
    pub database_url: Option<String>,
    /// Run on PostgreSQL: a fresh database per scenario on this server (created
    /// and dropped by the bench, so the URL's role needs CREATEDB), bulk-loaded
    /// through the store; register's floor writes the same rows straight into it.
    /// list-users needs SQLite still.
    #[arg(long, hide_env_values = true)]
    pub postgres_url: Option<String>,
    /// Pin the server (and each floor) to one set of cores and the bench to the
    /// other: `auto` (pinned when there are at least 2 cores: the first half for
    /// the server, the rest for the bench), `off`, or `SERVER:BENCH` core lists,
    /// e.g. `0:1`. Needs `taskset` (util-linux).
    #[arg(long, default_value = "auto")]
    pub pin: PinRequest,
    /// Caps every request loop at this many requests (e.g. for a profiling run
    /// at tiny size with more requests than tiny makes).
    #[arg(long)]
    pub requests: Option<u64>,
    /// Caps every request loop at this many seconds.
    #[arg(long)]
    pub seconds: Option<u64>,
    #[arg(long, hide = true)]
    pub config: Option<PathBuf>,
    #[arg(long, hide = true)]
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    All,
    GetUser,
    ListUsers,
    Register,
    FeedLatency,
    FeedFanout,
    IdleConnections,
    WebhookDelivery,
    /// Internal: the floor server, started by the bench itself.
    #[value(hide = true)]
    FloorServer,
}

impl Target {
    fn scenarios(self) -> Vec<Scenario> {
        match self {
            Target::All => Scenario::ALL.to_vec(),
            Target::FloorServer => Vec::new(),
            Target::GetUser => vec![Scenario::GetUser],
            Target::ListUsers => vec![Scenario::ListUsers],
            Target::Register => vec![Scenario::Register],
            Target::FeedLatency => vec![Scenario::FeedLatency],
            Target::FeedFanout => vec![Scenario::FeedFanout],
            Target::IdleConnections => vec![Scenario::IdleConnections],
            Target::WebhookDelivery => vec![Scenario::WebhookDelivery],
        }
    }
}

/// Runs what `cli` asks; `Ok(false)` when a scenario failed (its error is in the
/// report).
pub async fn run(cli: Cli) -> anyhow::Result<bool> {
    // reqwest is built without a TLS provider of its own; it never speaks TLS
    // here, but a client still needs one to exist. Ring, like the server.
    let _ = rustls::crypto::ring::default_provider().install_default();
    if cli.target == Target::FloorServer {
        let config = cli.config.context("floor-server needs --config")?;
        let port = cli.port.context("floor-server needs --port")?;
        floor::run(&config, port).await?;
        return Ok(true);
    }
    let scenarios = cli.target.scenarios();
    let mut plan = Plan::new(cli.size);
    if let Some(requests) = cli.requests {
        plan.load.max_requests = requests;
        plan.registrations = requests;
    }
    if let Some(seconds) = cli.seconds {
        plan.load.max_time = std::time::Duration::from_secs(seconds);
    }
    let (limit, nofile_note) = raise_nofile(&mut plan, &scenarios);
    let server = OnboardBin::locate(cli.server_bin)?;
    let mut ctx = Ctx::new(plan, server, cli.database_url.clone())?;
    ctx.postgres_url = cli.postgres_url.clone();
    ctx.nofile_note = nofile_note;
    let mut report = Report {
        date: time::OffsetDateTime::now_utc().date().to_string(),
        size: ctx.plan.name().to_owned(),
        database: database_kind(cli.database_url.as_deref(), cli.postgres_url.is_some()),
        machine: Machine::describe(limit, pin::current()),
        rows: Vec::new(),
        failures: Vec::new(),
    };
    for scenario in scenarios {
        eprintln!("== {} ({})", scenario.name(), ctx.plan.name());
        match scenario.run(&ctx).await {
            Ok(rows) => report.rows.extend(rows),
            Err(e) => report.failures.push(format!("{}: {e:#}", scenario.name())),
        }
    }
    print!("{}", report.table());
    if let Some(path) = &cli.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("Failed to write {}", path.display()))?;
    }
    Ok(report.failures.is_empty())
}

/// Raises the open-file limit for idle-connections (the server child inherits
/// it); if the hard limit is too low, runs fewer connections and says so.
fn raise_nofile(plan: &mut Plan, scenarios: &[Scenario]) -> (u64, Option<String>) {
    // Each side holds one socket per connection, plus files and listeners.
    let wanted = plan.idle_connections as u64 + 1024;
    let limit = match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) => limit,
        Err(e) => {
            let current = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |l| l.0);
            eprintln!("could not raise the open-file limit: {e}");
            current
        }
    };
    if limit >= wanted || !scenarios.contains(&Scenario::IdleConnections) {
        return (limit, None);
    }
    let fewer = limit.saturating_sub(1024).max(16) as usize;
    let note = format!(
        "the open-file limit could not be raised past {limit}: {fewer} connections instead of {}",
        plan.idle_connections
    );
    eprintln!("{note}");
    plan.idle_connections = fewer;
    (limit, Some(note))
}

/// Decides the run's cores and pins the bench itself (not the floor server,
/// which its parent starts pinned). Call it before the runtime starts.
pub fn pin_cores(cli: &Cli) {
    if cli.target == Target::FloorServer {
        return;
    }
    let pinning = Pinning::decide(&cli.pin).apply_to_bench();
    eprintln!("cores: {}", pinning.describe());
    pin::install(pinning);
}

fn database_kind(url: Option<&str>, postgres: bool) -> String {
    if postgres {
        return "postgres (a fresh database per scenario, --postgres-url; PostgreSQL's own processes are not pinned)".into();
    }
    match url.and_then(|u| u.split_once(':')) {
        None => "sqlite (a fresh file per scenario)".into(),
        Some((scheme, _)) => format!("{scheme} (--database-url)"),
    }
}
