//! The schema's migrations, applied in order at open. Each runs in its own
//! `BEGIN IMMEDIATE` transaction with the record of it, so two processes opening
//! one file apply each migration once, and a crash leaves it applied or not.
//!
//! The record is the `_sqlx_migrations` table that earlier releases (which
//! migrated through sqlx) wrote, in the same format (version, description,
//! SHA-384 checksum of the file), so their databases open unchanged; a migration
//! whose file changed after it ran is refused rather than silently skipped.

use std::collections::BTreeMap;
use std::time::Instant;

use onboard_core::store::StoreError;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha384};

use crate::convert::classify;

/// One migration: its version, its description (the file name's words) and SQL.
struct Migration {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

/// A migration file of this crate's `migrations/` folder.
macro_rules! own {
    ($file:literal) => {
        include_str!(concat!("../migrations/", $file))
    };
}

const fn migration(version: i64, description: &'static str, sql: &'static str) -> Migration {
    Migration {
        version,
        description,
        sql,
    }
}

/// Every migration, oldest first: this crate's files (described by the words of
/// their names; a test checks the list against the folder), then the ones shared
/// with the other engine.
const MIGRATIONS: &[Migration] = &[
    migration(1, "foundation", own!("0001_foundation.sql")),
    migration(
        2,
        "lifecycle and events",
        own!("0002_lifecycle_and_events.sql"),
    ),
    migration(3, "server secrets", own!("0003_server_secrets.sql")),
    migration(4, "keys operators", own!("0004_keys_operators.sql")),
    migration(5, "edd documents", own!("0005_edd_documents.sql")),
    migration(
        6,
        "code quota idempotency",
        own!("0006_code_quota_idempotency.sql"),
    ),
    migration(7, "webhooks", own!("0007_webhooks.sql")),
    migration(8, "console", onboard_store_sql::shared_migrations::CONSOLE),
    migration(
        9,
        "rendered users",
        onboard_store_sql::shared_migrations::RENDERED_USERS,
    ),
    migration(
        10,
        "sealed personal data",
        onboard_store_sql::shared_migrations::SEALED_PERSONAL_DATA,
    ),
];

const RECORD: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
)";

fn failed(message: String) -> StoreError {
    StoreError::Internal(format!("migration failed: {message}"))
}

/// Brings the database at `conn` up to the newest schema.
pub(crate) fn run(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(RECORD).map_err(classify)?;
    let applied = applied(conn)?;
    if let Some((version, _)) = applied.iter().find(|(_, (_, success))| !success) {
        return Err(failed(format!(
            "migration {version} stopped partway in an earlier run; the database needs repair"
        )));
    }
    if let Some(version) = applied
        .keys()
        .find(|v| !MIGRATIONS.iter().any(|m| m.version == **v))
    {
        return Err(failed(format!(
            "the database holds migration {version}, which this release does not know"
        )));
    }
    for migration in MIGRATIONS {
        let checksum = Sha384::digest(migration.sql).to_vec();
        match applied.get(&migration.version) {
            Some((recorded, _)) if *recorded == checksum => {}
            Some(_) => {
                return Err(failed(format!(
                    "migration {} ({}) was changed after it ran",
                    migration.version, migration.description
                )));
            }
            None => apply(conn, migration, &checksum)?,
        }
    }
    Ok(())
}

/// Recorded migrations: version → (checksum, success).
fn applied(conn: &Connection) -> Result<BTreeMap<i64, (Vec<u8>, bool)>, StoreError> {
    let mut statement = conn
        .prepare("SELECT version, checksum, success FROM _sqlx_migrations")
        .map_err(classify)?;
    let rows = statement
        .query_map([], |row| Ok((row.get(0)?, (row.get(1)?, row.get(2)?))))
        .map_err(classify)?;
    rows.collect::<Result<_, _>>().map_err(classify)
}

fn apply(conn: &mut Connection, migration: &Migration, checksum: &[u8]) -> Result<(), StoreError> {
    let started = Instant::now();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(classify)?;
    // Another process may have applied it since the list was read.
    let done: Option<Vec<u8>> = tx
        .query_row(
            "SELECT checksum FROM _sqlx_migrations WHERE version = ?1",
            [migration.version],
            |row| row.get(0),
        )
        .optional()
        .map_err(classify)?;
    if let Some(recorded) = done {
        if recorded != checksum {
            return Err(failed(format!(
                "migration {} ({}) was applied with other text by another process",
                migration.version, migration.description
            )));
        }
        return Ok(());
    }
    tx.execute_batch(migration.sql).map_err(|e| {
        failed(format!(
            "migration {} ({}): {e}",
            migration.version, migration.description
        ))
    })?;
    tx.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (?1, ?2, TRUE, ?3, -1)",
        params![migration.version, migration.description, checksum],
    )
    .map_err(classify)?;
    tx.commit().map_err(classify)?;
    let nanos = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
    conn.execute(
        "UPDATE _sqlx_migrations SET execution_time = ?1 WHERE version = ?2",
        params![nanos, migration.version],
    )
    .map_err(classify)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file in `migrations/` is listed, in order, with the description its
    /// file name gives (the words between the number and `.sql`) and its text;
    /// the entries past the folder's are migrations shared with the other engine.
    #[test]
    fn the_list_matches_the_migrations_folder() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(files.len() <= MIGRATIONS.len(), "{files:?}");
        for (path, migration) in files.iter().zip(MIGRATIONS) {
            let file = path.file_name().unwrap().to_str().unwrap();
            let (number, rest) = file.split_once('_').unwrap();
            assert_eq!(number.parse::<i64>().unwrap(), migration.version, "{file}");
            let words = rest.trim_end_matches(".sql").replace('_', " ");
            assert_eq!(words, migration.description, "{file}");
            assert_eq!(
                std::fs::read_to_string(path).unwrap(),
                migration.sql,
                "{file}"
            );
        }
        let shared: Vec<&str> = MIGRATIONS[files.len()..].iter().map(|m| m.sql).collect();
        assert_eq!(shared, onboard_store_sql::shared_migrations::ALL);
    }
}
