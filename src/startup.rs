//! Building and running the HTTP application.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{middleware, web, App, HttpResponse, HttpServer};
use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::access::{bootstrap_admin, Bootstrap};
use crate::config::{Engine, Settings};
use crate::crypto::{MasterKey, SecretKeys};
use crate::store::Store;
use crate::{api, hr, scim, telemetry};

/// Shared state of request handlers.
pub struct AppState {
    pub store: Store,
    pub keys: SecretKeys,
    pub settings: Settings,
    /// HR webhook sources, secrets resolved.
    pub hr_sources: hr::Sources,
    /// Refused HR webhooks, counted in memory and stored at a bounded rate.
    pub hr_refusals: Arc<hr::refusals::RefusalLog>,
    /// Inbound rate limits of every scope.
    pub inbound: Arc<crate::inbound::InboundLimits>,
    /// Requests refused by those limits, counted in memory and audited at a bounded rate.
    pub rate_limited: Arc<hr::refusals::RefusalLog>,
    /// Configured providers (the discovery endpoints read which discover).
    pub providers: Arc<std::collections::BTreeMap<String, crate::connectors::providers::Provider>>,
}

/// A built application bound to its port, not yet serving.
pub struct Application {
    port: u16,
    policy: crate::offboarding::SharedPolicy,
    job_workers: usize,
    retry_deadline: std::time::Duration,
    key_rotation: crate::key_rotation::Pace,
    keys: SecretKeys,
    alerts: Option<crate::alerts::AlertConfig>,
    providers: Arc<std::collections::BTreeMap<String, crate::connectors::providers::Provider>>,
    hr_refusals: Arc<hr::refusals::RefusalLog>,
    hr_sources: hr::Sources,
    inbound: Arc<crate::inbound::InboundLimits>,
    rate_limited: Arc<hr::refusals::RefusalLog>,
    hr_scheduler_interval: std::time::Duration,
    reports: crate::report::delivery::ReportConfig,
    report_check_interval: std::time::Duration,
    server: Server,
    store: Store,
    shutdown: CancellationToken,
    /// Set when this start created the first admin token; shown once by `serve`.
    pub initial_admin_token: Option<SecretString>,
}

/// Connects to the database and applies migrations.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect_url(settings.database_url.expose_secret())
        .await
        .with_context(|| {
            format!(
                "while connecting to {}",
                settings.database_url_for_display()
            )
        })?;
    store.migrate().await.context("while applying migrations")?;
    Ok(store)
}

/// Loads the master key, generating a key file beside a SQLite database when none is
/// configured.
pub fn load_master_key(settings: &Settings) -> anyhow::Result<MasterKey> {
    let key_file = settings.master_key_file.clone().or_else(|| {
        (settings.master_key.is_none())
            .then(|| settings.sqlite_path().map(|db| db.with_extension("key")))
            .flatten()
    });
    if let Some(path) = key_file.filter(|p| MasterKey::file_is_readable_by_others(p)) {
        tracing::warn!(path = %path.display(),
            "the master key file can be read by other users: make it 0600 (chmod 600)");
    }
    if let Some(key) = &settings.master_key {
        return Ok(MasterKey::parse(key.expose_secret())?);
    }
    match (settings.engine()?, settings.sqlite_path()) {
        (Engine::Sqlite, Some(db_path)) => {
            let key_path = db_path.with_extension("key");
            let (key, created) = MasterKey::load_or_create_file(&key_path)?;
            if created {
                tracing::warn!(
                    path = %key_path.display(),
                    "OWNERBOUND_MASTER_KEY is not set: generated a master key file (mode 0600). \
                     Back it up: stored secrets cannot be decrypted without it."
                );
            }
            Ok(key)
        }
        (Engine::Sqlite, None) => {
            tracing::warn!(
                "in-memory database without OWNERBOUND_MASTER_KEY: using a throw-away key"
            );
            Ok(MasterKey::generate())
        }
        (Engine::Postgres, _) => anyhow::bail!(
            "invalid configuration: OWNERBOUND_MASTER_KEY (master_key) is required with PostgreSQL \
             (32 bytes, base64 or hex; or OWNERBOUND_MASTER_KEY_FILE)"
        ),
    }
}

