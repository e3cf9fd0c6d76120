//! `onboard enterprise …`: creating and listing enterprises, each with its first key.

use anyhow::Context;
use clap::Subcommand;
use onboard_core::secret::ApiKey;
use onboard_core::store::{Enterprise, Store, StoreError};
use time::OffsetDateTime;

use crate::{DatabaseArgs, open_store};

#[derive(Debug, Subcommand)]
pub enum EnterpriseCommand {
    /// Create an enterprise; its new API key is the only line on stdout.
    Create {
        /// A unique name for the enterprise.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List enterprises (never their keys).
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

pub async fn enterprise(command: EnterpriseCommand) -> anyhow::Result<()> {
    match command {
        EnterpriseCommand::Create { name, database } => {
            let store = open_store(&database).await?;
            let (_, key) = create_enterprise(store.as_ref(), &name).await?;
            println!("{}", key.expose());
            Ok(())
        }
        EnterpriseCommand::List { database } => {
            let store = open_store(&database).await?;
            let enterprises = store
                .list_enterprises()
                .await
                .context("Failed to list enterprises")?;
            println!("{:<6} {:<25} NAME", "ID", "CREATED");
            for e in enterprises {
                println!("{:<6} {:<25} {}", e.id.0, rfc3339(e.created_at), e.name);
            }
            Ok(())
        }
    }
}

/// The enterprise name is taken.
#[derive(Debug, thiserror::Error)]
#[error("an enterprise named {0:?} already exists")]
pub struct EnterpriseExists(pub String);

/// Creates an enterprise with a fresh API key; the key is returned once, here.
pub async fn create_enterprise(
    store: &dyn Store,
    name: &str,
) -> anyhow::Result<(Enterprise, ApiKey)> {
    let name = name.trim();
    anyhow::ensure!(
        !name.is_empty() && name.chars().count() <= 100,
        "the enterprise name must be 1 to 100 characters"
    );
    let key = ApiKey::generate().context("Failed to draw random bytes for the API key")?;
    let enterprise = store
        .create_enterprise(name, &key.hash(), OffsetDateTime::now_utc())
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => anyhow::Error::new(EnterpriseExists(name.to_owned())),
            other => anyhow::Error::new(other).context("Failed to create the enterprise"),
        })?;
    Ok((enterprise, key))
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
