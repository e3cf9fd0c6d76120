//! Test support: [`TestDatabase`] gives each test its own database of either
//! backend, and removes it afterwards; [`fixtures`] holds the request bodies that
//! many suites send; [`browser`] runs a headless Chromium for the console's tests.
//!
//! PostgreSQL suites take the server from `ONBOARD_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); when it does not answer, a
//! throw-away cluster of the test process's own, or, where PostgreSQL is not
//! installed either, nothing: see [`skip_postgres`] and the module `server` for
//! the details. Each test creates a database of its own on the server and drops it
//! when done.

pub mod browser;
pub mod fixtures;
mod server;

use std::sync::Arc;

use onboard_core::store::Store;
use onboard_store_postgres::PoolSettings;
use sqlx::Connection;
use sqlx::postgres::PgConnection;

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

impl TestDatabase {
    pub async fn new(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => Self::postgres().await,
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
        let server = postgres_server_url();
        let name = format!("onboard_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {server} ({e})"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("Failed to create the test database");
        let _ = admin.close().await;
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
                onboard_store_sqlite::open(&self.url)
                    .await
                    .expect("Failed to open the SQLite store"),
            ),
            Backend::Postgres => Arc::new(
                onboard_store_postgres::open(&self.url, PoolSettings::default())
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
                let store = onboard_store_sqlite::open(&self.url)
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

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop runs inside the test's runtime: do the async work on a thread of
        // its own. FORCE ends the connections that servers under test still hold.
        let server = postgres_server_url();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&server).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut admin)
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("warning: a test database could not be dropped");
        }
    }
}
