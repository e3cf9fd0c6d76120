//! Choosing the storage backend, once, from the database URL.

use std::sync::Arc;

use anyhow::{Context, bail};
use onboard_core::store::Store;

use crate::DatabaseArgs;

/// Where the embedded database lives when no `--data-dir` is given.
pub const DEFAULT_DATA_DIR: &str = "onboard-data";

/// The file name of the embedded database inside `--data-dir`.
pub const SQLITE_FILE: &str = "onboard.db";

/// Opens the store the arguments name and applies its migrations.
pub async fn open_store(args: &DatabaseArgs) -> anyhow::Result<Arc<dyn Store>> {
    let Some(url) = args.database_url.as_deref() else {
        let dir = args
            .data_dir
            .clone()
            .unwrap_or_else(|| DEFAULT_DATA_DIR.into());
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("Failed to create the data directory {}", dir.display()))?;
        let path = dir.join(SQLITE_FILE);
        let store = onboard_store_sqlite::open_file(&path)
            .await
            .with_context(|| format!("Failed to open the SQLite database {}", path.display()))?;
        return Ok(Arc::new(store));
    };
    match url.split_once(':').map(|(scheme, _)| scheme) {
        Some("sqlite") => {
            let store = onboard_store_sqlite::open(url)
                .await
                .context("Failed to open the SQLite database")?;
            Ok(Arc::new(store))
        }
        Some("postgres" | "postgresql") => {
            let store = onboard_store_postgres::open(url, args.pool_settings())
                .await
                .with_context(|| {
                    format!("Failed to open the PostgreSQL database {}", redact(url))
                })?;
            Ok(Arc::new(store))
        }
        _ => bail!(
            "the database URL must start with sqlite: or postgres: (got {})",
            redact(url)
        ),
    }
}

/// A URL with any password replaced, fit for an error message.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            let creds = &url[start + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..start + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
