//! A stateful stand-in for Google's Admin SDK Directory API (users and their OAuth
//! tokens) and its OAuth token endpoint (no Google runs here), answering as Google's
//! discovery document describes (checked by `google_contract`): users paged by
//! `pageToken`, each user's tokens unpaged, a token deleted with `DELETE` and then 404.
//! Every exchange is recorded. Faults on demand: 429 with `Retry-After`, 503, and a
//! user deleted between the user list and their tokens.

use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};

pub const CLIENT: (&str, &str) = (
    "ownerbound.apps.googleusercontent.com",
    "google-client-secret-0001",
);
pub const REFRESH_TOKEN: &str = "1//ownerbound-admin-refresh-token-0001";
const ACCESS_TOKEN: &str = "ya29.ownerbound-access-token-0001";

#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    pub target: String,
    pub status: u16,
    pub response: Value,
}

/// A grant as Google lists it: (clientId, displayText, scopes).
type Grant = (String, String, Vec<String>);

#[derive(Default)]
pub struct State {
    /// Users in order: (id, primary email, their grants).
    pub users: Vec<(String, String, Vec<Grant>)>,
    pub exchanges: Vec<Exchange>,
    pub throttled: usize,
    pub failing: usize,
    /// After serving the first users page, delete this user.
    pub delete_after_first_page: Option<String>,
}

#[derive(Clone)]
pub struct FakeGoogle {
    pub base: String,
    pub state: Arc<Mutex<State>>,
}

impl FakeGoogle {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let base = crate::fake_http::serve(state.clone(), answer);
        Self { base, state }
    }

    pub fn user(&self, id: &str, email: &str, tokens: &[(&str, &str)]) {
        let scopes = vec!["https://www.googleapis.com/auth/drive".to_string()];
        self.state.lock().unwrap().users.push((
            id.into(),
            email.into(),
            tokens
                .iter()
                .map(|(c, d)| (c.to_string(), d.to_string(), scopes.clone()))
                .collect(),
        ));
    }

    pub fn has_token(&self, user: &str, client: &str) -> bool {
        self.state
            .lock()
            .unwrap()
            .users
            .iter()
            .any(|(id, _, tokens)| id == user && tokens.iter().any(|t| t.0 == client))
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.state.lock().unwrap().exchanges.clone()
    }
}

fn error(status: u16, message: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"code": status, "message": message, "errors": [{"message": message, "domain": "global", "reason": "notFound"}]}}),
    )
}

fn token_json(user: &str, token: &Grant) -> Value {
    json!({
        "kind": "admin#directory#token", "etag": "\"e\"", "clientId": token.0,
        "displayText": token.1, "scopes": token.2, "userKey": user,
        "anonymous": false, "nativeApp": false,
    })
}

fn answer(state: &Mutex<State>, _base: &str, req: &HttpRequest, body: &[u8]) -> HttpResponse {
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
    let mut headers = Vec::new();
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {ACCESS_TOKEN}"));
    let (status, response) = if path == "/token" {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if field("grant_type") == Some("refresh_token")
            && field("client_id") == Some(CLIENT.0)
            && field("client_secret") == Some(CLIENT.1)
            && field("refresh_token") == Some(REFRESH_TOKEN)
        {
            (
                200,
                json!({"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer",
                         "scope": "https://www.googleapis.com/auth/admin.directory.user.security"}),
            )
        } else {
            (400, json!({"error": "invalid_grant"}))
        }
    } else if !bearer {
        error(401, "Request had invalid authentication credentials.")
    } else if state.throttled > 0 {
        state.throttled -= 1;
        headers.push(("retry-after", "1".to_string()));
        error(429, "Quota exceeded")
    } else if state.failing > 0 {
        state.failing -= 1;
        error(503, "The service is currently unavailable.")
    } else if req.method() == "GET" && path == "/admin/directory/v1/users" {
        let start: usize = param("pageToken")
            .and_then(|t| t.strip_prefix("p").and_then(|n| n.parse().ok()))
            .unwrap_or(0);
        let size: usize = param("maxResults")
            .and_then(|n| n.parse().ok())
            .unwrap_or(100);
        let users: Vec<Value> = state.users.iter().skip(start).take(size).map(|(id, email, _)| json!({
            "kind": "admin#directory#user", "id": id, "etag": "\"e\"", "primaryEmail": email,
            "name": {"givenName": "A", "familyName": "B", "fullName": "A B"},
            "isAdmin": false, "suspended": false, "orgUnitPath": "/",
        })).collect();
        let mut page = json!({"kind": "admin#directory#users", "etag": "\"e\"", "users": users});
        if start + size < state.users.len() {
            page["nextPageToken"] = json!(format!("p{}", start + size));
        }
        if start == 0 {
            if let Some(gone) = state.delete_after_first_page.take() {
                state.users.retain(|(id, _, _)| *id != gone);
            }
        }
        (200, page)
    } else if let Some(rest) = path.strip_prefix("/admin/directory/v1/users/") {
        // Path segments arrive percent-encoded; Google decodes them.
        let decoded: Vec<String> = rest
            .split('/')
            .map(|p| {
                percent_encoding::percent_decode_str(p)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let parts: Vec<&str> = decoded.iter().map(String::as_str).collect();
        let user = state.users.iter_mut().find(|(id, _, _)| id == parts[0]);
        match (req.method().as_str(), parts.as_slice(), user) {
            (_, _, None) => error(404, "Resource Not Found: userKey"),
            ("GET", [id, "tokens"], Some(user)) => (
                200,
                json!({
                    "kind": "admin#directory#tokenList", "etag": "\"e\"",
                    "items": user.2.iter().map(|t| token_json(id, t)).collect::<Vec<_>>(),
                }),
            ),
            ("GET", [id, "tokens", client], Some(user)) => {
                match user.2.iter().find(|t| t.0 == *client) {
                    Some(token) => (200, token_json(id, token)),
                    None => error(404, "Resource Not Found: clientId"),
                }
            }
            ("DELETE", [_, "tokens", client], Some(user)) => {
                let before = user.2.len();
                user.2.retain(|t| t.0 != *client);
                if user.2.len() < before {
                    (204, Value::Null)
                } else {
                    error(404, "Resource Not Found: clientId")
                }
            }
            _ => error(404, "Not Found"),
        }
    } else {
        error(404, "Not Found")
    };
    state.exchanges.push(Exchange {
        method: req.method().to_string(),
        target,
        status,
        response: response.clone(),
    });
    crate::fake_http::respond(status, headers, response)
}
