//! A stateful stand-in for Okta's Management API (no Okta runs here): API tokens and
//! users paged by `Link: rel="next"` with an `after` cursor, each user's apps and
//! their refresh tokens, tokens deleted by id and then 404. Its answers are checked
//! against Okta's SDK models and its routes are the SDK's operations (`okta_contract`).
//! Faults on demand: 429 with `X-Rate-Limit-Reset`, 500.

use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};

pub const API_TOKEN: &str = "00ownerbound-okta-api-token-0001";

#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    pub target: String,
    pub status: u16,
    /// (SDK model, object) of each resource in the answer.
    pub resources: Vec<(String, Value)>,
}

/// An app a user signed in to, with the refresh tokens it holds: (client, tokens).
type App = (Value, Vec<Value>);

#[derive(Default)]
pub struct State {
    pub api_tokens: Vec<Value>,
    /// Users with their apps.
    pub users: Vec<(Value, Vec<App>)>,
    pub exchanges: Vec<Exchange>,
    pub throttled: usize,
    pub failing: usize,
    next: usize,
}

#[derive(Clone)]
pub struct FakeOkta {
    pub base: String,
    pub state: Arc<Mutex<State>>,
}

const CREATED: &str = "2026-11-02T10:00:00.000Z";

impl FakeOkta {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let base = crate::fake_http::serve(state.clone(), answer);
        Self { base, state }
    }

    fn id(state: &mut State, prefix: &str) -> String {
        state.next += 1;
        format!("{prefix}{:06}", state.next)
    }

    pub fn user(&self, email: &str) -> String {
        let mut state = self.state.lock().unwrap();
        let id = Self::id(&mut state, "00u");
        let user = json!({
            "id": id, "status": "ACTIVE", "created": CREATED, "lastUpdated": CREATED,
            "profile": {"login": email, "email": email, "firstName": "A", "lastName": "B"},
        });
        state.users.push((user, Vec::new()));
        id
    }

    pub fn api_token(&self, user: &str, name: &str) -> String {
        let mut state = self.state.lock().unwrap();
        let id = Self::id(&mut state, "00T");
        state.api_tokens.push(json!({
            "id": id, "name": name, "userId": user, "clientName": "Okta API",
            "created": CREATED, "lastUpdated": CREATED, "tokenWindow": "P30D",
            "network": {"connection": "ANYWHERE"},
        }));
        id
    }

    /// A refresh token of `user` for the app `client`; its handle.
    pub fn refresh_token(&self, user: &str, client: &str, client_name: &str) -> String {
        let mut state = self.state.lock().unwrap();
        let token_id = Self::id(&mut state, "oar");
        let (_, apps) = state
            .users
            .iter_mut()
            .find(|(u, _)| u["id"] == user)
            .unwrap();
        let token = json!({
            "id": token_id, "status": "ACTIVE", "clientId": client, "userId": user,
            "scopes": ["offline_access", "okta.users.read"], "created": CREATED, "lastUpdated": CREATED,
            "issuer": "https://example.okta.com/oauth2/default",
        });
        match apps.iter_mut().find(|(c, _)| c["client_id"] == client) {
            Some((_, tokens)) => tokens.push(token),
            None => apps.push((
                json!({"client_id": client, "client_name": client_name}),
                vec![token],
            )),
        }
        format!("{user}/{client}/{token_id}")
    }

    pub fn has_api_token(&self, id: &str) -> bool {
        self.state
            .lock()
            .unwrap()
            .api_tokens
            .iter()
            .any(|t| t["id"] == id)
    }

    pub fn refresh_tokens(&self) -> usize {
        let state = self.state.lock().unwrap();
        state
            .users
            .iter()
            .flat_map(|(_, apps)| apps)
            .map(|(_, t)| t.len())
            .sum()
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.state.lock().unwrap().exchanges.clone()
    }
}

fn error(status: u16, code: &str) -> (u16, Value) {
    (
        status,
        json!({"errorCode": code, "errorSummary": code, "errorLink": code, "errorId": "oae1", "errorCauses": []}),
    )
}

/// A page of `items` after the cursor `after` (an item id), `limit` long.
fn page(items: &[Value], after: Option<&str>, limit: usize) -> (Vec<Value>, Option<String>) {
    let start = after
        .and_then(|a| items.iter().position(|i| i["id"] == a).map(|p| p + 1))
        .unwrap_or(0);
    let slice: Vec<Value> = items.iter().skip(start).take(limit).cloned().collect();
    let more = start + slice.len() < items.len();
    let last = slice
        .last()
        .and_then(|i| i["id"].as_str())
        .map(str::to_string);
    (slice, last.filter(|_| more))
}

