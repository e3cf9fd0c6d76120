//! Choosing the storage backend, once, from the database URL.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use onboard_core::seal::Sealer;
use onboard_core::store::{Store, StoreError};

use crate::DatabaseArgs;

/// Where the embedded database lives when no `--data-dir` is given.
pub const DEFAULT_DATA_DIR: &str = "onboard-data";

/// The file name of the embedded database inside `--data-dir`.
pub const SQLITE_FILE: &str = "onboard.db";

/// The keyring file's name inside the data folder, when none is named.
pub const KEYRING_FILE: &str = "master.key";

/// Opens the store the arguments name and applies its migrations, with the
/// master keyring that seals its personal data (CONTRACT §12).
pub async fn open_store(args: &DatabaseArgs) -> anyhow::Result<Arc<dyn Store>> {
    let Some(url) = args.database_url.as_deref() else {
        let dir = args
            .data_dir
            .clone()
            .unwrap_or_else(|| DEFAULT_DATA_DIR.into());
        owner_only_dir(&dir)?;
        let keyring = Keyring::resolve(args, &dir.join(KEYRING_FILE))?;
        let path = dir.join(SQLITE_FILE);
        let store = onboard_store_sqlite::open_file(&path, keyring.sealer.clone()).await;
        let store = keyring
            .accept(store)
            .with_context(|| format!("Failed to open the SQLite database {}", path.display()))?;
        return Ok(Arc::new(store));
    };
    match url.split_once(':').map(|(scheme, _)| scheme) {
        Some("sqlite") => {
            let beside = onboard_store_sqlite::path_of(url)
                .ok()
                .and_then(|p| p.parent().map(|dir| dir.join(KEYRING_FILE)))
                .unwrap_or_else(|| KEYRING_FILE.into());
            let keyring = Keyring::resolve(args, &beside)?;
            let store = onboard_store_sqlite::open(url, keyring.sealer.clone()).await;
            let store = keyring
                .accept(store)
                .context("Failed to open the SQLite database")?;
            Ok(Arc::new(store))
        }
        Some("postgres" | "postgresql") => {
            let Some(file) = &args.master_key_file else {
                bail!(
                    "a PostgreSQL deployment must name its master keyring with --master-key-file \
                     or ONBOARD_MASTER_KEY_FILE (every node reads the same file; \
                     `onboard master-key new FILE` writes one)"
                );
            };
            let keyring = Keyring::resolve(args, file)?;
            let settings = args.pool_settings();
            let store = onboard_store_postgres::open(url, settings, keyring.sealer.clone()).await;
            let store = keyring.accept(store).with_context(|| {
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

/// Creates the data folder readable by its owner only, and makes an existing
/// one so.
fn owner_only_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("Failed to create the data directory {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).with_context(|| {
        format!(
            "Failed to make the data directory {} private",
            dir.display()
        )
    })
}

/// The keyring a store opens with, and whether it still has to be written.
struct Keyring {
    sealer: Sealer,
    path: PathBuf,
    /// Made now, for a database that holds no sealed data yet: written to
    /// `path` once the database has accepted it.
    new: Option<onboard_core::seal::Keyring>,
}

impl Keyring {
    /// Reads the keyring at the named file, or else at `default`; a missing
    /// default (never a named file) is made anew.
    fn resolve(args: &DatabaseArgs, default: &Path) -> anyhow::Result<Keyring> {
        let (path, named) = match &args.master_key_file {
            Some(file) => (file.clone(), true),
            None => (default.to_owned(), false),
        };
        if !path.exists() && !named {
            let keyring = onboard_core::seal::Keyring::generate();
            let sealer = Sealer::new(onboard_core::seal::Keyring::parse(&keyring.to_text())?);
            return Ok(Keyring {
                sealer,
                path,
                new: Some(keyring),
            });
        }
        let keyring = read_keyring(&path)?;
        Ok(Keyring {
            sealer: Sealer::new(keyring),
            path,
            new: None,
        })
    }

    /// The opened store, once the keyring is known to fit it; a new keyring is
    /// written then, readable by its owner only.
    fn accept<S>(self, opened: Result<S, StoreError>) -> anyhow::Result<S> {
        let store = match opened {
            Err(StoreError::Keyring(why)) if self.new.is_some() => bail!(
                "the master keyring {} is missing, but the database holds sealed personal \
                 data ({why}); restore the keyring file from its backup",
                self.path.display()
            ),
            Err(StoreError::Keyring(why)) => bail!(
                "the master keyring {} does not open this database's data keys: {why}",
                self.path.display()
            ),
            other => other?,
        };
        if let Some(keyring) = self.new {
            write_keyring(&self.path, &keyring, true)?;
            tracing::info!(path = %self.path.display(), "created a new master keyring");
        }
        Ok(store)
    }
}

/// Reads a keyring file, refusing one that group or others can read.
pub fn read_keyring(path: &Path) -> anyhow::Result<onboard_core::seal::Keyring> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("Failed to read the master keyring {}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "the master keyring {} is readable by group or others (mode {mode:o}); \
             make it readable by its owner only (chmod 600)",
            path.display()
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("Failed to read the master keyring {}", path.display()))?;
    onboard_core::seal::Keyring::parse(&text)
        .with_context(|| format!("The master keyring {} is unreadable", path.display()))
}

/// Writes a keyring file with mode 0600: a new file (`create_new`), or the
/// existing one replaced through a temporary file in the same folder.
pub fn write_keyring(
    path: &Path,
    keyring: &onboard_core::seal::Keyring,
    create_new: bool,
) -> anyhow::Result<()> {
    let target = if create_new {
        path.to_owned()
    } else {
        path.with_extension("key.new")
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&target)
        .with_context(|| format!("Failed to create the master keyring {}", target.display()))?;
    file.write_all(keyring.to_text().as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("Failed to write the master keyring {}", target.display()))?;
    if !create_new {
        std::fs::rename(&target, path)
            .with_context(|| format!("Failed to replace the master keyring {}", path.display()))?;
    }
    Ok(())
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
