//! `onboard users …`: the operator's review of end users (CONTRACT §4).

use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use onboard_core::clock::SystemClock;
use onboard_core::service::{NoSuchUser, Onboarding};

use crate::{DatabaseArgs, open_store};

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Approve a PENDING user whose requirements are all met: it becomes VERIFIED.
    Approve(ReviewArgs),
    /// Reject a user: it becomes UNSUPPORTED.
    Reject(ReviewArgs),
}

#[derive(Debug, clap::Args)]
pub struct ReviewArgs {
    /// The enterprise the user belongs to, by name.
    #[arg(long)]
    enterprise: String,
    /// The enterprise's user_id of the user.
    user_id: String,
    /// The operator deciding (see `onboard operators`); required, so that every
    /// decision in the event log names who made it.
    #[arg(long)]
    operator: String,
    /// Why: recorded with the decision in the event log.
    #[arg(long, default_value = "")]
    note: String,
    #[command(flatten)]
    database: DatabaseArgs,
}

pub async fn users(command: UsersCommand) -> anyhow::Result<()> {
    let (approve, args) = match command {
        UsersCommand::Approve(args) => (true, args),
        UsersCommand::Reject(args) => (false, args),
    };
    let store = open_store(&args.database).await?;
    let onboarding = Onboarding::new(store, Arc::new(SystemClock));
    let enterprise = onboarding.enterprise_named(&args.enterprise).await?;
    let actor = onboarding.actor(&args.operator).await?;
    let user_id = NoSuchUser::User.parse(&args.user_id)?;
    onboarding
        .review(&enterprise, &user_id, approve, &actor, &args.note)
        .await
        .with_context(|| format!("Failed to review {}", args.user_id))?;
    let user = onboarding.user(&enterprise, &user_id).await?;
    println!("{} is now {}", args.user_id, user.summary.status.as_str());
    Ok(())
}
