//! The data the scenarios use: registration bodies for distinct individuals, and
//! rows bulk-loaded straight into the database (SQLite or PostgreSQL) before the
//! server starts.
//!
//! Loading 100,000 or 1,000,000 users through HTTP would take longer than the
//! measurement, so [`bulk_load`] writes the `users` rows through the store's bulk
//! import, with the column
//! values a registration of the same body produces (parsed by the domain's own
//! `Registration::parse` and encoded by `UserRow::encode`). It writes users only:
//! no events, codes or outbox rows, which the read scenarios never touch.

use onboard_core::store::TenantStore;
use std::ops::Range;
use std::time::Duration;

use anyhow::{Context, anyhow};
use onboard_core::events::EventKind;
use onboard_core::lifecycle;
use onboard_core::registration::Registration;
use onboard_core::store::{EnterpriseId, EventRow, UserRow};
use onboard_core::user::User;
use onboard_core::values::{Email, UserId};
use onboard_store_postgres::PoolSettings;
use onboard_store_sql::{Engine, INSERT_USER, SqlStore, Value, insert_args};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::process::Database;

/// Rows per transaction while bulk loading.
const LOAD_BATCH: u64 = 20_000;

/// Stands for the user id in [`BodyTemplate`].
const UID: &str = "@@UID@@";

/// The `user_id` of the `i`-th user of a run: fixed width, so bodies and rows of
/// one run all have the same size.
pub fn user_id(prefix: &str, i: u64) -> String {
    format!("{prefix}{i:08}")
}

/// The vendor's example individual with its own `user_id` and email: a valid
/// registration for every distinct `user_id`.
pub struct BodyTemplate(String);

impl Default for BodyTemplate {
    fn default() -> Self {
        let body = json!({
            "account_type": "individual",
            "account_role": "client",
            "user_id": UID,
            "email": format!("{UID}@bench-mail.com"),
            "first_name": "Jane",
            "last_name": "Smith",
            "phone_number": "+12243987754",
            "phone_country_code": "US",
            "account_purpose": "Investing",
            "source_of_funds": "other",
            "source_of_funds_other": "Salary and investing",
            "individual": {
                "dob": "1980-01-01",
                "residential_country_code": "US",
                "residential_address": "123 Main St",
                "residential_city": "San Francisco",
                "residential_state": "CA",
                "residential_postal_code": "60622",
                "id_type": "ssn",
                "id_number": "521-45-6789",
                "id_country_code": "US"
            }
        });
        BodyTemplate(body.to_string())
    }
}

impl BodyTemplate {
    pub fn body(&self, user_id: &str) -> String {
        self.0.replace(UID, user_id)
    }
}

/// The rows a registration of [`BodyTemplate`] writes, for any `user_id`.
pub struct RowTemplate {
    user: User,
}

impl RowTemplate {
    /// Parses the template body once with the domain's own parser.
    pub fn new() -> anyhow::Result<RowTemplate> {
        let body = serde_json::from_str(&BodyTemplate::default().body("template"))?;
        let registration = Registration::parse(body, OffsetDateTime::now_utc().date())
            .map_err(|problems| anyhow!("the template body is invalid: {problems:?}"))?;
        let start = lifecycle::registered(registration.account_type, None);
        let mut user = registration.into_user(Uuid::now_v7());
        user.summary.status = start.status;
        user.summary.requirements = start.requirements;
        Ok(RowTemplate { user })
    }

    /// The user `user_id`, with a fresh server id.
    fn named(&self, user_id: &str) -> anyhow::Result<User> {
        let mut user = self.user.clone();
        user.id = Uuid::now_v7();
        user.summary.user_id = UserId::parse(user_id).map_err(|e| anyhow!("{user_id}: {e}"))?;
        user.summary.email = Email::parse(&format!("{user_id}@bench-mail.com"))
            .map_err(|e| anyhow!("{user_id}: {e}"))?;
        Ok(user)
    }

    /// The `users` columns of the user `user_id` (its stored JSON included), with
    /// a fresh server id.
    pub fn user(&self, user_id: &str) -> anyhow::Result<UserRow> {
        UserRow::encode(&self.named(user_id)?).map_err(|e| anyhow!("{e}"))
    }

    /// The `events` row its registration appends.
    pub fn event(&self, user_id: &str, now: OffsetDateTime) -> anyhow::Result<EventRow> {
        let user = self.named(user_id)?;
        EventRow::encode(EventKind::Registered, "registered", &user.summary, now)
            .map_err(|e| anyhow!("{e}"))
    }
}

