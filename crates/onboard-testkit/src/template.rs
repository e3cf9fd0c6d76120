//! The migrated database that PostgreSQL test databases are copied from
//! (`CREATE DATABASE … TEMPLATE …`): a copy costs a fraction of running every
//! migration again. Each test process migrates one, the first time a test asks.
//!
//! # How the template ends with the process
//!
//! Statics are never dropped, and a process may be killed. So the process holds,
//! for its whole life, a session-level advisory lock named after its template, on
//! a connection that a thread of its own keeps open; the server releases the lock
//! when that connection closes, which it does when the process ends, however it
//! ends. A process about to make its template first drops every template whose
//! lock it can take: those of processes that have ended.

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::sync::OnceCell;

use crate::{admin_execute, postgres_server_url, sealer};

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// The name of this process's template, made on first use.
pub(crate) async fn template() -> &'static str {
    TEMPLATE.get_or_init(make).await
}

async fn make() -> String {
    let server = postgres_server_url();
    let name = format!("onboard_template_{}", uuid::Uuid::now_v7().simple());
    hold_lock(&server, &name).await;
    drop_abandoned(&server).await;
    admin_execute(&server, &format!("CREATE DATABASE {name}")).await;
    let url = onboard_store_postgres::database_url(&server, &name);
    let store = onboard_store_postgres::open(
        &url,
        onboard_store_postgres::PoolSettings::default(),
        sealer(),
    )
    .await
    .expect("Failed to migrate the template database");
    drop(store);
    // A copy needs the template without sessions: let no new one in, and end the
    // pool's, which close in the background.
    admin_execute(
        &server,
        &format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"),
    )
    .await;
    admin_execute(
        &server,
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"),
    )
    .await;
    name
}

/// Takes the advisory lock of `name` on a connection that a thread of its own
/// keeps open until the process ends.
async fn hold_lock(server: &str, name: &str) {
    let (locked, is_locked) = tokio::sync::oneshot::channel();
    let (server, name) = (server.to_owned(), name.to_owned());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let mut conn = PgConnection::connect(&server)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {server} ({e})"));
            sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
                .bind(&name)
                .execute(&mut conn)
                .await
                .expect("the template's lock is taken");
            let _ = locked.send(());
            std::future::pending::<()>().await;
        });
    });
    is_locked.await.expect("the template's lock is taken");
}

/// Drops the templates of processes that have ended: those whose lock is free.
async fn drop_abandoned(server: &str) {
    let Ok(mut admin) = PgConnection::connect(server).await else {
        return;
    };
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'onboard\\_template\\_%'",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap_or_default();
    for name in names {
        let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .unwrap_or(false);
        if free {
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await;
            let _ = sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
                .bind(&name)
                .execute(&mut admin)
                .await;
        }
    }
    let _ = admin.close().await;
}
