//! `onboard master-key …`: the keyring that seals personal data (CONTRACT §12).

use std::path::PathBuf;

use clap::Subcommand;

use crate::database::write_keyring;

#[derive(Debug, Subcommand)]
pub enum MasterKeyCommand {
    /// Write a new keyring (master key version 1 and a blind-index key) to a
    /// file that must not exist yet, readable by its owner only. For PostgreSQL
    /// deployments: every node then names it with --master-key-file.
    New {
        /// Where to write it.
        file: PathBuf,
    },
}

pub fn run(command: MasterKeyCommand) -> anyhow::Result<()> {
    let MasterKeyCommand::New { file } = command;
    write_keyring(&file, &onboard_core::seal::Keyring::generate(), true)?;
    eprintln!(
        "Wrote a new master keyring to {}. Back it up apart from the database: \
         without it, the database's personal data cannot be read.",
        file.display()
    );
    Ok(())
}
