//! `ownerbound tasks list|confirm`: revocations waiting for a human (manual tasks,
//! items that need attention, held shared credentials).

use std::process::ExitCode;

use clap::Subcommand;

use super::CLI_ACTOR;
use crate::config::Settings;
use crate::offboarding::{confirm_by_hand, ConfirmError, AWAITING_A_HUMAN};

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// List the offboarding items waiting for a human, oldest first.
    List,
    /// Record that a credential was revoked by hand.
    Confirm {
        item: String,
        /// How it was revoked, for the record.
        #[arg(long)]
        note: Option<String>,
    },
}

pub async fn run(settings: &Settings, command: TasksCommand) -> anyhow::Result<ExitCode> {
    let store = super::open_store(settings).await?;
    match command {
        TasksCommand::List => {
            println!(
                "{:<38} {:<17} {:<38} {:<38} DETAIL",
                "ITEM", "STATUS", "CREDENTIAL", "CASE"
            );
            let mut page = crate::store::PageRequest {
                limit: 500,
                after: None,
            };
            loop {
                let items = store
                    .case_items_with_status(AWAITING_A_HUMAN, &page)
                    .await?;
                for item in &items.items {
                    println!(
                        "{:<38} {:<17} {:<38} {:<38} {}",
                        item.id,
                        item.status,
                        item.credential_id,
                        item.case_id,
                        item.detail.as_deref().unwrap_or("")
                    );
                }
                match items.next_cursor {
                    Some(next) => page.after = Some(next),
                    None => break,
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        TasksCommand::Confirm { item, note } => {
            match confirm_by_hand(&store, &item, CLI_ACTOR, note.as_deref()).await {
                Ok(item) => {
                    println!(
                        "item {} confirmed: credential {} revoked by hand",
                        item.id, item.credential_id
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(ConfirmError::Store(err)) => Err(err.into()),
                Err(refused) => {
                    eprintln!("{refused}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
