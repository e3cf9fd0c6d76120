//! `onboard operators …`: the people who review users and manage keys
//! (CONTRACT §8). A password is printed once, as the only line on stdout.

use std::io::{BufRead, Read};
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use onboard_core::access::{Operator, Password, Role};
use onboard_core::clock::SystemClock;
use onboard_core::service::Onboarding;
use onboard_core::time_format::rfc3339_millis;
use serde_json::json;

use crate::{DatabaseArgs, Output, open_store};

#[derive(Debug, Subcommand)]
pub enum OperatorsCommand {
    /// Create an operator; a generated password is the only line on stdout.
    Create {
        /// A unique name: ASCII letters, digits, '.', '_', '-', '@'.
        #[arg(long)]
        name: String,
        /// reviewer reviews users; admin also manages keys and operators.
        #[arg(long, default_value = "reviewer")]
        role: String,
        #[command(flatten)]
        password: PasswordSource,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List operators (never their passwords).
    List {
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Disable an operator: it can no longer sign in or act.
    Disable {
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Give an operator a new password: generated (the only line on stdout)
    /// unless --password-stdin.
    ResetPassword {
        name: String,
        #[command(flatten)]
        password: PasswordSource,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, clap::Args)]
pub struct PasswordSource {
    /// Read the password from the first line of stdin instead of generating one
    /// (12 to 256 characters).
    #[arg(long)]
    password_stdin: bool,
}

impl PasswordSource {
    /// The password, and whether it should be printed (a generated one).
    fn take(&self, onboarding: &Onboarding) -> anyhow::Result<(Password, bool)> {
        if !self.password_stdin {
            return Ok((onboarding.generate_password(), true));
        }
        // A bound on what is read: a password is one short line.
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .take(4096)
            .read_line(&mut line)
            .context("Failed to read the password from stdin")?;
        Ok((Password::chosen(&line)?, false))
    }
}

async fn onboarding(database: &DatabaseArgs) -> anyhow::Result<Onboarding> {
    let store = open_store(database).await?;
    Ok(Onboarding::new(store, Arc::new(SystemClock)))
}

pub async fn operators(command: OperatorsCommand) -> anyhow::Result<()> {
    match command {
        OperatorsCommand::Create {
            name,
            role,
            password,
            database,
        } => {
            let role = Role::parse(&role)?;
            let onboarding = onboarding(&database).await?;
            let (password, show) = password.take(&onboarding)?;
            onboarding
                .create_operator(&name, role, &password)
                .await
                .with_context(|| format!("Failed to create operator {name}"))?;
            eprintln!("created {} operator {name}", role.as_str());
            if show {
                println!("{}", password.expose());
            }
        }
        OperatorsCommand::List { output, database } => {
            let onboarding = onboarding(&database).await?;
            let operators = onboarding
                .operators()
                .await
                .context("Failed to list operators")?;
            print_operators(&operators, output);
        }
        OperatorsCommand::Disable { name, database } => {
            let onboarding = onboarding(&database).await?;
            onboarding
                .disable_operator(&name)
                .await
                .with_context(|| format!("Failed to disable operator {name}"))?;
            println!("{name} is disabled");
        }
        OperatorsCommand::ResetPassword {
            name,
            password,
            database,
        } => {
            let onboarding = onboarding(&database).await?;
            let (password, show) = password.take(&onboarding)?;
            onboarding
                .reset_operator_password(&name, &password)
                .await
                .with_context(|| format!("Failed to reset the password of {name}"))?;
            eprintln!("the password of {name} was replaced");
            if show {
                println!("{}", password.expose());
            }
        }
    }
    Ok(())
}

fn print_operators(operators: &[Operator], output: Output) {
    match output {
        Output::Json => {
            let rows: Vec<_> = operators
                .iter()
                .map(|o| {
                    json!({
                        "name": o.name.as_str(),
                        "role": o.role.as_str(),
                        "created_at": rfc3339_millis(o.created_at),
                        "password_set_at": rfc3339_millis(o.password_set_at),
                        "disabled_at": o.disabled_at.map(rfc3339_millis),
                    })
                })
                .collect();
            println!("{}", serde_json::Value::Array(rows));
        }
        Output::Table => {
            println!(
                "{:<24} {:<8} {:<24} {:<24} NAME",
                "CREATED", "ROLE", "PASSWORD SET", "DISABLED"
            );
            for o in operators {
                let disabled = o.disabled_at.map_or_else(|| "-".into(), rfc3339_millis);
                println!(
                    "{:<24} {:<8} {:<24} {:<24} {}",
                    rfc3339_millis(o.created_at),
                    o.role.as_str(),
                    rfc3339_millis(o.password_set_at),
                    disabled,
                    o.name
                );
            }
        }
    }
}