/// Loads the master key and checks it is the one this database was set up with (or,
/// during a rotation, either of its two keys; see [`crate::key_rotation`]).
pub async fn open_keys(settings: &Settings, store: &Store) -> anyhow::Result<SecretKeys> {
    keys_of(&load_master_key(settings)?, store).await
}

/// The keys of `master`, as the database knows them.
async fn keys_of(master: &MasterKey, store: &Store) -> anyhow::Result<SecretKeys> {
    match crate::key_rotation::open_keys(store, master).await {
        Ok(keys) => Ok(keys),
        Err(crate::key_rotation::KeyError::Store(err)) => {
            Err(anyhow::Error::new(err).context("while checking the master key"))
        }
        Err(err) => anyhow::bail!("invalid configuration: {err}"),
    }
}

impl Application {
    /// Connects, migrates, bootstraps the admin token and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let addr = settings.listen_addr()?;
        let hr_sources = hr::config::resolve_all(&settings.hr_sources, &mut |warning| {
            tracing::warn!("{warning}")
        })
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        // Before connecting: a missing key is a configuration error, not a database one.
        let master = load_master_key(&settings)?;
        let store = open_store(&settings).await?;
        let keys = keys_of(&master, &store).await?;
        drop(master);
        let initial_admin_token =
            match bootstrap_admin(&store, settings.bootstrap_admin_token.as_ref())
                .await
                .context("while installing the first admin token")?
            {
                Bootstrap::Created(token) => Some(token),
                Bootstrap::InstalledConfigured => {
                    tracing::info!(
                        "installed the admin token from OWNERBOUND_BOOTSTRAP_ADMIN_TOKEN"
                    );
                    None
                }
                Bootstrap::Nothing => None,
            };
        let listener = TcpListener::bind(addr).with_context(|| format!("while binding {addr}"))?;
        let port = listener.local_addr()?.port();
        let shutdown = CancellationToken::new();
        let max_body = settings.max_body_bytes;
        let policy = settings.shared_credentials;
        let job_workers = settings.job_workers;
        let retry_deadline = std::time::Duration::from_secs(settings.retry_deadline_seconds);
        let key_rotation = settings.key_rotation_pace();
        let alerts = settings.alert_config();
        let providers = Arc::new(
            crate::connectors::providers::index(&settings.providers, &mut |warning| {
                tracing::warn!("{warning}")
            })
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?,
        );
        let hr_scheduler_interval =
            std::time::Duration::from_secs(settings.hr_scheduler_interval_seconds);
        let reports = settings
            .report_config()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        let report_check_interval =
            std::time::Duration::from_secs(settings.report_check_interval_seconds);
        let hr_refusals = Arc::new(hr::refusals::RefusalLog::default());
        let inbound = Arc::new(crate::inbound::InboundLimits::new(&settings.rate_limits));
        let rate_limited = Arc::new(hr::refusals::RefusalLog::rate_limited());
        let state = web::Data::new(AppState {
            store: store.clone(),
            keys: keys.clone(),
            settings,
            hr_sources: hr_sources.clone(),
            hr_refusals: hr_refusals.clone(),
            inbound: inbound.clone(),
            rate_limited: rate_limited.clone(),
            providers: providers.clone(),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(max_body))
                .wrap(middleware::from_fn(telemetry::request_span))
                .service(api::resource("/healthz").route(web::get().to(healthz)))
                .service(api::resource("/readyz").route(web::get().to(readyz)))
                .configure(api::configure(max_body))
                .configure(scim::configure(max_body))
                .configure(hr::configure(max_body))
                .default_service(web::to(not_found))
        })
        .disable_signals()
        .shutdown_timeout(30)
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            policy,
            job_workers,
            retry_deadline,
            key_rotation,
            alerts,
            keys,
            providers,
            hr_refusals,
            hr_sources,
            inbound,
            rate_limited,
            hr_scheduler_interval,
            reports,
            report_check_interval,
            server,
            store,
            shutdown,
            initial_admin_token,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The HR sources being served (their counters are shared with the handlers').
    pub fn hr_sources(&self) -> hr::Sources {
        self.hr_sources.clone()
    }

    /// Cancelling this token stops the application gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            tracing::info!("shutting down: finishing in-flight requests");
            handle.stop(true).await;
        });
        tokio::spawn(hr::apply::run_scheduler(
            self.store.clone(),
            self.hr_scheduler_interval,
            self.shutdown.clone(),
        ));
        tokio::spawn(crate::report::delivery::run_scheduler(
            self.store.clone(),
            self.reports.clone(),
            self.report_check_interval,
            self.shutdown.clone(),
        ));
        if self.job_workers > 0 {
            tokio::spawn(crate::discovery::schedule::run_scheduler(
                self.store.clone(),
                self.providers.clone(),
                self.shutdown.clone(),
            ));
        }
        let sealer = (self.store.engine() == crate::store::Engine::Postgres).then(|| {
            tokio::spawn(crate::audit::run_sealer(
                self.store.clone(),
                self.shutdown.clone(),
            ))
        });
        for log in [self.hr_refusals.clone(), self.rate_limited.clone()] {
            tokio::spawn(flush_refusals_periodically(
                log,
                self.store.clone(),
                self.shutdown.clone(),
            ));
        }
        tokio::spawn(crate::key_rotation::watch(
            self.store.clone(),
            self.keys.clone(),
            self.shutdown.clone(),
        ));
        tokio::spawn(forget_quiet_clients(
            self.inbound.clone(),
            self.shutdown.clone(),
        ));
        let mut jobs = crate::jobs::Context::new(
            self.store.clone(),
            self.providers.clone(),
            self.keys.clone(),
            crate::jobs::http_client(),
        );
        jobs.policy = self.policy;
        jobs.alerts = self.alerts.clone();
        jobs.retry_deadline = self.retry_deadline;
        jobs.key_rotation = self.key_rotation;
        // With no workers this instance runs no jobs (and registers no instance).
        let workers = (self.job_workers > 0).then(|| {
            tokio::spawn(crate::jobs::run_workers(
                jobs,
                self.job_workers,
                self.shutdown.clone(),
            ))
        });
        tracing::info!(port = self.port, "ownerbound is serving");
        self.server.await?;
        // In-flight jobs finish before the store closes.
        self.shutdown.cancel();
        if let Some(workers) = workers {
            let _ = workers.await;
        }
        if let Some(sealer) = sealer {
            let _ = sealer.await;
        }
        for log in [&self.hr_refusals, &self.rate_limited] {
            if let Err(err) = log.flush(&self.store).await {
                tracing::warn!(error = %err, "could not store the last refused-request counts");
            }
        }
        // The last writes (that flush) are chained before the store closes.
        if let Err(err) = self.store.seal_audit().await {
            tracing::warn!(error = %err, "sealing audit entries at shutdown failed");
        }
        self.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Stores refused-webhook counts that were only counted in memory.
async fn flush_refusals_periodically(
    log: Arc<hr::refusals::RefusalLog>,
    store: Store,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(hr::refusals::WRITE_INTERVAL) => {
                if let Err(err) = log.flush(&store).await {
                    tracing::warn!(error = %err, "could not store refused-webhook counts; will retry");
                }
            }
        }
    }
}

/// Lets the inbound limiters forget clients that went quiet.
async fn forget_quiet_clients(
    limits: Arc<crate::inbound::InboundLimits>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(crate::inbound::FORGET_INTERVAL) => limits.forget_quiet_clients(),
        }
    }
}

/// Cancels `token` on SIGTERM or ctrl-c.
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        token.cancel();
    });
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.store.is_ready().await {
        HttpResponse::Ok().json(json!({ "status": "ready" }))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({
            "status": "unavailable",
            "detail": "database unreachable or migrations not applied",
        }))
    }
}

async fn not_found() -> Result<HttpResponse, api::error::ApiError> {
    Err(api::error::ApiError::not_found("endpoint"))
}