/// Writes a row with the store's own `INSERT INTO users`, for the register
/// floor; returns its position.
pub fn insert_user(
    conn: &rusqlite::Connection,
    enterprise: i64,
    row: &UserRow,
    now: OffsetDateTime,
) -> anyhow::Result<i64> {
    let args = insert_args(EnterpriseId(enterprise), row, now);
    let params = args.into_iter().map(|v| match v {
        Value::Int(i) => rusqlite::types::Value::from(i),
        Value::Text(t) => rusqlite::types::Value::from(t),
        Value::Bool(b) => rusqlite::types::Value::from(b),
        Value::Bytes(v) => rusqlite::types::Value::from(v),
    });
    conn.prepare_cached(INSERT_USER)?
        .execute(rusqlite::params_from_iter(params))?;
    Ok(conn.last_insert_rowid())
}

/// The id of the enterprise named `name`.
pub fn enterprise_id(conn: &rusqlite::Connection, name: &str) -> anyhow::Result<i64> {
    conn.query_row(
        "SELECT id FROM enterprises WHERE name = ?1",
        [name],
        |row| row.get(0),
    )
    .with_context(|| format!("Failed to find the enterprise {name:?}"))
}

/// Writes users `prefix + i` for `i` in `range` through the store's bulk import
/// (SQLite or PostgreSQL), in big transactions (one fsync each), while the
/// server is stopped.
pub async fn bulk_load(
    database: &Database,
    enterprise: &str,
    prefix: &str,
    range: Range<u64>,
) -> anyhow::Result<Duration> {
    match database {
        Database::Sqlite(path) => {
            let store = onboard_store_sqlite::open_file(path)
                .await
                .context("Failed to open the database to load it")?;
            load_into(&store, enterprise, prefix, range).await
        }
        Database::Postgres(db) => {
            let store = onboard_store_postgres::open(&db.url, PoolSettings::default())
                .await
                .context("Failed to open the database to load it")?;
            let took = load_into(&store, enterprise, prefix, range).await?;
            // What autovacuum does within a minute of a bulk load: set the rows'
            // visibility hints and the planner's statistics, so the measured reads
            // do not pay for writing those hints into every page they touch.
            store
                .engine()
                .write_count("VACUUM (ANALYZE) users", Vec::new())
                .await
                .context("Failed to vacuum the loaded users")?;
            Ok(took)
        }
        Database::Url(_) => anyhow::bail!(
            "this scenario bulk-loads users, which needs a database the bench creates: \
             SQLite (the default) or --postgres-url"
        ),
    }
}

async fn load_into<E: Engine>(
    store: &SqlStore<E>,
    enterprise: &str,
    prefix: &str,
    range: Range<u64>,
) -> anyhow::Result<Duration> {
    let started = std::time::Instant::now();
    let found = store.enterprise_by_name(enterprise).await?;
    let enterprise =
        found.with_context(|| format!("Failed to find the enterprise {enterprise:?}"))?;
    let template = RowTemplate::new()?;
    let now = OffsetDateTime::now_utc();
    let mut next = range.start;
    while next < range.end {
        let end = (next + LOAD_BATCH).min(range.end);
        let rows = (next..end)
            .map(|i| template.user(&user_id(prefix, i)))
            .collect::<anyhow::Result<Vec<UserRow>>>()?;
        store
            .import_users(enterprise.id, &rows, now)
            .await
            .context("Failed to commit a batch of users")?;
        next = end;
    }
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_body_is_a_valid_registration() {
        let body = BodyTemplate::default().body(&user_id("bench_", 7));
        let value = serde_json::from_str(&body).unwrap();
        let parsed = Registration::parse(value, OffsetDateTime::now_utc().date());
        assert!(parsed.is_ok(), "{parsed:?}");
    }

    #[test]
    fn template_rows_carry_the_user_id_and_the_registered_state() {
        let template = RowTemplate::new().unwrap();
        let row = template.user("bench_00000001").unwrap();
        assert_eq!(row.user_id, "bench_00000001");
        assert_eq!(row.email, "bench_00000001@bench-mail.com");
        assert_eq!(row.status, "PENDING");
        assert!(row.profile.as_deref().unwrap().contains("*****6789"));
        let rendered = row.rendered.unwrap();
        assert!(rendered.list.contains(r#""user_id":"bench_00000001""#));
        assert!(
            rendered
                .full
                .contains(r#""email":"bench_00000001@bench-mail.com""#)
        );
    }
}
