//! Stateful stand-ins for Vault/OpenBao, GitHub's OAuth app API, Slack's Web API and an
//! internal revocation endpoint, answering as their documentation says (no Vault,
//! GitHub or Slack can run on this network). They hold which secrets are alive, so a
//! test proves a credential dead by the same call a real provider would answer.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

pub const VAULT_ADMIN: &str = "hvs.ownerbound-admin-token-0001";
pub const GITHUB_APP: (&str, &str) = ("Iv1.ownerbound", "github-app-secret-000000000001");
pub const HOOK_KEY: &str = "internal-hook-signing-key-0001";

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    pub at: std::time::Instant,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
pub struct State {
    /// Tokens, accessors, lease ids and credential ids that still work.
    pub live: HashSet<String>,
    pub seen: Vec<Seen>,
    /// Answer this many requests with 503 (a sealed Vault, a Slack outage).
    pub unavailable: usize,
    /// Live Vault tokens without the default policy: refused lookup-self and
    /// revoke-self with a bare "permission denied", like a revoked token on old Vault.
    pub restricted: HashSet<String>,
    /// Live GitHub tokens not issued by the OAuth app (personal, another app's).
    pub foreign: HashSet<String>,
}

#[derive(Clone)]
pub struct Fake {
    pub base: String,
    pub state: Arc<Mutex<State>>,
}

impl Fake {
    pub fn start(live: &[&str]) -> Self {
        let state = Arc::new(Mutex::new(State {
            live: live.iter().map(|s| s.to_string()).collect(),
            ..State::default()
        }));
        let shared = state.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            let state = shared.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let state = state.clone();
                async move { answer(&state, &req, &body) }
            }))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self {
            base: format!("http://127.0.0.1:{port}"),
            state,
        }
    }

    pub fn alive(&self, secret: &str) -> bool {
        self.state.lock().unwrap().live.contains(secret)
    }

    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.state
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

