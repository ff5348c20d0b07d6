//! The `ownerbound` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use secrecy::ExposeSecret;

use crate::access::{create_token, revoke_token};
use crate::audit::{verify_chain, ChainStatus};
use crate::config::Settings;
use crate::domain::Scope;
use crate::startup::{cancel_on_signals, open_store, Application};
use crate::store::Store;

pub mod import;
mod keys;
mod report;
mod tasks;

/// Actor recorded in the audit log for CLI actions.
pub const CLI_ACTOR: &str = "cli";

#[derive(Debug, Parser)]
#[command(
    name = "ownerbound",
    version,
    about = "Makes AI agents' credentials die with their owner's employment."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the agent inventory.
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Inspect the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Offboard a person now (id or email): deactivate them and open their case.
    Offboard {
        person: String,
        /// Show what would happen, change nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Inspect and retry queued jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Rotate the master key that encrypts stored secrets, and watch the rotation.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Preview or send the orphaned-agent report.
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// Revocations waiting for a human: list them, confirm one done by hand.
    #[command(subcommand)]
    Tasks(tasks::TasksCommand),
    /// List what providers hold now (every provider with `discover = true`, or the one
    /// named) and reconcile it with the inventory; prints each run's counts.
    Discover { provider: Option<String> },
    /// Exit 0 when the running service answers /readyz.
    Healthcheck {
        /// Base URL of the service (default: from OWNERBOUND_LISTEN).
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (shown only once).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_scope)]
        scope: Scope,
    },
    /// List tokens (never their values).
    List,
    /// Revoke a token by id or name.
    Revoke { id_or_name: String },
}

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Import agents from a JSON or CSV file; re-importing the same file changes nothing.
    Import {
        file: PathBuf,
        /// File format (default: from the extension).
        #[arg(long, value_enum)]
        format: Option<ImportFormat>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    Json,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs, newest last.
    List {
        /// ready | running | done | dead
        #[arg(long)]
        status: Option<String>,
    },
    /// Give a dead job a fresh set of attempts.
    Retry { id: String },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain; exit non-zero naming the first broken entry.
    Verify,
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    s.parse().map_err(|e: crate::domain::Invalid| e.0)
}

