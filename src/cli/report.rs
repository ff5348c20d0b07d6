//! `ownerbound report preview [--format text|html|json]` and `ownerbound report send`.

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use crate::config::Settings;
use crate::report::delivery::{deliver, store_and_enqueue, DeliveryError};
use crate::report::{render_html, render_text};

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Print the report for now without sending it.
    Preview {
        #[arg(long, value_enum, default_value = "text")]
        format: ReportFormat,
    },
    /// Generate the report for now and send it.
    Send,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Html,
    Json,
}

/// How long a manual report waits before the service's workers take over its
/// delivery, should this command fail to send it.
const HANDOVER: chrono::Duration = chrono::Duration::minutes(5);

pub async fn run(settings: &Settings, command: ReportCommand) -> anyhow::Result<ExitCode> {
    let store = super::open_store(settings).await?;
    let config = settings
        .report_config()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let period = config.current_period(&store).await?;
    let report = config.build(&store, period).await?;
    match command {
        ReportCommand::Preview { format } => {
            match format {
                ReportFormat::Text => print!("{}", render_text(&report)),
                ReportFormat::Html => println!("{}", render_html(&report)),
                ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            }
            Ok(ExitCode::SUCCESS)
        }
        ReportCommand::Send => {
            let Some(mail) = &config.mail else {
                anyhow::bail!("sending reports needs OWNERBOUND_SMTP_URL and OWNERBOUND_REPORT_TO");
            };
            let id = store_and_enqueue(
                &store,
                &report,
                "manual",
                None,
                &mail.to,
                crate::store::now() + HANDOVER,
            )
            .await?
            .expect("manual reports have no period key");
            match deliver(&store, Some(mail), &id).await? {
                Ok(()) => {
                    println!(
                        "report {id} sent to {}: {}",
                        mail.to.join(", "),
                        report.subject
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(DeliveryError::Transient(error) | DeliveryError::Permanent(error)) => {
                    eprintln!(
                        "report {id} could not be sent now ({error}); the service retries it from its queue"
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
