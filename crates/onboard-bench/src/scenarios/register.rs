//! register: `POST /v1/enterprise/register-account` with distinct valid
//! individuals at fixed concurrency.
//!
//! Floor: the rows one registration leaves (its `users` row, its `events` row
//! and the `last_event_id` bump, the first email code in `verification_codes`,
//! its `outbox` message), written straight into the database, one transaction per
//! registration, by the same 64 workers, on the server's cores:
//! - SQLite: by the same library (rusqlite), through one writer connection with
//!   the server's settings (WAL, `synchronous=FULL`, `BEGIN IMMEDIATE`), each
//!   transaction on a blocking thread;
//! - PostgreSQL (`--postgres-url`): by the same driver (sqlx, through the store's
//!   own engine and pool, 16 connections as the server's default), with the
//!   store's own statements (`INSERT_USER`, the event append), the event last as
//!   the store writes it (its row lock held to commit). No `NOTIFY`, which the
//!   server sends with each event for other nodes.

use onboard_core::seal::Sealer;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use onboard_core::store::{EnterpriseId, micros};
use onboard_core::verification::{CODE_TTL, Channel, Code};
use onboard_store_postgres::{PoolSettings, PostgresStore};
use onboard_store_sql::{Engine as _, INSERT_USER, Tx as _, Value, insert_args};
use rusqlite::{Connection, TransactionBehavior, params};
use time::OffsetDateTime;

use super::{Ctx, Onboard};
use crate::dataset::{BodyTemplate, RowTemplate, insert_user, user_id};
use crate::driver::{self, Load, Outcome};
use crate::pin;
use crate::process::PgDatabase;
use crate::process::stop;
use crate::report::{Better, Row};

const NAME: &str = "register";

/// Our creates/s must reach this multiple of the one-transaction-per-row floor:
/// concurrent registrations share commits.
const TARGET: f64 = 1.5;

pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let plan = &ctx.plan;
    let onboard = Onboard::start(ctx, NAME, 0).await?;
    let url = format!("{}/v1/enterprise/register-account", onboard.served.base);
    let client = driver::client(plan.load.concurrency);
    let http = Http::new(client, url, onboard.key.clone());
    register_load(&http, "warm_", plan.warmup_load()).await;
    let mut ours = register_load(&http, "reg_", plan.register_load()).await;
    ours.check("register, ours")?;
    stop(onboard.served).await;

    let (warm, load) = (plan.warmup_load(), plan.register_load());
    let (mut floor, what) = match &ctx.postgres_url {
        None => {
            let dir = ctx.folder("register-floor")?;
            let floor_db = Arc::new(FloorDb::open(&dir.join("floor.db")).await?);
            let floor = pin::on_server_cores(move || async move {
                floor_load(&floor_db, "warm_", warm).await;
                floor_load(&floor_db, "reg_", load).await
            })
            .await?;
            (floor, "SQLite, same durability and library")
        }
        Some(server) => {
            let floor_db = Arc::new(PgFloor::open(server).await?);
            let floor = pin::on_server_cores(move || async move {
                pg_floor_load(&floor_db, "warm_", warm).await;
                pg_floor_load(&floor_db, "reg_", load).await
            })
            .await?;
            (floor, "PostgreSQL, same driver, pool and statements")
        }
    };
    floor.check("register, floor")?;
    Ok(vec![
        Row::new(
            NAME,
            "creates/s",
            "users/s",
            Better::Higher,
            ours.per_second(),
        )
        .floor(floor.per_second())
        .ratio_target(TARGET)
        .note(format!(
            "{} users created; floor: the same rows straight into {what}, one \
             transaction per registration, {} workers",
            ours.ok, plan.load.concurrency
        )),
        Row::new(NAME, "p50", "ms", Better::Lower, ours.latencies.p50_ms())
            .floor(floor.latencies.p50_ms()),
        Row::new(NAME, "p99", "ms", Better::Lower, ours.latencies.p99_ms())
            .floor(floor.latencies.p99_ms()),
    ])
}

/// Where and how to post registrations.
pub struct Http {
    client: reqwest::Client,
    url: String,
    key: String,
    bodies: BodyTemplate,
}

impl Http {
    pub fn new(client: reqwest::Client, url: String, key: String) -> Arc<Http> {
        Arc::new(Http {
            client,
            url,
            key,
            bodies: BodyTemplate::default(),
        })
    }