/// Runs a parsed command with loaded settings.
pub async fn run(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            open_store(&settings).await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(cmd) => token(cmd, settings).await,
        Command::Report(cmd) => report::run(&settings, cmd).await,
        Command::Tasks(cmd) => tasks::run(&settings, cmd).await,
        Command::Agents(AgentsCommand::Import { file, format }) => {
            import::run(&settings, &file, format).await
        }
        Command::Audit(AuditCommand::Verify) => {
            let store = open_store(&settings).await?;
            match verify_chain(&store).await? {
                ChainStatus::Intact { entries, unsealed } => {
                    println!(
                        "audit chain intact: {entries} entries verified, {unsealed} not sealed yet"
                    );
                    Ok(ExitCode::SUCCESS)
                }
                ChainStatus::Broken { seq, reason } => {
                    eprintln!("audit chain BROKEN at entry {seq}: {reason}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Healthcheck { url } => healthcheck(&settings, url).await,
        Command::Offboard {
            person,
            dry_run,
            reason,
        } => offboard(&settings, &person, dry_run, reason).await,
        Command::Jobs(cmd) => jobs(&settings, cmd).await,
        Command::Keys(cmd) => keys::run(&settings, cmd).await,
        Command::Discover { provider } => discover(&settings, provider).await,
    }
}

async fn offboard(
    settings: &Settings,
    person: &str,
    dry_run: bool,
    reason: Option<String>,
) -> anyhow::Result<ExitCode> {
    let store = open_store(settings).await?;
    let person_id = if person.contains('@') {
        store
            .find_person_by_email(person)
            .await?
            .map(|p| p.id)
            .with_context(|| format!("no person with the email {person}"))?
    } else {
        person.to_string()
    };
    if dry_run {
        let mut tx = store.begin().await?;
        let impact =
            crate::offboarding::impact(&mut tx, &person_id, settings.shared_credentials).await?;
        drop(tx);
        println!("{}", serde_json::to_string_pretty(&impact)?);
        return Ok(ExitCode::SUCCESS);
    }
    crate::api::offboarding::offboard_person(
        &store,
        &person_id,
        CLI_ACTOR,
        CLI_ACTOR,
        reason.as_deref(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
    // Open the case now rather than waiting for the service's workers.
    let ctx = job_context(settings, &store).await?;
    run_queue_until_idle(&store, ctx).await?;
    let page = crate::store::PageRequest {
        limit: 10,
        after: None,
    };
    for case in store
        .list_cases(
            &crate::store::offboarding::CaseFilter {
                person_id: Some(person_id.clone()),
                agent_id: None,
            },
            &page,
        )
        .await?
        .items
    {
        println!("offboarding case {} ({})", case.id, case.status);
    }
    Ok(ExitCode::SUCCESS)
}

/// What running jobs in this process needs, as the service's workers have it.
async fn job_context(settings: &Settings, store: &Store) -> anyhow::Result<crate::jobs::Context> {
    let providers =
        crate::connectors::providers::index(&settings.providers, &mut |w| tracing::warn!("{w}"))
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let keys = crate::startup::open_keys(settings, store).await?;
    // A command may run while another process rotates the master key.
    tokio::spawn(crate::key_rotation::watch(
        store.clone(),
        keys.clone(),
        tokio_util::sync::CancellationToken::new(),
    ));
    let mut ctx = crate::jobs::Context::new(
        store.clone(),
        std::sync::Arc::new(providers),
        keys,
        crate::jobs::http_client(),
    );
    ctx.policy = settings.shared_credentials;
    ctx.alerts = settings.alert_config();
    ctx.retry_deadline = std::time::Duration::from_secs(settings.retry_deadline_seconds);
    ctx.key_rotation = settings.key_rotation_pace();
    Ok(ctx)
}

/// Runs due jobs in this process until none is left, as a registered instance, so
/// that the service takes over at once if this process dies holding a job.
async fn run_queue_until_idle(store: &Store, mut ctx: crate::jobs::Context) -> anyhow::Result<()> {
    let me = crate::jobs::instance::register(store).await?;
    ctx.instance = Some(me.clone());
    let beating = tokio_util::sync::CancellationToken::new();
    let heartbeat = tokio::spawn(crate::jobs::instance::run_heartbeat(
        store.clone(),
        me.clone(),
        beating.clone(),
    ));
    let ran = crate::jobs::Worker::new(ctx).run_until_idle().await;
    beating.cancel();
    let _ = heartbeat.await;
    crate::jobs::instance::deregister(store, &me).await;
    ran?;
    Ok(())
}

/// `ownerbound discover [PROVIDER]`: runs each discovery here and now, then the work
/// it queued (the offboarding of credentials found live after their owner left).
async fn discover(settings: &Settings, provider: Option<String>) -> anyhow::Result<ExitCode> {
    use crate::discovery::{run, RunOutcome, Runner};
    let store = open_store(settings).await?;
    let ctx = job_context(settings, &store).await?;
    let names: Vec<String> = match provider {
        Some(name) => vec![name],
        None => crate::discovery::schedule::discovering(&ctx.providers)
            .into_iter()
            .map(|(name, _)| name)
            .collect(),
    };
    if names.is_empty() {
        anyhow::bail!("no provider sets discover = true");
    }
    let mut code = ExitCode::SUCCESS;
    for name in &names {
        let holder = format!("cli/{}", uuid::Uuid::new_v4().simple());
        let runner = Runner {
            trigger: "cli",
            holder: &holder,
            job_id: None,
        };
        match run(&ctx, name, &runner).await? {
            RunOutcome::Finished(done) => println!("{}", serde_json::to_string(&done)?),
            RunOutcome::Busy => {
                eprintln!("{name}: a discovery of this provider is running already");
                code = ExitCode::from(1);
            }
            RunOutcome::Failed { error, .. } => {
                eprintln!("{name}: discovery failed: {error}");
                code = ExitCode::from(1);
            }
            RunOutcome::Lost => {
                eprintln!("{name}: the run was taken over (this process paused too long)");
                code = ExitCode::from(1);
            }
        }
    }
    run_queue_until_idle(&store, ctx).await?;
    Ok(code)
}

async fn jobs(settings: &Settings, cmd: JobsCommand) -> anyhow::Result<ExitCode> {
    let store = open_store(settings).await?;
    match cmd {
        JobsCommand::List { status } => {
            println!(
                "{:<38} {:<10} {:<8} {:>8} {:<16} LAST ERROR",
                "ID", "KIND", "STATUS", "ATTEMPTS", "PROVIDER"
            );
            let mut page = crate::store::PageRequest {
                limit: 500,
                after: None,
            };
            loop {
                let batch = store.list_jobs(status.as_deref(), &page).await?;
                for j in &batch.items {
                    println!(
                        "{:<38} {:<10} {:<8} {:>8} {:<16} {}",
                        j.id,
                        j.kind,
                        j.status,
                        format!("{}/{}", j.attempts, j.max_attempts),
                        j.provider.as_deref().unwrap_or("-"),
                        j.last_error.as_deref().unwrap_or("")
                    );
                }
                match batch.next_cursor {
                    Some(cursor) => page.after = Some(cursor),
                    None => break,
                }
            }
        }
        JobsCommand::Retry { id } => match store
            .retry_job(
                &id,
                crate::store::now()
                    + chrono::Duration::seconds(settings.retry_deadline_seconds as i64),
            )
            .await?
        {
            Some(job) => println!("job {} is ready again", job.id),
            None => anyhow::bail!("no dead job {id}"),
        },
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(settings: Settings) -> anyhow::Result<ExitCode> {
    let token_file = initial_token_file(&settings);
    let app = Application::build(settings).await?;
    if let Some(token) = &app.initial_admin_token {
        show_initial_token(token, &token_file)?;
    }
    cancel_on_signals(app.shutdown_token());
    app.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}

/// Where the first admin token is written when standard output is not a terminal:
/// beside a SQLite database, else in the working directory.
fn initial_token_file(settings: &Settings) -> PathBuf {
    settings
        .sqlite_path()
        .map(|db| db.with_extension("admin-token"))
        .unwrap_or_else(|| PathBuf::from("ownerbound-admin-token"))
}

/// Shows the first admin token once: on a terminal, printed (never logged); else
/// (a container's log, a file) written to a 0600 file that the log names, so it does
/// not end up in a log collector.
fn show_initial_token(token: &secrecy::SecretString, file: &std::path::Path) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        println!(
            "\nCreated the first admin token (shown only once, store it now):\n\n    {}\n",
            token.expose_secret()
        );
        return Ok(());
    }
    if let Err(err) = write_private_file(file, token.expose_secret()) {
        // The token is stored already: losing it now would lock the operator out.
        eprintln!(
            "\nCreated the first admin token, but could not write it to {} ({err}); \
             here it is, shown only once:\n\n    {}\n",
            file.display(),
            token.expose_secret()
        );
        return Ok(());
    }
    tracing::warn!(path = %file.display(),
        "created the first admin token and wrote it to this file (mode 0600), not to the log: \
         read it, store it, then delete the file");
    Ok(())
}

/// Writes `text` to a new file only its owner can read; whatever was at `path` (a
/// token file of an earlier database, a link planted there) is removed first and
/// never followed.
fn write_private_file(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut out = options.open(path)?;
    writeln!(out, "{text}")?;
    out.sync_all()
}

async fn token(cmd: TokenCommand, settings: Settings) -> anyhow::Result<ExitCode> {
    let store = open_store(&settings).await?;
    match cmd {
        TokenCommand::Create { name, scope } => {
            let (token, value) = create_token(&store, &name, scope, CLI_ACTOR)
                .await
                .with_context(|| format!("while creating token {name:?}"))?;
            eprintln!(
                "created token {} ({}) with scope {}; shown only once:",
                token.name, token.id, token.scope
            );
            println!("{}", value.expose_secret());
        }
        TokenCommand::List => {
            println!(
                "{:<38} {:<24} {:<6} {:<8} LAST USED",
                "ID", "NAME", "SCOPE", "STATE"
            );
            for t in store.list_tokens().await? {
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else {
                    "live"
                };
                let last_used = t
                    .last_used_at
                    .map(|d| d.to_rfc3339())
                    .unwrap_or_else(|| "never".into());
                println!(
                    "{:<38} {:<24} {:<6} {:<8} {}",
                    t.id, t.name, t.scope, state, last_used
                );
            }
        }
        TokenCommand::Revoke { id_or_name } => {
            let token = revoke_token(&store, &id_or_name, CLI_ACTOR)
                .await
                .with_context(|| format!("while revoking live token {id_or_name:?}"))?;
            println!("revoked token {} ({})", token.name, token.id);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn healthcheck(settings: &Settings, url: Option<String>) -> anyhow::Result<ExitCode> {
    let base = match url {
        Some(url) => url,
        None => {
            let mut addr = settings.listen_addr()?;
            // A wildcard listen address is reached through loopback.
            if addr.ip().is_unspecified() {
                addr.set_ip(match addr {
                    std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            format!("http://{addr}")
        }
    };
    let url = format!("{}/readyz", base.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?;
    match client.get(&url).send().await {
        Ok(response) if response.status().is_success() => {
            println!("ready");
            Ok(ExitCode::SUCCESS)
        }
        Ok(response) => {
            eprintln!("not ready: {url} answered {}", response.status());
            Ok(ExitCode::FAILURE)
        }
        Err(err) => {
            eprintln!("not ready: {url}: {err}");
            Ok(ExitCode::FAILURE)
        }
    }
}
