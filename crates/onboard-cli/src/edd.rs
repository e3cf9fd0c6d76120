//! `onboard edd …`: the operator's enhanced due diligence commands (CONTRACT §7).
//! Each prints the request as JSON on stdout, as `GET /v1/enterprise/eddq/requests`
//! shows it.

use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use onboard_core::clock::SystemClock;
use onboard_core::edd::Form;
use onboard_core::service::Onboarding;

use crate::{DatabaseArgs, open_store};

#[derive(Debug, Subcommand)]
pub enum EddCommand {
    /// Open an EDD request for a user (at most one open per user); the user's
    /// status does not change.
    Request {
        /// The enterprise the user belongs to, by name.
        #[arg(long)]
        enterprise: String,
        /// The enterprise's user_id of the user.
        user_id: String,
        /// The questionnaire: individual or business [default: the user's
        /// account type].
        #[arg(long, value_parser = parse_form)]
        form: Option<Form>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Mark an EDD request REVIEWED; the operator and note go into its event.
    Review {
        /// The enterprise the request belongs to, by name.
        #[arg(long)]
        enterprise: String,
        /// The request's id.
        request_id: i64,
        /// The operator reviewing (see `onboard operators`); required, so that
        /// every decision in the event log names who made it.
        #[arg(long)]
        operator: String,
        /// What was found: recorded with the decision in the event log.
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

fn parse_form(text: &str) -> Result<Form, String> {
    Form::parse(text)
}

pub async fn run(command: EddCommand) -> anyhow::Result<()> {
    let request = match command {
        EddCommand::Request {
            enterprise,
            user_id,
            form,
            database,
        } => {
            let onboarding = service(&database).await?;
            let enterprise = onboarding.enterprise_named(&enterprise).await?;
            let user_id = onboard_core::values::UserId::parse(&user_id)
                .map_err(|e| anyhow::anyhow!("the user_id {user_id:?} {e}"))?;
            onboarding
                .open_edd_request(&enterprise, &user_id, form, "requested by an operator")
                .await
                .with_context(|| format!("Failed to open an EDD request for {user_id}"))?
        }
        EddCommand::Review {
            enterprise,
            request_id,
            operator,
            note,
            database,
        } => {
            let onboarding = service(&database).await?;
            let enterprise = onboarding.enterprise_named(&enterprise).await?;
            let actor = onboarding.actor(&operator).await?;
            onboarding
                .review_edd(&enterprise, request_id, &actor, &note)
                .await
                .with_context(|| format!("Failed to review EDD request {request_id}"))?
        }
    };
    let json = serde_json::to_string(&request.to_wire()).context("Failed to write the request")?;
    println!("{json}");
    Ok(())
}

async fn service(database: &DatabaseArgs) -> anyhow::Result<Onboarding> {
    let store = open_store(database).await?;
    Ok(Onboarding::new(store, Arc::new(SystemClock)))
}
