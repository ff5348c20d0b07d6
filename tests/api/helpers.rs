//! Test harness: the real application on port 0 with a fresh database per test,
//! once per engine (SQLite always; PostgreSQL when OWNERBOUND_TEST_POSTGRES_URL is set).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};

use ownerbound::config::Settings;
use ownerbound::crypto::{MasterKey, SecretKeys};
use ownerbound::startup::Application;
use ownerbound::store::Store;
use reqwest::{Method, RequestBuilder, Response};
use secrecy::SecretString;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Runs an async test scenario once per engine: `on_both_engines!(scenario_fn);`
/// generates the module `scenario_fn` with tests `sqlite` and `postgres`.
#[macro_export]
macro_rules! on_both_engines {
    ($($scenario:ident),+ $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $crate::helpers::spawn_app($crate::helpers::Engine::Sqlite).await.unwrap();
                    super::$scenario(app).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::helpers::spawn_app($crate::helpers::Engine::Postgres).await {
                        super::$scenario(app).await;
                    }
                }
            }
        )+
    };
}

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static INIT_LOGS: Once = Once::new();

/// Writer for the global subscriber: keeps everything for leak checks, and echoes
/// to stdout when TEST_LOG is set.
struct CaptureWriter;

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stdout().write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    INIT_LOGS.call_once(|| {
        // Verbose on purpose: the more is logged, the more a leak check can catch.
        let filter = tracing_subscriber::EnvFilter::new(
            "debug,ownerbound=trace,hyper=info,h2=info,rustls=info",
        );
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(|| CaptureWriter)
            .init();
    });
}

/// Everything logged so far by every test in this process.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

fn require_all() -> bool {
    std::env::var("OWNERBOUND_TEST_REQUIRE_ALL").as_deref() == Ok("1")
}

