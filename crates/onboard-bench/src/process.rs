//! The processes under test: the real `onboard serve` and the bench's own floor
//! server, each a child on `127.0.0.1`, killed when dropped; and their memory, read
//! from `/proc/<pid>/status`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use std::sync::Arc;

use anyhow::{Context, bail};
use onboard_core::seal::{Keyring, Sealer};
use onboard_testkit::process::try_free_port;
use sqlx::Connection as _;
use tokio::process::Command;

use crate::pin;

/// How long a child may take to answer its first request.
const STARTUP: Duration = Duration::from_secs(60);
/// How long a child may take to stop after SIGTERM.
const STOP: Duration = Duration::from_secs(30);

/// Where the data of one server lives.
#[derive(Debug, Clone)]
pub enum Database {
    /// An embedded SQLite file that the bench creates and may bulk-load.
    Sqlite(PathBuf),
    /// A fresh PostgreSQL database that the bench created (and drops when the
    /// last handle goes), and may bulk-load.
    Postgres(Arc<PgDatabase>),
    /// Any other URL (`--database-url`), passed through as is.
    Url(String),
}

impl Database {
    pub fn url(&self) -> String {
        match self {
            Database::Sqlite(path) => format!("sqlite:{}", path.display()),
            Database::Postgres(db) => db.url.clone(),
            Database::Url(url) => url.clone(),
        }
    }

    /// The master keyring the servers and bulk loads of this database share:
    /// beside a SQLite file, or in the temporary folder for another database.
    pub fn keyring_file(&self) -> PathBuf {
        match self {
            Database::Sqlite(path) => path.with_extension("key"),
            Database::Postgres(db) => std::env::temp_dir().join(format!("{}.key", db.name)),
            Database::Url(url) => {
                use std::hash::{Hash as _, Hasher as _};
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                url.hash(&mut hasher);
                let name = hasher.finish();
                std::env::temp_dir().join(format!("onboard-bench-{name:016x}.key"))
            }
        }
    }

    /// The keyring of [`Database::keyring_file`], written first if missing.
    pub fn sealer(&self) -> anyhow::Result<Sealer> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = self.keyring_file();
        if !path.exists() {
            let text = Keyring::generate().to_text();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("Failed to create {}", path.display()))?;
            std::io::Write::write_all(&mut file, text.as_bytes())?;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("Failed to read {}", path.display()))?;
        Ok(Sealer::new(Keyring::parse(&text)?))
    }

    pub fn sqlite_path(&self) -> anyhow::Result<&Path> {
        match self {
            Database::Sqlite(path) => Ok(path),
            Database::Postgres(_) | Database::Url(_) => bail!(
                "this scenario reads rows or measures its floor straight in SQLite; \
                 for another database it is not implemented yet"
            ),
        }
    }
}

/// A database created on a PostgreSQL server for one scenario, dropped (with
/// `FORCE`, ending connections a server still holds) when this is dropped.
#[derive(Debug)]
pub struct PgDatabase {
    /// The new database's URL.
    pub url: String,
    pub name: String,
    /// The server's URL, as given: where it is dropped from.
    server: String,
}

impl PgDatabase {
    /// `CREATE DATABASE onboard_bench_<uuid>` on the server at `server`.
    pub async fn create(server: &str) -> anyhow::Result<PgDatabase> {
        let name = format!("onboard_bench_{}", uuid::Uuid::now_v7().simple());
        let mut admin = sqlx::PgConnection::connect(server)
            .await
            .context("Failed to connect to the --postgres-url server")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .with_context(|| format!("Failed to create the database {name}"))?;
        let _ = admin.close().await;
        Ok(PgDatabase {
            url: onboard_store_postgres::database_url(server, &name),
            name,
            server: server.to_owned(),
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Drop may run inside the runtime: do the async work on a thread.
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&server).await?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut admin)
                    .await?;
                let _ = admin.close().await;
                Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the database {}: drop it by hand", self.name);
        }
    }
}

pub use onboard_testkit::Served;

/// Starts `command` (which must listen on `port`), its stderr in
/// `log_dir/<name>.log`, and waits until `/healthz` answers.
async fn spawn(command: Command, port: u16, log_dir: &Path, name: &str) -> anyhow::Result<Served> {
    let served = Served::start(command, port, name, Some(log_dir))
        .context("Failed to start the server process")?;
    served.wait_ready("/healthz", STARTUP).await?;
    Ok(served)
}