    pub async fn post(&self, uid: &str) -> Result<(), String> {
        let body = self.bodies.body(uid);
        driver::post_created(&self.client, &self.url, &self.key, body).await
    }

    /// A registration whose 201 body is kept (to be served by a floor).
    pub async fn post_capture(&self, uid: &str) -> anyhow::Result<String> {
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(&self.key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(self.bodies.body(uid))
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(
            status == reqwest::StatusCode::CREATED,
            "register answered {status}: {text}"
        );
        Ok(text)
    }
}

/// Registers `prefix` + `i` for each call of the driver.
pub async fn register_load(http: &Arc<Http>, prefix: &'static str, load: Load) -> Outcome {
    let http = http.clone();
    driver::drive(load, move |i| {
        let http = http.clone();
        async move { http.post(&user_id(prefix, i)).await }
    })
    .await
}

struct FloorDb {
    conn: Mutex<Connection>,
    enterprise: i64,
    rows: RowTemplate,
    /// Seals the rows as the store does, so the floor pays for sealing too.
    sealer: Sealer,
}

impl FloorDb {
    /// A database migrated by the store itself, reopened with the server's
    /// writer settings: one connection, WAL, `synchronous=FULL`.
    async fn open(path: &Path) -> anyhow::Result<FloorDb> {
        let sealer = Sealer::ephemeral();
        drop(onboard_store_sqlite::open_file(path, sealer.clone()).await?);
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let enterprise = conn.query_row(
            "INSERT INTO enterprises (name, api_key_hash, created_at) VALUES ('floor', ?1, 0) \
             RETURNING id",
            ["0".repeat(64)],
            |row| row.get(0),
        )?;
        Ok(FloorDb {
            conn: Mutex::new(conn),
            enterprise,
            rows: RowTemplate::new()?,
            sealer,
        })
    }

    /// One registration's rows in one transaction, as `insert_user`, `decide`
    /// and `append_outbox` leave them between them.
    fn insert(&self, uid: &str) -> anyhow::Result<()> {
        let now = OffsetDateTime::now_utc();
        let user = self.rows.user(uid)?;
        let code = Code::hash(user.id.parse()?, Channel::Email, "123456");
        let event = self.rows.event(uid, now)?;
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let position = insert_user(&tx, &self.sealer, self.enterprise, &user, now)?;
        // The `last_event_id` bump and the `events` row, as `events::append` writes them.
        let event_id: i64 = tx
            .prepare_cached(
                "UPDATE enterprises SET last_event_id = last_event_id + 1 WHERE id = ?1 \
             RETURNING last_event_id",
            )?
            .query_row([self.enterprise], |row| row.get(0))?;
        tx.prepare_cached(
            "INSERT INTO events (enterprise_id, event_id, user_id, kind, cause, snapshot, \
             created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            self.enterprise,
            event_id,
            uid,
            event.kind,
            event.cause,
            event.snapshot,
            event.created_at
        ])?;
        tx.prepare_cached(
            "INSERT OR REPLACE INTO verification_codes (user_position, channel, code_hash, \
             sent_at, expires_at, failed_attempts) VALUES (?1, 'email', ?2, ?3, ?4, 0)",
        )?
        .execute(params![position, code, micros(now), micros(now + CODE_TTL)])?;
        tx.prepare_cached(
            "INSERT INTO outbox (enterprise_id, user_id, channel, recipient, code, sent_at) \
             VALUES (?1, ?2, 'email', ?3, '123456', ?4)",
        )?
        .execute(params![self.enterprise, uid, user.email, micros(now)])?;
        tx.commit()?;
        Ok(())
    }
}

async fn floor_load(db: &Arc<FloorDb>, prefix: &'static str, load: Load) -> Outcome {
    let db = db.clone();
    driver::drive(load, move |i| {
        let db = db.clone();
        async move {
            let uid = user_id(prefix, i);
            tokio::task::spawn_blocking(move || db.insert(&uid).map_err(|e| e.to_string()))
                .await
                .map_err(|e| e.to_string())?
        }
    })
    .await
}

/// The PostgreSQL floor: a fresh database migrated by the store, written through
/// the store's own engine (sqlx and its pool).
struct PgFloor {
    store: PostgresStore,
    enterprise: i64,
    rows: RowTemplate,
    sealer: Sealer,
    /// Dropped last: the database goes when the floor does.
    _db: PgDatabase,
}

