//! `onboard outbox …`: the codes the outbox channel "sent", for an operator or a
//! test to read (CONTRACT §4).

use anyhow::Context;
use clap::Subcommand;
use onboard_core::time_format::rfc3339_millis;

use crate::{DatabaseArgs, open_store};

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Print stored messages, newest first.
    List {
        /// Only this user's messages.
        #[arg(long = "user")]
        user_id: Option<String>,
        /// At most this many messages.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

pub async fn outbox(command: OutboxCommand) -> anyhow::Result<()> {
    let OutboxCommand::List {
        user_id,
        limit,
        database,
    } = command;
    let store = open_store(&database).await?;
    let enterprises = store
        .list_enterprises()
        .await
        .context("Failed to read enterprises")?;
    let messages = store
        .list_outbox(None, user_id.as_deref(), limit)
        .await
        .context("Failed to read the outbox")?;
    println!(
        "{:<25} {:<16} {:<24} {:<6} {:<30} CODE",
        "SENT", "ENTERPRISE", "USER", "TYPE", "TO"
    );
    for m in messages {
        let enterprise = enterprises
            .iter()
            .find(|e| e.id == m.enterprise)
            .map_or("?", |e| e.name.as_str());
        println!(
            "{:<25} {:<16} {:<24} {:<6} {:<30} {}",
            rfc3339_millis(m.sent_at),
            enterprise,
            m.user_id,
            m.channel.as_str(),
            m.to,
            m.code
        );
    }
    Ok(())
}
