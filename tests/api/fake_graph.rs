//! A stateful stand-in for Microsoft Graph's delegated permission grants and users,
//! and the Microsoft identity platform's token endpoint (no Graph runs here): grants
//! paged by `$top` with `@odata.nextLink`, each grant read and deleted by id (404 once
//! deleted), users read by object id; resources shaped as `graph_contract` checks
//! against Microsoft's published types. Faults on demand: 429 with `Retry-After`, 503.

use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};

pub const TENANT: &str = "contoso.onmicrosoft.com";
pub const CLIENT: (&str, &str) = (
    "00000000-0000-0000-0000-0000000000ob",
    "graph-client-secret-0001",
);
const ACCESS_TOKEN: &str = "eyJ0eXAi.ownerbound-graph-token.0001";

#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    pub target: String,
    pub status: u16,
    pub response: Value,
}

#[derive(Default)]
pub struct State {
    pub grants: Vec<Value>,
    /// Users: (object id, mail).
    pub users: Vec<(String, String)>,
    pub exchanges: Vec<Exchange>,
    pub throttled: usize,
    pub failing: usize,
    next: usize,
}

#[derive(Clone)]
pub struct FakeGraph {
    pub base: String,
    pub state: Arc<Mutex<State>>,
}

impl FakeGraph {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let base = crate::fake_http::serve(state.clone(), answer);
        Self { base, state }
    }

    pub fn user(&self, object_id: &str, mail: &str) {
        self.state
            .lock()
            .unwrap()
            .users
            .push((object_id.into(), mail.into()));
    }

    /// A grant of `principal` (None: AllPrincipals) to the app `client`; its id.
    pub fn grant(&self, principal: Option<&str>, client: &str, scope: &str) -> String {
        let mut state = self.state.lock().unwrap();
        state.next += 1;
        let id = format!("grant{:04}-{}", state.next, &client[..4]);
        state.grants.push(json!({
            "id": id, "clientId": client,
            "consentType": if principal.is_some() { "Principal" } else { "AllPrincipals" },
            "principalId": principal, "resourceId": "00000003-0000-0000-c000-000000000000",
            "scope": scope,
        }));
        id
    }

    pub fn has(&self, id: &str) -> bool {
        self.state
            .lock()
            .unwrap()
            .grants
            .iter()
            .any(|g| g["id"] == id)
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.state.lock().unwrap().exchanges.clone()
    }
}

fn error(status: u16, code: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"code": code, "message": code, "innerError": {"request-id": "r"}}}),
    )
}

fn answer(state: &Mutex<State>, base: &str, req: &HttpRequest, body: &[u8]) -> HttpResponse {
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
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {ACCESS_TOKEN}"));
    let mut headers = Vec::new();
    let (status, response) = if path == format!("/{TENANT}/oauth2/v2.0/token") {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if field("grant_type") == Some("client_credentials")
            && field("client_id") == Some(CLIENT.0)
            && field("client_secret") == Some(CLIENT.1)
            && field("scope") == Some("https://graph.microsoft.com/.default")
        {
            (
                200,
                json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": ACCESS_TOKEN}),
            )
        } else {
            (401, json!({"error": "invalid_client"}))
        }
    } else if !bearer {
        error(401, "InvalidAuthenticationToken")
    } else if state.throttled > 0 {
        state.throttled -= 1;
        headers.push(("retry-after", "1".to_string()));
        error(429, "TooManyRequests")
    } else if state.failing > 0 {
        state.failing -= 1;
        error(503, "serviceNotAvailable")
    } else if req.method() == "GET" && path == "/v1.0/oauth2PermissionGrants" {
        let top: usize = param("$top").and_then(|t| t.parse().ok()).unwrap_or(100);
        let skip: usize = param("$skiptoken")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let value: Vec<Value> = state.grants.iter().skip(skip).take(top).cloned().collect();
        let mut page = json!({"@odata.context": format!("{base}/v1.0/$metadata#oauth2PermissionGrants"), "value": value});
        if skip + top < state.grants.len() {
            page["@odata.nextLink"] = json!(format!(
                "{base}/v1.0/oauth2PermissionGrants?$top={top}&$skiptoken={}",
                skip + top
            ));
        }
        (200, page)
    } else if let Some(id) = path.strip_prefix("/v1.0/oauth2PermissionGrants/") {
        let position = state.grants.iter().position(|g| g["id"] == id);
        match (req.method().as_str(), position) {
            (_, None) => error(404, "Request_ResourceNotFound"),
            ("GET", Some(i)) => (200, state.grants[i].clone()),
            ("DELETE", Some(i)) => {
                state.grants.remove(i);
                (204, Value::Null)
            }
            _ => error(405, "Request_BadRequest"),
        }
    } else if let Some(id) = path.strip_prefix("/v1.0/users/") {
        match state.users.iter().find(|(u, _)| u == id) {
            Some((id, mail)) => (
                200,
                json!({"@odata.context": format!("{base}/v1.0/$metadata#users(id,mail,userPrincipalName)/$entity"),
                                            "id": id, "mail": mail, "userPrincipalName": mail}),
            ),
            None => error(404, "Request_ResourceNotFound"),
        }
    } else {
        error(404, "Request_ResourceNotFound")
    };
    state.exchanges.push(Exchange {
        method: req.method().to_string(),
        target,
        status,
        response: response.clone(),
    });
    crate::fake_http::respond(status, headers, response)
}