fn answer(state: &Mutex<State>, base: &str, req: &HttpRequest, _body: &[u8]) -> HttpResponse {
    let mut state = state.lock().unwrap();
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let path = req.path().to_string();
    let query: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("SSWS {API_TOKEN}"));
    let mut headers: Vec<(&str, String)> = Vec::new();
    let mut resources: Vec<(String, Value)> = Vec::new();
    let parts: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(str::to_string)
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let (status, body) = if !authorized {
        error(401, "E0000011")
    } else if state.throttled > 0 {
        state.throttled -= 1;
        headers.push((
            "x-rate-limit-reset",
            (chrono::Utc::now().timestamp() + 1).to_string(),
        ));
        error(429, "E0000047")
    } else if state.failing > 0 {
        state.failing -= 1;
        error(500, "E0000009")
    } else {
        match (req.method().as_str(), parts.as_slice()) {
            ("GET", ["api", "v1", "api-tokens"]) => {
                let limit = param("limit").and_then(|l| l.parse().ok()).unwrap_or(20);
                let (items, next) = page(&state.api_tokens, param("after").as_deref(), limit);
                if let Some(after) = next {
                    headers.push((
                        "link",
                        format!(
                            "<{base}/api/v1/api-tokens?after={after}&limit={limit}>; rel=\"next\""
                        ),
                    ));
                }
                resources = items
                    .iter()
                    .map(|t| ("ApiToken".to_string(), t.clone()))
                    .collect();
                (200, Value::Array(items))
            }
            ("GET" | "DELETE", ["api", "v1", "api-tokens", id]) => {
                match state.api_tokens.iter().position(|t| t["id"] == *id) {
                    None => error(404, "E0000007"),
                    Some(i) if req.method() == "GET" => {
                        resources.push(("ApiToken".into(), state.api_tokens[i].clone()));
                        (200, state.api_tokens[i].clone())
                    }
                    Some(i) => {
                        state.api_tokens.remove(i);
                        (204, Value::Null)
                    }
                }
            }
            ("GET", ["api", "v1", "users"]) => {
                let limit = param("limit").and_then(|l| l.parse().ok()).unwrap_or(200);
                let users: Vec<Value> = state.users.iter().map(|(u, _)| u.clone()).collect();
                let (items, next) = page(&users, param("after").as_deref(), limit);
                if let Some(after) = next {
                    headers.push((
                        "link",
                        format!("<{base}/api/v1/users?after={after}&limit={limit}>; rel=\"next\""),
                    ));
                }
                resources = items
                    .iter()
                    .map(|u| ("User".to_string(), u.clone()))
                    .collect();
                (200, Value::Array(items))
            }
            ("GET", ["api", "v1", "users", id]) => {
                match state.users.iter().find(|(u, _)| u["id"] == *id) {
                    Some((user, _)) => {
                        resources.push(("User".into(), user.clone()));
                        (200, user.clone())
                    }
                    None => error(404, "E0000007"),
                }
            }
            ("GET", ["api", "v1", "users", id, "clients"]) => {
                match state.users.iter().find(|(u, _)| u["id"] == *id) {
                    Some((_, apps)) => {
                        let clients: Vec<Value> = apps.iter().map(|(c, _)| c.clone()).collect();
                        resources = clients
                            .iter()
                            .map(|c| ("OAuth2Client".to_string(), c.clone()))
                            .collect();
                        (200, Value::Array(clients))
                    }
                    None => error(404, "E0000007"),
                }
            }
            (method, ["api", "v1", "users", user, "clients", client, "tokens", rest @ ..]) => {
                let tokens = state
                    .users
                    .iter_mut()
                    .find(|(u, _)| u["id"] == *user)
                    .and_then(|(_, apps)| apps.iter_mut().find(|(c, _)| c["client_id"] == *client))
                    .map(|(_, tokens)| tokens);
                match (method, rest, tokens) {
                    ("GET", [], Some(tokens)) => {
                        resources = tokens
                            .iter()
                            .map(|t| ("OAuth2RefreshToken".to_string(), t.clone()))
                            .collect();
                        (200, Value::Array(tokens.clone()))
                    }
                    ("GET", [], None) => (200, json!([])),
                    ("GET", [id], Some(tokens)) => match tokens.iter().find(|t| t["id"] == *id) {
                        Some(token) => {
                            resources.push(("OAuth2RefreshToken".into(), token.clone()));
                            (200, token.clone())
                        }
                        None => error(404, "E0000007"),
                    },
                    ("DELETE", [id], Some(tokens)) => {
                        let before = tokens.len();
                        tokens.retain(|t| t["id"] != *id);
                        if tokens.len() < before {
                            (204, Value::Null)
                        } else {
                            error(404, "E0000007")
                        }
                    }
                    _ => error(404, "E0000007"),
                }
            }
            _ => error(404, "E0000022"),
        }
    };
    state.exchanges.push(Exchange {
        method: req.method().to_string(),
        target,
        status,
        resources,
    });
    crate::fake_http::respond(status, headers, body)
}
