//! `ownerbound keys …`: the master key rotation from the command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;

use super::{job_context, run_queue_until_idle, CLI_ACTOR};
use crate::config::Settings;
use crate::crypto::MasterKey;
use crate::key_rotation::{begin, status, GRACE};
use crate::startup::open_store;

/// How long `keys rotate` follows a rotation that does not progress.
const STALLED: Duration = Duration::from_secs(60);

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Where the master key rotation stands: the key ids and how many stored secrets
    /// are still sealed under the old key.
    Status,
    /// Rotate to the key in NEW_KEY_FILE (generated there, mode 0600, when the file
    /// does not exist): every stored secret is sealed again under it while the
    /// service keeps working; then the old key is refused. Runs the work here too,
    /// and the service takes it over if this process stops.
    Rotate {
        #[arg(long)]
        new_key_file: PathBuf,
    },
}

/// The key file generated beside a SQLite database when no key is configured.
fn generated_key_file(settings: &Settings) -> Option<PathBuf> {
    if settings.master_key.is_some() || settings.master_key_file.is_some() {
        return None;
    }
    settings.sqlite_path().map(|db| db.with_extension("key"))
}

pub async fn run(settings: &Settings, command: KeysCommand) -> anyhow::Result<ExitCode> {
    let store = open_store(settings).await?;
    let ctx = job_context(settings, &store).await?;
    match command {
        KeysCommand::Status => {
            let status = status(&store, &ctx.keys).await?;
            println!("{}", serde_json::to_string_pretty(&status)?);
        }
        KeysCommand::Rotate { new_key_file } => {
            let new = if new_key_file.exists() {
                MasterKey::read_file(&new_key_file)?
            } else {
                let key = MasterKey::generate();
                key.write_new_file(&new_key_file)?;
                eprintln!(
                    "generated the new master key in {} (mode 0600)",
                    new_key_file.display()
                );
                key
            };
            let begun = begin(&store, &ctx.keys, &new, CLI_ACTOR).await?;
            eprintln!(
                "{} the rotation from master key {} to {}",
                if begun.started { "began" } else { "resuming" },
                begun.old_key_id,
                begun.new_key_id
            );
            // The job waits until every running instance holds the new key.
            tokio::time::sleep(GRACE + Duration::from_millis(500)).await;
            run_queue_until_idle(&store, ctx.clone()).await?;
            // The service may be doing the work: follow it while it progresses.
            let mut last = (i64::MAX, std::time::Instant::now());
            loop {
                let now = status(&store, &ctx.keys).await?;
                if !now.rotating {
                    break;
                }
                if now.remaining < last.0 {
                    last = (now.remaining, std::time::Instant::now());
                } else if last.1.elapsed() > STALLED {
                    eprintln!(
                        "the rotation has not progressed for {} s ({} of {} stored secrets left); \
                         `ownerbound jobs list` shows its job and the service log says why",
                        STALLED.as_secs(),
                        now.remaining,
                        now.secrets
                    );
                    return Ok(ExitCode::FAILURE);
                }
                eprintln!(
                    "{} of {} stored secrets still sealed under the old key (the service is rotating)",
                    now.remaining, now.secrets
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            eprintln!(
                "the rotation finished: every stored secret is sealed under master key {}; the \
                 old key is refused from now on.",
                begun.new_key_id
            );
            match generated_key_file(settings) {
                // The zero-configuration set-up: the key file beside the database is
                // the configuration, so it becomes the new key.
                Some(key_file) if key_file != new_key_file => {
                    match std::fs::rename(&new_key_file, &key_file) {
                        Ok(()) => eprintln!(
                            "moved the new key to {}, where the next start reads it",
                            key_file.display()
                        ),
                        Err(err) => eprintln!(
                            "could not move the new key to {} ({err}): move it there yourself \
                             before the next start",
                            key_file.display()
                        ),
                    }
                }
                Some(_) => {}
                None => eprintln!(
                    "Configure the new key (OWNERBOUND_MASTER_KEY or OWNERBOUND_MASTER_KEY_FILE) \
                     on every instance before its next start."
                ),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