/// The store's code write for a new user (its `ON CONFLICT` form, as `decide`
/// and registration write it).
const INSERT_CODE: &str = "INSERT INTO verification_codes \
     (user_position, channel, code_hash, sent_at, expires_at, failed_attempts, \
     recent_sends) VALUES (?, ?, ?, ?, ?, 0, ?) \
     ON CONFLICT (user_position, channel) DO UPDATE SET code_hash = excluded.code_hash, \
     sent_at = excluded.sent_at, expires_at = excluded.expires_at, failed_attempts = 0, \
     recent_sends = excluded.recent_sends";

impl PgFloor {
    async fn open(server: &str) -> anyhow::Result<PgFloor> {
        let db = PgDatabase::create(server).await?;
        let sealer = Sealer::ephemeral();
        let settings = PoolSettings::default();
        let store = onboard_store_postgres::open(&db.url, settings, sealer.clone()).await?;
        let created = store
            .engine()
            .write(
                "INSERT INTO enterprises (name, api_key_hash, created_at) VALUES ('floor', ?, 0) \
                 RETURNING id",
                vec![Value::from("0".repeat(64))],
            )
            .await?;
        let enterprise = created
            .first()
            .ok_or_else(|| anyhow::anyhow!("no enterprise id"))?
            .int("id")?;
        Ok(PgFloor {
            store,
            enterprise,
            rows: RowTemplate::new()?,
            sealer,
            _db: db,
        })
    }

    /// One registration's rows in one transaction, in the store's order: the
    /// user, its code, the outbox message, then the event (the enterprise row's
    /// lock, held to commit, is taken last).
    async fn insert(&self, uid: &str) -> anyhow::Result<()> {
        let now = OffsetDateTime::now_utc();
        let user = self.rows.user(uid)?;
        let code = Code::hash(user.id.parse()?, Channel::Email, "123456");
        let event = self.rows.event(uid, now)?;
        let enterprise = self.enterprise;
        let mut tx = self.store.engine().begin().await?;
        let sql = format!("{INSERT_USER} RETURNING position");
        let inserted = tx
            .fetch(
                &sql,
                insert_args(&self.sealer, EnterpriseId(enterprise), &user, now)?.0,
            )
            .await?;
        let position = inserted
            .first()
            .ok_or_else(|| anyhow::anyhow!("no position"))?
            .int("position")?;
        tx.execute(
            INSERT_CODE,
            vec![
                Value::from(position),
                Value::from("email"),
                Value::from(code),
                Value::from(micros(now)),
                Value::from(micros(now + CODE_TTL)),
                Value::from(""),
            ],
        )
        .await?;
        tx.execute(
            "INSERT INTO outbox (enterprise_id, user_id, channel, recipient, code, sent_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
            vec![
                Value::from(enterprise),
                Value::from(uid),
                Value::from("email"),
                Value::from(&user.email),
                Value::from("123456"),
                Value::from(micros(now)),
            ],
        )
        .await?;
        let bumped = tx
            .fetch(
                "UPDATE enterprises SET last_event_id = last_event_id + 1 WHERE id = ? \
                 RETURNING last_event_id",
                vec![Value::from(enterprise)],
            )
            .await?;
        let event_id = bumped
            .first()
            .ok_or_else(|| anyhow::anyhow!("no event id"))?
            .int("last_event_id")?;
        tx.execute(
            "INSERT INTO events (enterprise_id, event_id, user_id, kind, cause, operator, note, \
             snapshot, created_at, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vec![
                Value::from(enterprise),
                Value::from(event_id),
                Value::from(uid),
                Value::from(event.kind),
                Value::from(event.cause),
                Value::from(event.operator),
                Value::from(event.note),
                Value::from(event.snapshot),
                Value::from(event.created_at),
                Value::from(event.detail),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn pg_floor_load(db: &Arc<PgFloor>, prefix: &'static str, load: Load) -> Outcome {
    let db = db.clone();
    driver::drive(load, move |i| {
        let db = db.clone();
        async move {
            let uid = user_id(prefix, i);
            db.insert(&uid).await.map_err(|e| format!("{e:#}"))
        }
    })
    .await
}