/// A fresh PostgreSQL database for one test, dropped when the test ends.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    /// None when PostgreSQL is not configured (and not required).
    pub async fn create() -> Option<Self> {
        let admin_url = match std::env::var("OWNERBOUND_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                assert!(
                    !require_all(),
                    "OWNERBOUND_TEST_REQUIRE_ALL=1 but OWNERBOUND_TEST_POSTGRES_URL is not set"
                );
                eprintln!("skipping PostgreSQL: OWNERBOUND_TEST_POSTGRES_URL is not set");
                return None;
            }
        };
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("OWNERBOUND_TEST_POSTGRES_URL is set but PostgreSQL is unreachable");
        let name = format!("ob_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let mut url = url::Url::parse(&admin_url).expect("postgres URL");
        url.set_path(&format!("/{name}"));
        Some(Self {
            admin_url,
            name,
            url: url.to_string(),
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime; do the async cleanup on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// A running application and what a test needs to talk to it.
pub struct TestApp {
    pub engine: Engine,
    pub address: String,
    pub port: u16,
    pub store: Store,
    pub admin_token: String,
    pub database_url: String,
    pub master_key_hex: String,
    pub keys: SecretKeys,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    /// The served HR sources, sharing the handlers' counters.
    pub hr_sources: ownerbound::hr::Sources,
    shutdown: CancellationToken,
    _pg: Option<PgDatabase>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Largest body the test apps accept (small, so 413 is cheap to provoke).
pub const TEST_MAX_BODY: usize = 64 * 1024;

/// Starts the application on port 0 with a fresh database. None when the engine is
/// PostgreSQL and it is not configured.
pub async fn spawn_app(engine: Engine) -> Option<TestApp> {
    spawn_app_with(engine, |_| {}).await
}

/// As [`spawn_app`], with the settings adjusted by `adjust` (providers, say).
pub async fn spawn_app_with(engine: Engine, adjust: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let pg = match engine {
        Engine::Sqlite => None,
        Engine::Postgres => Some(PgDatabase::create().await?),
    };
    let database_url = match &pg {
        Some(pg) => pg.url.clone(),
        None => format!("sqlite://{}", dir.path().join("ownerbound.db").display()),
    };
    let master_key_hex = hex::encode(rand_bytes());
    let admin_token = format!("ob_test_admin_{}", uuid::Uuid::new_v4().simple());
    let mut settings = Settings {
        listen: "127.0.0.1:0".into(),
        database_url: SecretString::from(database_url.clone()),
        master_key: Some(SecretString::from(master_key_hex.clone())),
        bootstrap_admin_token: Some(SecretString::from(admin_token.clone())),
        max_body_bytes: TEST_MAX_BODY,
        hr_sources: crate::hr::test_sources(),
        // Tests drive the job queue step by step (`TestApp::run_jobs`).
        job_workers: 0,
        // Tests of other things send bursts; tests of the limits set their own.
        rate_limits: ownerbound::config::RateLimitSettings::unlimited(),
        ..Settings::default()
    };
    adjust(&mut settings);
    settings.validate().unwrap();
    let app = Application::build(settings)
        .await
        .expect("application builds");
    let port = app.port();
    let hr_sources = app.hr_sources();
    let shutdown = app.shutdown_token();
    let store = Store::connect_url(&database_url).await.unwrap();
    tokio::spawn(app.run_until_stopped());
    let keys = SecretKeys::new(&MasterKey::parse(&master_key_hex).unwrap());
    Some(TestApp {
        engine,
        address: format!("http://127.0.0.1:{port}"),
        port,
        store,
        admin_token,
        database_url,
        master_key_hex,
        keys,
        dir,
        client: reqwest::Client::new(),
        hr_sources,
        shutdown,
        _pg: pg,
    })
}

fn rand_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(16) {
        chunk.copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    bytes
}

impl TestApp {
    /// A request with the admin token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.request_as(&self.admin_token.clone(), method, path)
    }

    pub fn request_as(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(token)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.request(Method::PATCH, path)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Creates an agent and returns its JSON (asserting 201).
    pub async fn create_agent(&self, body: &Value) -> Value {
        let response = self.post("/api/v1/agents", body).await;
        let status = response.status();
        let json: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "create agent: {json}");
        json
    }

    /// Creates a person through the API and returns their JSON.
    pub async fn create_person(&self, body: &Value) -> Value {
        let response = self.post("/api/v1/people", body).await;
        let status = response.status();
        let json: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "create person: {json}");
        json
    }

    /// Creates a token with the given scope and returns its value.
    pub async fn token_with_scope(&self, scope: &str) -> String {
        let name = format!("{scope}-{}", uuid::Uuid::new_v4().simple());
        let response = self
            .post(
                "/api/v1/tokens",
                &serde_json::json!({"name": name, "scope": scope}),
            )
            .await;
        assert_eq!(response.status(), 201);
        let json: Value = response.json().await.unwrap();
        json["token"].as_str().unwrap().to_string()
    }

    /// Runs queued jobs until none is due, as a worker would.
    pub async fn run_jobs(&self) -> usize {
        self.run_jobs_with(serde_json::json!([])).await
    }

    /// Runs queued jobs with these `[[providers]]` (plus a manual `it-desk`).
    pub async fn run_jobs_with(&self, extra_providers: Value) -> usize {
        self.run_jobs_alerting(extra_providers, None).await
    }

    /// As [`run_jobs_with`](Self::run_jobs_with), emailing alerts as configured.
    pub async fn run_jobs_alerting(
        &self,
        extra_providers: Value,
        alerts: Option<ownerbound::alerts::AlertConfig>,
    ) -> usize {
        let mut all = vec![serde_json::json!({"name": "it-desk", "kind": "manual"})];
        all.extend(extra_providers.as_array().cloned().unwrap_or_default());
        let ctx = self.job_context(Value::Array(all), alerts, ownerbound::jobs::http_client());
        ownerbound::jobs::Worker::new(ctx)
            .run_until_idle()
            .await
            .unwrap()
    }

    /// Creates one person owning one agent with `credentials`, offboards them, and
    /// returns the agent's credential ids in order.
    /// The items of the first offboarding case listed, by credential id: (status,
    /// detail).
    pub async fn case_items(&self) -> std::collections::BTreeMap<String, (String, String)> {
        let cases: Value = self.get("/api/v1/offboardings").await.json().await.unwrap();
        let id = cases["items"][0]["id"].as_str().unwrap();
        let case: Value = self
            .get(&format!("/api/v1/offboardings/{id}"))
            .await
            .json()
            .await
            .unwrap();
        case["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let text = |field: &str| i[field].as_str().unwrap_or("").to_string();
                (text("credential_id"), (text("status"), text("detail")))
            })
            .collect()
    }

    /// Runs a discovery of `provider` to its end outside the queue, as
    /// `ownerbound discover` does, and returns the run as the API lists it.
    pub async fn discover(&self, ctx: &ownerbound::jobs::Context, provider: &str) -> Value {
        let runner = ownerbound::discovery::Runner {
            trigger: "cli",
            holder: "test",
            job_id: None,
        };
        let outcome = ownerbound::discovery::run(ctx, provider, &runner)
            .await
            .unwrap();
        assert!(
            matches!(outcome, ownerbound::discovery::RunOutcome::Finished(_)),
            "{outcome:?}"
        );
        let runs: Value = self
            .get(&format!("/api/v1/discoveries?provider={provider}"))
            .await
            .json()
            .await
            .unwrap();
        runs["items"][0].clone()
    }

    /// Offboards `person` through the API and runs the queue with `ctx`'s providers;
    /// asserts that each of the case's `items` credentials was proven dead with a
    /// proof that says `proof`.
    pub async fn offboard_and_prove(
        &self,
        person: &Value,
        ctx: &ownerbound::jobs::Context,
        items: usize,
        proof: &str,
    ) {
        let id = person["id"].as_str().unwrap();
        let response = self
            .post(
                &format!("/api/v1/people/{id}/offboard"),
                &serde_json::json!({}),
            )
            .await;
        assert!(response.status().is_success());
        ownerbound::jobs::Worker::new(ctx.clone())
            .run_until_idle()
            .await
            .unwrap();
        let case = self.case_items().await;
        assert_eq!(case.len(), items, "{case:?}");
        for (status, detail) in case.values() {
            assert_eq!(status, "verified_dead", "{detail}");
            assert!(detail.contains(proof), "{detail}");
        }
    }

    /// Asserts that none of `secrets` is in the audit log or the captured logs.
    pub async fn assert_secrets_kept(&self, secrets: &[&str]) {
        let audit: Value = self.get("/api/v1/audit").await.json().await.unwrap();
        let audit = audit.to_string();
        let logs = captured_logs();
        for secret in secrets {
            assert!(!audit.contains(secret), "a secret in the audit log");
            assert!(!logs.contains(secret), "a secret in the logs");
        }
    }

    pub async fn offboard_owner_of(&self, credentials: Value) -> Vec<String> {
        let person = self
            .create_person(&serde_json::json!({"emails": ["leaver@example.com"]}))
            .await;
        let agent = self
            .create_agent(&serde_json::json!(
                {"name": "leaver-bot", "owner_id": person["id"], "credentials": credentials}))
            .await;
        let id = person["id"].as_str().unwrap();
        let response = self
            .post(
                &format!("/api/v1/people/{id}/offboard"),
                &serde_json::json!({}),
            )
            .await;
        assert!(response.status().is_success());
        agent["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// What job workers of this app need, with exactly these `[[providers]]`.
    pub fn job_context(
        &self,
        providers: Value,
        alerts: Option<ownerbound::alerts::AlertConfig>,
        http: reqwest::Client,
    ) -> ownerbound::jobs::Context {
        let providers: Vec<ownerbound::connectors::providers::ProviderConfig> =
            serde_json::from_value(providers).unwrap();
        let mut ctx = ownerbound::jobs::Context::new(
            self.store.clone(),
            std::sync::Arc::new(
                ownerbound::connectors::providers::index(&providers, &mut |_| {}).unwrap(),
            ),
            self.keys.clone(),
            http,
        );
        ctx.alerts = alerts;
        ctx
    }

    /// Starts another instance of the service on this database (a restart), with
    /// its settings adjusted by `adjust`; cancel the returned token to stop it.
    pub async fn restart_with(&self, adjust: impl FnOnce(&mut Settings)) -> CancellationToken {
        let mut settings = Settings {
            listen: "127.0.0.1:0".into(),
            database_url: SecretString::from(self.database_url.clone()),
            master_key: Some(SecretString::from(self.master_key_hex.clone())),
            max_body_bytes: TEST_MAX_BODY,
            hr_sources: crate::hr::test_sources(),
            job_workers: 0,
            ..Settings::default()
        };
        adjust(&mut settings);
        settings.validate().unwrap();
        let app = Application::build(settings)
            .await
            .expect("application builds");
        let shutdown = app.shutdown_token();
        tokio::spawn(app.run_until_stopped());
        shutdown
    }

    /// A token of scope `scim`, as an identity provider would be given.
    pub async fn scim_token(&self) -> String {
        self.token_with_scope("scim").await
    }

    /// A SCIM request with `token`; returns status, headers and the JSON body (Null
    /// when empty).
    pub async fn scim(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .client
            .request(method, format!("{}/scim/v2{path}", self.address))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/scim+json; charset=utf-8")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, headers, json)
    }

    /// Lifecycle events of a person, as (kind, source) in order.
    pub async fn lifecycle_events(&self, person_id: &str) -> Vec<(String, String)> {
        let events: Value = self
            .get(&format!("/api/v1/lifecycle-events?person_id={person_id}"))
            .await
            .json()
            .await
            .unwrap();
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().to_string(),
                    e["source"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Row counts of every table that a write could touch.
    /// Every committed audit entry, chained or waiting in the outbox.
    /// The newest 1,000 audit entries, as the API lists them.
    pub async fn audit_log(&self) -> Vec<Value> {
        let audit: Value = self
            .get("/api/v1/audit?limit=1000")
            .await
            .json()
            .await
            .unwrap();
        audit["items"].as_array().unwrap().clone()
    }

    pub async fn audit_entries(&self) -> i64 {
        self.store.seal_audit().await.unwrap();
        self.store.count_rows("audit_log").await.unwrap()
    }

    /// Audit entries are counted once chained: those waiting in the outbox
    /// (PostgreSQL) are sealed first, so every committed entry is counted.
    pub async fn row_counts(&self) -> Vec<(String, i64)> {
        self.store.seal_audit().await.unwrap();
        let mut counts = Vec::new();
        for table in [
            "people",
            "person_emails",
            "person_hr_ids",
            "agents",
            "credentials",
            "agent_credentials",
            "api_tokens",
            "audit_log",
            "audit_outbox",
            "scim_groups",
            "scim_group_members",
            "agent_owners",
            "agentic_applications",
            "agentic_application_urls",
            "agentic_application_agents",
            "lifecycle_events",
            "hr_inbox",
            "hr_terminations",
            "hr_refusals",
            "jobs",
            "offboarding_cases",
            "offboarding_items",
            "person_identities",
            "discovered_credentials",
            "discovery_runs",
        ] {
            counts.push((
                table.to_string(),
                self.store.count_rows(table).await.unwrap(),
            ));
        }
        counts
    }

    /// Runs raw SQL against this app's database, bypassing the application (to tamper
    /// with rows as an attacker with database access would).
    /// Audit entries waiting in the outbox are chained first: tampering is with the
    /// chain as it stands.
    pub async fn execute_sql(&self, sql: &str) {
        self.store.seal_audit().await.unwrap();
        match self.engine {
            Engine::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&self.database_url).await.unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
            Engine::Postgres => {
                let pool = sqlx::PgPool::connect(&self.database_url).await.unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
        }
    }

    /// Runs the real binary against this app's database.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.cli_with_env(args, &[])
    }

    pub fn cli_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        cli_command(self.dir.path())
            .args(args)
            .env("OWNERBOUND_DATABASE_URL", &self.database_url)
            .env("OWNERBOUND_MASTER_KEY", &self.master_key_hex)
            .env("OWNERBOUND_LISTEN", format!("127.0.0.1:{}", self.port))
            .envs(env.iter().copied())
            .output()
            .expect("run ownerbound")
    }
}

/// The ownerbound binary, run in `dir` with no inherited OWNERBOUND_* settings.
pub fn cli_command(dir: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(binary());
    command.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("OWNERBOUND_") {
            command.env_remove(key);
        }
    }
    command.env("NO_COLOR", "1");
    command
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ownerbound"))
}

/// Asserts the response is a problem document with this status and code.
/// A discovery run's counts: listed, new, changed, gone, shadow.
pub fn run_counts(run: &Value) -> [i64; 5] {
    ["listed", "new", "changed", "gone", "shadow"].map(|k| run[k].as_i64().unwrap())
}

pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "problem: {body}");
    assert_eq!(body["status"], status);
    body
}
