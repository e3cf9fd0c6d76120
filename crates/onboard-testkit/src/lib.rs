//! Test support: [`TestDatabase`] gives each test its own database of either
//! backend, and removes it afterwards; [`fixtures`] holds the vendor's example
//! bodies that every suite sends; [`process`] starts real `onboard` processes
//! ([`Onboard`], [`Served`], [`free_port`]); [`browser`] runs a headless Chromium
//! for the console's tests; [`receiver`] records the webhooks a server sends.
//!
//! PostgreSQL suites take the server from `ONBOARD_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); when it does not answer, a
//! throw-away cluster of the test process's own, or, where PostgreSQL is not
//! installed either, nothing: see [`skip_postgres`] and the module `server` for
//! the details. Each test creates a database of its own on the server and drops it
//! when done: a copy of a template migrated once per test process
//! ([`TestDatabase::new`]; the module `template` says how the template goes when
//! the process ends), or an empty one ([`TestDatabase::postgres`]) for a test of
//! the migrations themselves.

pub mod browser;
pub mod fixtures;
pub mod process;
pub mod receiver;
mod server;
mod template;

use std::sync::Arc;

use onboard_core::seal::Sealer;
use onboard_core::store::Store;
use onboard_store_postgres::PoolSettings;
use sqlx::Connection;
use sqlx::postgres::PgConnection;

pub use process::{Onboard, Served, free_port};
pub use server::{
    POSTGRES_BIN_VAR, POSTGRES_URL_VAR, REQUIRE_POSTGRES_VAR, postgres_server_url, skip_postgres,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test.
pub struct TestDatabase {
    pub backend: Backend,
    /// What `onboard serve --database-url` takes.
    pub url: String,
    dir: Option<tempfile::TempDir>,
    postgres_name: Option<String>,
}

/// Runs one statement on the test server's own database, panicking on failure.
pub(crate) async fn admin_execute(server: &str, sql: &str) {
    let mut admin = PgConnection::connect(server)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {server} ({e})"));
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = admin.close().await;
}

/// The keyring every store a test process opens seals with, so that a test
/// that opens one database twice reads back what it wrote.
pub fn sealer() -> Sealer {
    static SEALER: std::sync::OnceLock<Sealer> = std::sync::OnceLock::new();
    SEALER.get_or_init(Sealer::ephemeral).clone()
}

impl TestDatabase {
    /// A fresh database of `backend`, with the schema in place on PostgreSQL (the
    /// store's own migrations, copied from a template); opening the store on it
    /// migrates a SQLite file and finds nothing to do on PostgreSQL.
    pub async fn new(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => Self::postgres_migrated().await,
        }
    }

    /// A fresh SQLite file in a temporary folder.
    pub fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("Failed to create a temporary folder");
        let url = format!("sqlite:{}", dir.path().join("onboard.db").display());
        TestDatabase {
            backend: Backend::Sqlite,
            url,
            dir: Some(dir),
            postgres_name: None,
        }
    }

    /// A fresh, empty database on the test PostgreSQL server. Panics where there is
    /// none: callers check [`skip_postgres`] first.
    pub async fn postgres() -> TestDatabase {
        Self::postgres_from(None).await
    }

    /// A fresh database on the test PostgreSQL server, migrated: a copy of this
    /// process's template (see the module `template`). Panics where there is none, like [`Self::postgres`].
    pub async fn postgres_migrated() -> TestDatabase {
        Self::postgres_from(Some(template::template().await)).await
    }

    /// `CREATE DATABASE onboard_test_<uuid>`, empty or a copy of `template`.
    async fn postgres_from(template: Option<&str>) -> TestDatabase {
        let server = postgres_server_url();
        let name = format!("onboard_test_{}", uuid::Uuid::now_v7().simple());
        let sql = match template {
            Some(template) => format!("CREATE DATABASE {name} TEMPLATE {template}"),
            None => format!("CREATE DATABASE {name}"),
        };
        admin_execute(&server, &sql).await;
        let url = onboard_store_postgres::database_url(&server, &name);
        TestDatabase {
            backend: Backend::Postgres,
            url,
            dir: None,
            postgres_name: Some(name),
        }
    }

    /// Opens the store on this database (migrating it).
    pub async fn open_store(&self) -> Arc<dyn Store> {
        match self.backend {
            Backend::Sqlite => Arc::new(
                onboard_store_sqlite::open(&self.url, sealer())
                    .await
                    .expect("Failed to open the SQLite store"),
            ),
            Backend::Postgres => Arc::new(
                onboard_store_postgres::open(&self.url, PoolSettings::default(), sealer())
                    .await
                    .expect("Failed to open the PostgreSQL store"),
            ),
        }
    }

    /// Runs `sql` on this database beside the store, in a transaction of its own:
    /// a test's way to leave rows as an earlier release wrote them.
    pub async fn execute(&self, sql: &str) {
        use onboard_store_sql::{Engine as _, Tx as _};
        match self.backend {
            Backend::Sqlite => {
                let store = onboard_store_sqlite::open(&self.url, sealer())
                    .await
                    .expect("Failed to open the SQLite store");
                let mut tx = store.engine().begin().await.expect("a transaction begins");
                tx.execute(sql, Vec::new())
                    .await
                    .expect("the statement runs");
                tx.commit().await.expect("the transaction commits");
            }
            Backend::Postgres => {
                let mut conn = PgConnection::connect(&self.url)
                    .await
                    .expect("PostgreSQL is reachable");
                sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(&mut conn)
                    .await
                    .expect("the statement runs");
                let _ = conn.close().await;
            }
        }
    }

    /// The folder of a SQLite database (`None` for PostgreSQL).
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(|d| d.path())
    }

    /// The PostgreSQL database's name (`None` for SQLite).
    pub fn postgres_name(&self) -> Option<&str> {
        self.postgres_name.as_deref()
    }
}

/// `DROP DATABASE … WITH (FORCE)`, ending the connections that servers under test
/// still hold.
async fn drop_database(server: &str, name: &str) -> Option<()> {
    let mut admin = PgConnection::connect(server).await.ok()?;
    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    let dropped = sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut admin)
        .await
        .ok();
    let _ = admin.close().await;
    dropped.map(|_| ())
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop runs inside the test's runtime: do the async work on a thread of
        // its own.
        let server = postgres_server_url();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(drop_database(&server, &name))
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("warning: a test database could not be dropped");
        }
    }
}
