//! A real OAuth 2.0 authorization server (`oidc-provider`, from tests/peers) for the
//! revocation tests, started on a loopback port per test.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

pub const AGENTS_CLIENT: (&str, &str) = ("agents", "agents-secret-0123456789abcdef");
pub const REVOKER_CLIENT: (&str, &str) = ("revoker", "revoker-secret-0123456789abcdef");

pub struct OAuthServer {
    child: Child,
    pub issuer: String,
    client: reqwest::Client,
}

impl Drop for OAuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OAuthServer {
    /// Starts the server; None (a skip) when Node or the peers are not installed,
    /// unless OWNERBOUND_TEST_REQUIRE_ALL=1 makes that a failure.
    pub fn start() -> Option<Self> {
        let peers = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers");
        let installed = peers.join("node_modules/oidc-provider").exists();
        let node = Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !installed || !node {
            assert!(
                std::env::var("OWNERBOUND_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
                "the OAuth test server is required: install Node.js and run `npm ci` in tests/peers"
            );
            eprintln!("skipping: the OAuth test server is not installed (npm ci in tests/peers)");
            return None;
        }
        let mut child = Command::new("node")
            .arg("oauth-server.mjs")
            .current_dir(&peers)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the OAuth test server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let started: Value = serde_json::from_str(&line).expect("the server prints its address");
        Some(Self {
            child,
            issuer: started["issuer"].as_str().unwrap().to_string(),
            client: reqwest::Client::new(),
        })
    }

    /// The server's socket address (to put a proxy in front of it).
    pub fn addr(&self) -> std::net::SocketAddr {
        let authority = self.issuer.strip_prefix("http://").expect("an http issuer");
        authority.parse().expect("the issuer is ip:port")
    }

    /// A fresh client-credentials access token, as an agent would hold.
    pub async fn token(&self) -> String {
        mint(&self.client, &self.issuer).await.unwrap()
    }

    pub async fn is_active(&self, token: &str) -> bool {
        introspect(&self.client, &self.issuer, token).await.unwrap()
    }

    /// Status of the protected resource for a bearer token.
    pub async fn resource(&self, token: &str) -> u16 {
        self.client
            .get(format!("{}/resource", self.issuer))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// The `[[providers]]` entry for this server, with the revoker's secret.
    pub fn provider(&self, name: &str, secret: &str) -> Value {
        json!({
            "name": name, "kind": "oauth2",
            "revocation_endpoint": format!("{}/token/revocation", self.issuer),
            "introspection_endpoint": format!("{}/token/introspection", self.issuer),
            "client_id": REVOKER_CLIENT.0, "client_secret": secret,
            "client_auth": "client_secret_basic"
        })
    }
}

/// A client-credentials token minted at `base` (the server, or a proxy before it).
pub async fn mint(http: &reqwest::Client, base: &str) -> Result<String, reqwest::Error> {
    let answer: Value = http
        .post(format!("{base}/token"))
        .basic_auth(AGENTS_CLIENT.0, Some(AGENTS_CLIENT.1))
        .form(&[("grant_type", "client_credentials"), ("scope", "api")])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(answer["access_token"].as_str().unwrap().to_string())
}

/// RFC 7662 introspection at `base`, as the revoker client: is the token active?
pub async fn introspect(
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> Result<bool, reqwest::Error> {
    let answer: Value = http
        .post(format!("{base}/token/introspection"))
        .basic_auth(REVOKER_CLIENT.0, Some(REVOKER_CLIENT.1))
        .form(&[("token", token)])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(answer["active"].as_bool().unwrap())
}

/// RFC 7009 revocation at `base`, as the revoker client.
pub async fn revoke(http: &reqwest::Client, base: &str, token: &str) -> Result<(), reqwest::Error> {
    http.post(format!("{base}/token/revocation"))
        .basic_auth(REVOKER_CLIENT.0, Some(REVOKER_CLIENT.1))
        .form(&[("token", token), ("token_type_hint", "access_token")])
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}
