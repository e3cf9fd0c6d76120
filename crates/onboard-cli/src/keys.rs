//! `onboard keys …`: an enterprise's API keys (CONTRACT §8). A new key is the
//! only line on stdout; everything else a command says goes to stderr.

use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use onboard_core::access::{self, ApiKeyId, ApiKeyRecord};
use onboard_core::clock::SystemClock;
use onboard_core::service::{Actor, Onboarding};
use onboard_core::time_format::rfc3339_millis;
use serde_json::json;
use time::OffsetDateTime;

use crate::{DatabaseArgs, Output, open_store};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; the key is the only line on stdout, shown this once.
    Create {
        #[command(flatten)]
        on: KeyTarget,
        /// What the key is for, e.g. "production".
        #[arg(long, default_value = "")]
        label: String,
        /// The key stops working after this long: 90d, 24h, 30m, 45s.
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
    },
    /// List the enterprise's keys (never the keys themselves).
    List {
        #[command(flatten)]
        on: KeyTarget,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Revoke a key: it is refused at once, on every node.
    Revoke {
        #[command(flatten)]
        on: KeyTarget,
        /// The key's id, as `keys list` shows it (key_…).
        key_id: String,
    },
    /// Make a new key (the only line on stdout); the old one keeps working for
    /// the grace period, then expires.
    Rotate {
        #[command(flatten)]
        on: KeyTarget,
        /// The key's id, as `keys list` shows it (key_…).
        key_id: String,
        /// How long the old key keeps working: 24h, 30m, 0s…
        #[arg(long, value_name = "DURATION", default_value = "24h")]
        grace: String,
    },
}

/// The enterprise a key command acts on, who acts, and where the data lives.
#[derive(Debug, clap::Args)]
pub struct KeyTarget {
    /// The enterprise, by name.
    #[arg(long)]
    enterprise: String,
    /// The operator making the change (an admin), recorded with the key.
    #[arg(long)]
    operator: Option<String>,
    #[command(flatten)]
    database: DatabaseArgs,
}

pub async fn keys(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create {
            on,
            label,
            expires_in,
        } => {
            let expires_in = expires_in
                .as_deref()
                .map(access::parse_duration)
                .transpose()?;
            let (onboarding, enterprise, actor) = open(&on).await?;
            let created = onboarding
                .create_key(&enterprise, &label, expires_in, actor.as_ref())
                .await
                .context("Failed to create the key")?;
            eprintln!("created {} for {}", created.record.id, enterprise.name);
            println!("{}", created.key.expose());
        }
        KeysCommand::List { on, output } => {
            let (onboarding, enterprise, _) = open(&on).await?;
            let keys = onboarding
                .keys_of(&enterprise)
                .await
                .context("Failed to list the keys")?;
            print_keys(&keys, output, onboarding.now());
        }
        KeysCommand::Revoke { on, key_id } => {
            let id = ApiKeyId::parse(&key_id)?;
            let (onboarding, enterprise, actor) = open(&on).await?;
            let revoked = onboarding
                .revoke_key(&enterprise, &id, actor.as_ref())
                .await
                .with_context(|| format!("Failed to revoke {id}"))?;
            let at = revoked.revoked_at.map(rfc3339_millis).unwrap_or_default();
            println!("{id} revoked at {at}");
        }
        KeysCommand::Rotate { on, key_id, grace } => {
            let id = ApiKeyId::parse(&key_id)?;
            let grace = access::parse_duration(&grace)?;
            let (onboarding, enterprise, actor) = open(&on).await?;
            let rotated = onboarding
                .rotate_key(&enterprise, &id, grace, actor.as_ref())
                .await
                .with_context(|| format!("Failed to rotate {id}"))?;
            let until = rotated
                .old
                .expires_at
                .map(rfc3339_millis)
                .unwrap_or_default();
            eprintln!(
                "created {}; {id} keeps working until {until}",
                rotated.new.id
            );
            println!("{}", rotated.key.expose());
        }
    }
    Ok(())
}

async fn open(
    on: &KeyTarget,
) -> anyhow::Result<(Onboarding, onboard_core::store::Enterprise, Option<Actor>)> {
    let store = open_store(&on.database).await?;
    let onboarding = Onboarding::new(store, Arc::new(SystemClock));
    let enterprise = onboarding.enterprise_named(&on.enterprise).await?;
    let actor = match &on.operator {
        Some(name) => Some(onboarding.actor(name).await?),
        None => None,
    };
    Ok((onboarding, enterprise, actor))
}

fn state(key: &ApiKeyRecord, now: OffsetDateTime) -> &'static str {
    match key.ended(now) {
        Some(access::KeyEnd::Revoked) => "revoked",
        Some(access::KeyEnd::Expired) => "expired",
        None if key.replaced_by.is_some() => "rotating",
        None => "active",
    }
}

fn print_keys(keys: &[ApiKeyRecord], output: Output, now: OffsetDateTime) {
    let time = |t: Option<OffsetDateTime>| t.map(rfc3339_millis);
    match output {
        Output::Json => {
            let rows: Vec<_> = keys
                .iter()
                .map(|k| {
                    json!({
                        "id": k.id.as_str(),
                        "label": k.label,
                        "state": state(k, now),
                        "created_at": rfc3339_millis(k.created_at),
                        "created_by": k.created_by,
                        "last_used_at": time(k.last_used_at),
                        "expires_at": time(k.expires_at),
                        "revoked_at": time(k.revoked_at),
                        "revoked_by": k.revoked_by,
                        "replaced_by": k.replaced_by.as_ref().map(ApiKeyId::as_str),
                    })
                })
                .collect();
            println!("{}", serde_json::Value::Array(rows));
        }
        Output::Table => {
            let dash = |t: Option<OffsetDateTime>| time(t).unwrap_or_else(|| "-".into());
            println!(
                "{:<36} {:<8} {:<24} {:<24} {:<24} {:<24} LABEL",
                "ID", "STATE", "CREATED", "LAST USED", "EXPIRES", "REVOKED"
            );
            for k in keys {
                println!(
                    "{:<36} {:<8} {:<24} {:<24} {:<24} {:<24} {}",
                    k.id.as_str(),
                    state(k, now),
                    rfc3339_millis(k.created_at),
                    dash(k.last_used_at),
                    dash(k.expires_at),
                    dash(k.revoked_at),
                    k.label
                );
            }
        }
    }
}