/// SIGTERM (the server shuts down gracefully, and a profiler wrapped around it
/// gets to write its data), then SIGKILL if it lingers.
pub async fn stop(served: Served) {
    let _ = served.stop(STOP).await;
}

/// A child's memory as the kernel counts it.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss_kib: u64,
    pub peak_kib: u64,
}

impl Memory {
    pub fn of(served: &Served) -> anyhow::Result<Memory> {
        let (rss_kib, peak_kib) = onboard_testkit::process::memory_kib(served.pid)
            .with_context(|| format!("Failed to read /proc/{}/status", served.pid))?;
        Ok(Memory { rss_kib, peak_kib })
    }

    /// Resets the peak (`VmHWM`) to the current RSS, so that a later
    /// [`Memory::peak_kib`] is the peak of what happened in between.
    pub fn reset_peak(served: &Served) -> anyhow::Result<()> {
        std::fs::write(format!("/proc/{}/clear_refs", served.pid), "5")
            .context("Failed to reset the peak RSS through /proc/<pid>/clear_refs")
    }
}

/// The `onboard` binary and how to reach a server it runs.
#[derive(Debug, Clone)]
pub struct OnboardBin(pub PathBuf);

impl OnboardBin {
    /// `--server-bin`, else `onboard` next to this executable (the same target
    /// folder, so `cargo build --release -p onboard-cli` puts it there).
    pub fn locate(given: Option<PathBuf>) -> anyhow::Result<OnboardBin> {
        let path = match given {
            Some(path) => path,
            None => {
                let me = std::env::current_exe().context("Failed to find this executable")?;
                let dir = me.parent().context("this executable has no folder")?;
                // Integration tests run from target/<profile>/deps.
                let dir = if dir.ends_with("deps") {
                    dir.parent().unwrap_or(dir)
                } else {
                    dir
                };
                dir.join("onboard")
            }
        };
        anyhow::ensure!(
            path.is_file(),
            "no server binary at {}: build it with `cargo build --release -p onboard-cli` \
             (or pass --server-bin)",
            path.display()
        );
        Ok(OnboardBin(path))
    }

    /// `onboard enterprise create`: the new key, the only line on its stdout.
    pub async fn create_enterprise(&self, db: &Database, name: &str) -> anyhow::Result<String> {
        db.sealer()?;
        let out = Command::new(&self.0)
            .args([
                "enterprise",
                "create",
                "--name",
                name,
                "--database-url",
                &db.url(),
            ])
            .arg("--master-key-file")
            .arg(db.keyring_file())
            .stdin(Stdio::null())
            .output()
            .await
            .context("Failed to run onboard enterprise create")?;
        if !out.status.success() {
            bail!(
                "onboard enterprise create failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    }

    /// `onboard serve` on a free loopback port, its log in `log_dir/server.log`.
    pub async fn serve(&self, db: &Database, log_dir: &Path) -> anyhow::Result<Served> {
        self.serve_with(db, log_dir, &[]).await
    }

    /// [`OnboardBin::serve`] with more flags.
    pub async fn serve_with(
        &self,
        db: &Database,
        log_dir: &Path,
        extra: &[&str],
    ) -> anyhow::Result<Served> {
        let port = try_free_port()?;
        let mut command = pin::server_command(&self.0);
        command.args(["serve", "--listen", &format!("127.0.0.1:{port}")]);
        db.sealer()?;
        command.args(["--database-url", &db.url()]);
        command.arg("--master-key-file").arg(db.keyring_file());
        // idle-connections holds 10,000 WebSockets and one more, above the default
        // cap of 10,000 open connections per node.
        command.args(["--max-connections", "50000"]);
        command.args(extra);
        spawn(command, port, log_dir, "server").await
    }
}

/// The floor server: this very executable, run as `onboard-bench floor-server`.
pub async fn serve_floor(config: &Path, log_dir: &Path) -> anyhow::Result<Served> {
    let port = try_free_port()?;
    let me = std::env::current_exe().context("Failed to find this executable")?;
    let mut command = pin::server_command(&me);
    command.arg("floor-server").arg("--config").arg(config);
    command.args(["--port", &port.to_string()]);
    spawn(command, port, log_dir, "floor").await
}
