//! The schema's migrations, listed rather than read from a folder, so that a
//! table written once for both engines (in `onboard-store-sql`'s shared
//! migrations) takes its place among this engine's own files. sqlx's migrator
//! runs them, under PostgreSQL's advisory lock, and records each (version,
//! description, checksum of its text) exactly as it always has.

use std::borrow::Cow;

use sqlx::SqlStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// Every migration, oldest first: (version, description, SQL). This crate's
/// files are described by the words of their names (a test checks the list
/// against the folder); the ones shared with the other engine come after them.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "schema", include_str!("../migrations/0001_schema.sql")),
    (
        2,
        "server secrets",
        include_str!("../migrations/0002_server_secrets.sql"),
    ),
    (
        3,
        "keys operators",
        include_str!("../migrations/0003_keys_operators.sql"),
    ),
    (
        4,
        "edd documents",
        include_str!("../migrations/0004_edd_documents.sql"),
    ),
    (
        5,
        "code quota idempotency",
        include_str!("../migrations/0005_code_quota_idempotency.sql"),
    ),
    (
        6,
        "webhooks",
        include_str!("../migrations/0006_webhooks.sql"),
    ),
    (7, "console", onboard_store_sql::shared_migrations::CONSOLE),
    (
        8,
        "rendered users",
        onboard_store_sql::shared_migrations::RENDERED_USERS,
    ),
    (
        9,
        "sealed personal data",
        onboard_store_sql::shared_migrations::SEALED_PERSONAL_DATA,
    ),
];

pub(crate) fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    SqlStr::from_static(sql),
                    false,
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The list holds every file of the folder, in order, with the description
    /// and checksum sqlx gives the file itself: databases migrated from the
    /// folder by earlier releases see the same record.
    #[tokio::test]
    async fn the_list_matches_the_migrations_folder() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let from_folder = Migrator::new(dir).await.unwrap();
        let listed = migrator();
        let listed: Vec<_> = listed.iter().collect();
        let folder = from_folder.iter().count();
        assert!(folder <= listed.len());
        for (ours, theirs) in listed.iter().zip(from_folder.iter()) {
            assert_eq!(ours.version, theirs.version);
            assert_eq!(ours.description, theirs.description);
            assert_eq!(ours.checksum, theirs.checksum, "version {}", ours.version);
        }
        // The rest are migrations shared with the other engine.
        let shared: Vec<&str> = listed[folder..].iter().map(|m| m.sql.as_str()).collect();
        assert_eq!(shared, onboard_store_sql::shared_migrations::ALL);
    }
}
