//! The real `ownerbound` binary as a child process, for tests that kill it, restart
//! it, or put faults between it and its providers: what runs in production, with its
//! own job workers, configuration file and signal handling.
//!
//! ```ignore
//! let Some(config) = ServiceConfig::on(engine).await else { return }; // a skip
//! let mut service = ServiceProcess::start(config.config_toml(toml)).await;
//! service.request(Method::GET, "/api/v1/agents").send().await?;
//! service.kill9().await;
//! service.restart().await;
//! assert!(!service.logs().contains(secret));
//! ```
//!
//! The port is chosen up front, below the kernel's ephemeral range (see
//! [`port_outside_ephemeral_range`]), and handed to the child as `OWNERBOUND_LISTEN`;
//! should something else have bound it in between, the child exits naming the address
//! and it is started again on another port. A restart asks for the same port. The
//! process is ready when `/readyz` answers 200.

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder};

use crate::fault_proxy::port_outside_ephemeral_range;
use crate::helpers::{cli_command, Engine, PgDatabase};

/// Runs an async scenario taking an [`Engine`] once per engine:
/// `on_each_engine!(scenario_fn);` generates the module `scenario_fn` with tests
/// `sqlite` and `postgres`. The scenario starts its own service (usually with
/// [`ServiceConfig::on`], which makes a missing PostgreSQL a skip, or a failure
/// under OWNERBOUND_TEST_REQUIRE_ALL=1).
#[macro_export]
macro_rules! on_each_engine {
    ($($scenario:ident),+ $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$scenario($crate::helpers::Engine::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$scenario($crate::helpers::Engine::Postgres).await;
                }
            }
        )+
    };
}

/// Log filter of the child: verbose, so that a leak check has the most to search.
const LOG_FILTER: &str = "debug,ownerbound=trace,hyper=info,h2=info,rustls=info";

/// How long a start may take (migrations on a busy machine) and a stop may take
/// (the service lets in-flight requests finish for up to 30 s).
const START_TIMEOUT: Duration = Duration::from_secs(90);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the child's data lives.
pub enum Database {
    /// `ownerbound.db` in the process's temporary directory.
    FreshSqlite,
    /// A fresh PostgreSQL database, dropped after the process.
    Postgres(PgDatabase),
    /// Any database URL (one another process uses too, say), left as it is.
    #[allow(
        dead_code,
        reason = "for fault tests running a second instance on one database"
    )]
    Url(String),
}

/// What the child is started with.
pub struct ServiceConfig {
    pub database: Database,
    /// 32 bytes, hex (`OWNERBOUND_MASTER_KEY`).
    pub master_key: String,
    /// `OWNERBOUND_BOOTSTRAP_ADMIN_TOKEN`; the harness's requests use it.
    pub admin_token: String,
    /// Content of the TOML file passed as `OWNERBOUND_CONFIG` (`[[providers]]` live
    /// here).
    pub config_toml: String,
    /// Extra environment, applied last: it overrides the harness's own settings
    /// (`OWNERBOUND_JOB_WORKERS` is 2 unless set here or in the file).
    pub env: Vec<(String, String)>,
}

impl ServiceConfig {
    /// A new database of this engine, a random master key and admin token, an empty
    /// configuration file. None (a skip) when PostgreSQL is not configured, unless
    /// OWNERBOUND_TEST_REQUIRE_ALL=1 makes that a failure.
    pub async fn on(engine: Engine) -> Option<Self> {
        let database = match engine {
            Engine::Sqlite => Database::FreshSqlite,
            Engine::Postgres => Database::Postgres(PgDatabase::create().await?),
        };
        Some(Self::new(database))
    }

    pub fn new(database: Database) -> Self {
        Self {
            database,
            master_key: hex::encode(uuid_bytes::<32>()),
            admin_token: format!("ob_process_admin_{}", hex::encode(uuid_bytes::<16>())),
            config_toml: String::new(),
            env: Vec::new(),
        }
    }

    pub fn config_toml(mut self, toml: impl Into<String>) -> Self {
        self.config_toml = toml.into();
        self
    }

    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }
}

fn uuid_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    for chunk in bytes.chunks_mut(16) {
        chunk.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..chunk.len()]);
    }
    bytes
}