fn answer(state: &Mutex<State>, req: &HttpRequest, body: &[u8]) -> HttpResponse {
    let mut state = state.lock().unwrap();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    state.seen.push(Seen {
        method: req.method().to_string(),
        path: req.path().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: json.clone(),
        at: std::time::Instant::now(),
    });
    if state.unavailable > 0 {
        state.unavailable -= 1;
        return HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "5"))
            .json(json!({"errors": ["Vault is sealed"]}));
    }
    let field = |name: &str| {
        json.get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let vault_token = header("x-vault-token");
    let bearer = header("authorization")
        .strip_prefix("Bearer ")
        .unwrap_or("")
        .to_string();
    let vault_error = |status: u16, error: &str| {
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
            .json(json!({"errors": [error]}))
    };
    let admin = vault_token == VAULT_ADMIN;
    // Vault 1.17+ answers a revoked or unknown token with both messages.
    let invalid_token = || {
        HttpResponse::Forbidden().json(json!({"errors": ["permission denied", "invalid token"]}))
    };
    match (req.method().as_str(), req.path()) {
        // Vault / OpenBao.
        ("POST", "/v1/auth/token/revoke-self") => {
            if state.restricted.contains(&vault_token) {
                vault_error(403, "permission denied")
            } else if state.live.remove(&vault_token) {
                HttpResponse::NoContent().finish()
            } else {
                invalid_token()
            }
        }
        ("GET", "/v1/auth/token/lookup-self") => {
            if state.restricted.contains(&vault_token) {
                vault_error(403, "permission denied")
            } else if state.live.contains(&vault_token) {
                HttpResponse::Ok().json(json!({"data": {"ttl": 3600}}))
            } else {
                invalid_token()
            }
        }
        (_, path) if path.starts_with("/v1/") && !admin => vault_error(403, "permission denied"),
        ("POST", "/v1/auth/token/revoke") => {
            state.live.remove(&field("token"));
            HttpResponse::NoContent().finish()
        }
        ("POST", "/v1/auth/token/lookup") => match state.live.contains(&field("token")) {
            true => HttpResponse::Ok().json(json!({"data": {"ttl": 3600}})),
            false => vault_error(403, "bad token"),
        },
        ("POST", "/v1/auth/token/revoke-accessor") => match state.live.remove(&field("accessor")) {
            true => HttpResponse::NoContent().finish(),
            false => vault_error(400, "invalid accessor"),
        },
        ("POST", "/v1/auth/token/lookup-accessor") => match state.live.contains(&field("accessor"))
        {
            true => HttpResponse::Ok().json(json!({"data": {}})),
            false => vault_error(400, "invalid accessor"),
        },
        ("PUT", "/v1/sys/leases/revoke") => match state.live.remove(&field("lease_id")) {
            true => HttpResponse::NoContent().finish(),
            false => vault_error(400, "invalid lease ID"),
        },
        ("PUT", "/v1/sys/leases/lookup") => match state.live.contains(&field("lease_id")) {
            true => HttpResponse::Ok().json(json!({"data": {}})),
            false => vault_error(400, "invalid lease"),
        },
        // GitHub.
        (method, path) if path == format!("/applications/{}/token", GITHUB_APP.0) => {
            let expected = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", GITHUB_APP.0, GITHUB_APP.1))
            );
            if header("user-agent").is_empty() {
                return HttpResponse::Forbidden().finish();
            }
            if header("authorization") != expected {
                return HttpResponse::Unauthorized()
                    .json(json!({"message": "Requires authentication"}));
            }
            let token = field("access_token");
            let ours = state.live.contains(&token) && !state.foreign.contains(&token);
            match (method, ours) {
                ("DELETE", true) => {
                    state.live.remove(&token);
                    HttpResponse::NoContent().finish()
                }
                ("POST", true) => HttpResponse::Ok().json(json!({"token": "ghu_…"})),
                _ => HttpResponse::NotFound().json(json!({"message": "Not Found"})),
            }
        }
        ("GET", "/user") => match state.live.contains(&bearer) {
            true => HttpResponse::Ok().json(json!({"login": "someone"})),
            false => HttpResponse::Unauthorized().json(json!({"message": "Bad credentials"})),
        },
        // Slack: errors are HTTP 200 with ok:false.
        ("POST", "/api/auth.revoke") => match state.live.remove(&bearer) {
            true => HttpResponse::Ok().json(json!({"ok": true, "revoked": true})),
            false => HttpResponse::Ok().json(json!({"ok": false, "error": "invalid_auth"})),
        },
        ("POST", "/api/auth.test") => match state.live.contains(&bearer) {
            true => HttpResponse::Ok().json(json!({"ok": true, "user_id": "U1"})),
            false => HttpResponse::Ok().json(json!({"ok": false, "error": "token_revoked"})),
        },
        // An internal endpoint that checks the Standard Webhooks signature.
        ("POST", "/hook") => {
            let (id, ts) = (header("webhook-id"), header("webhook-timestamp"));
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(HOOK_KEY.as_bytes()).unwrap();
            mac.update(format!("{id}.{ts}.").as_bytes());
            mac.update(body);
            let expected = format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
            );
            if header("webhook-signature") != expected {
                return HttpResponse::Unauthorized().json(json!({"error": "bad signature"}));
            }
            let credential = json["credential"]["id"].as_str().unwrap_or("").to_string();
            match field("type").as_str() {
                // An endpoint that no longer knows the credential, as Google does.
                "credential.revoke" if json["credential"]["external_id"] == "unknown-to-it" => {
                    HttpResponse::BadRequest().json(json!({"error": "invalid_token"}))
                }
                "credential.revoke" => {
                    state.live.remove(&credential);
                    HttpResponse::Ok().json(json!({"revoked": true}))
                }
                "credential.verify" => {
                    HttpResponse::Ok().json(json!({"active": state.live.contains(&credential)}))
                }
                _ => HttpResponse::BadRequest().json(json!({"error": "invalid_request"})),
            }
        }
        _ => HttpResponse::NotFound().finish(),
    }
}
