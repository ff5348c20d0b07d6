use std::process::ExitCode;

use clap::Parser;
use ownerbound::cli::{self, Cli, Command};
use ownerbound::config::Settings;
use ownerbound::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let loaded = match Settings::load() {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("ownerbound: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(loaded.settings.log_format, std::io::stderr);
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    match cli::run(cli.command.unwrap_or(Command::Serve), loaded.settings).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("ownerbound: {err:#}");
            ExitCode::FAILURE
        }
    }
}