/// A running `ownerbound serve` child process. Dropping it kills the process.
pub struct ServiceProcess {
    engine: Engine,
    database_url: String,
    master_key: String,
    admin_token: String,
    env: Vec<(String, String)>,
    config_path: PathBuf,
    log_path: PathBuf,
    port: u16,
    starts: usize,
    child: Option<Child>,
    client: reqwest::Client,
    /// Declared after `child`: the database is dropped after the process is killed.
    _pg: Option<PgDatabase>,
    dir: tempfile::TempDir,
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- ownerbound child log ({}) ---", self.log_path.display());
            eprintln!("{}", tail(&self.logs(), 200));
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl ServiceProcess {
    /// Starts the child and waits until `/readyz` answers 200.
    pub async fn start(config: ServiceConfig) -> ServiceProcess {
        let dir = tempfile::tempdir().unwrap();
        let (database_url, pg) = match config.database {
            Database::FreshSqlite => (
                format!("sqlite://{}", dir.path().join("ownerbound.db").display()),
                None,
            ),
            Database::Postgres(pg) => (pg.url.clone(), Some(pg)),
            Database::Url(url) => (url, None),
        };
        let engine = if database_url.starts_with("sqlite:") {
            Engine::Sqlite
        } else {
            Engine::Postgres
        };
        let config_path = dir.path().join("ownerbound.toml");
        std::fs::write(&config_path, &config.config_toml).unwrap();
        let mut service = ServiceProcess {
            engine,
            database_url,
            master_key: config.master_key,
            admin_token: config.admin_token,
            env: config.env,
            config_path,
            log_path: dir.path().join("ownerbound.log"),
            port: 0,
            starts: 0,
            child: None,
            client: reqwest::Client::new(),
            _pg: pg,
            dir,
        };
        service.launch().await;
        service
    }

    /// Starts a new process on the same database, configuration and (if it is still
    /// free) port, and waits until it is ready. A process still running is stopped
    /// first with SIGTERM.
    pub async fn restart(&mut self) {
        if self.is_running() {
            self.stop().await;
        }
        self.launch().await;
    }

    /// SIGKILL (a crash, an OOM kill), then waits for the process to be gone.
    pub async fn kill9(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the service is not running");
        child.kill().expect("SIGKILL the service");
        let status = child.wait().expect("wait for the killed service");
        self.note(&format!("killed (SIGKILL): {status}"));
        status
    }

    /// SIGTERM (a deployment stopping it), then waits for it to exit.
    pub async fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the service is not running");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the service did not stop within {STOP_TIMEOUT:?} of SIGTERM; log:\n{}",
                    tail(&self.logs(), 100)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        self.note(&format!("stopped (SIGTERM): {status}"));
        status
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().unwrap().is_none())
    }

    /// The process id of the running child.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url_for(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    pub fn master_key(&self) -> &str {
        &self.master_key
    }

    /// The master key the next start is given (after a rotation).
    pub fn set_master_key(&mut self, key: &str) {
        self.master_key = key.to_string();
    }

    /// The process's temporary directory (its working directory, the configuration
    /// file, the log, and a fresh SQLite database).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A request with the admin token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url_for(path))
            .bearer_auth(&self.admin_token)
    }

    /// Everything every process of this harness wrote on stdout and stderr (JSON log
    /// lines), with a line from the harness before each start and after each stop.
    pub fn logs(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log_path).unwrap_or_default()).into_owned()
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Appends a line of the harness's own to the log.
    fn note(&self, what: &str) {
        let mut log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .unwrap();
        writeln!(log, "=== service_process: {what} ===").unwrap();
    }

    fn spawn(&mut self, port: u16) -> (Child, u64) {
        self.starts += 1;
        self.note(&format!("start #{} on port {port}", self.starts));
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .unwrap();
        let offset = log.metadata().unwrap().len();
        let child = cli_command(self.dir.path())
            .arg("serve")
            .env("OWNERBOUND_CONFIG", &self.config_path)
            .env("OWNERBOUND_LISTEN", format!("127.0.0.1:{port}"))
            .env("OWNERBOUND_DATABASE_URL", &self.database_url)
            .env("OWNERBOUND_MASTER_KEY", &self.master_key)
            .env("OWNERBOUND_BOOTSTRAP_ADMIN_TOKEN", &self.admin_token)
            .env("OWNERBOUND_LOG_FORMAT", "json")
            .env("OWNERBOUND_LOG", LOG_FILTER)
            .env("OWNERBOUND_JOB_WORKERS", "2")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            // Both to one file opened for appending: lines never overwrite each other.
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start the ownerbound binary");
        (child, offset)
    }

    /// Starts the child on the current port (a free one on the first start) until one
    /// start binds; then waits for readiness.
    async fn launch(&mut self) {
        let mut port = if self.port == 0 {
            free_port()
        } else {
            self.port
        };
        for _attempt in 0..5 {
            let (child, offset) = self.spawn(port);
            self.child = Some(child);
            match self.wait_until_ready(port, offset).await {
                Ok(()) => {
                    self.port = port;
                    return;
                }
                Err(NotReady::PortTaken) => port = free_port(),
            }
        }
        panic!("the service found no free port in 5 attempts");
    }

    async fn wait_until_ready(&mut self, port: u16, log_offset: u64) -> Result<(), NotReady> {
        let probe = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let readyz = format!("http://127.0.0.1:{port}/readyz");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                let log = self.logs();
                let this_start = log.get(log_offset as usize..).unwrap_or(&log);
                if this_start.contains("while binding") {
                    self.note(&format!("port {port} was taken, trying another"));
                    return Err(NotReady::PortTaken);
                }
                panic!("the service exited before it was ready ({status}); log:\n{this_start}");
            }
            if let Ok(response) = probe.get(&readyz).send().await {
                if response.status() == 200 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "the service was not ready within {START_TIMEOUT:?}; log:\n{}",
                    tail(&self.logs(), 100)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

enum NotReady {
    PortTaken,
}

/// A loopback port free right now, preferably outside the ephemeral range.
fn free_port() -> u16 {
    for _ in 0..50 {
        let Some(port) = port_outside_ephemeral_range() else {
            break;
        };
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
