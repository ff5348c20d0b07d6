//! A stateful stand-in for GitHub's organization fine-grained token API (no GitHub runs
//! here), answering as GitHub's OpenAPI description (`@octokit/openapi`) says: the
//! grant list paged by `page`/`per_page` with a `Link` header, the revoke action, and a
//! grant's repositories (404 once revoked). Every exchange is recorded, so a test can
//! check both sides against the description. Faults on demand: rate limiting (429 with
//! `x-ratelimit-remaining: 0` and a reset time), a 502, and a grant that disappears
//! after a given page was served.

use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};

pub const ORG: &str = "acme";
pub const APP_TOKEN: &str = "ghs_ownerbound_installation_token_0001";

/// One exchange: method, path with query, request body, status, response body.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    pub target: String,
    pub request: Option<Value>,
    pub status: u16,
    pub response: Value,
}

#[derive(Default)]
pub struct State {
    pub grants: Vec<Value>,
    pub exchanges: Vec<Exchange>,
    /// Answer this many list requests with 429 (rate limit exhausted).
    pub rate_limited: usize,
    /// Answer this many list requests with 502.
    pub failing: usize,
    /// After serving this page of the list, remove the grant with this id.
    pub vanish_after_page: Option<(usize, i64)>,
    next_id: i64,
}

#[derive(Clone)]
pub struct FakeGitHubOrg {
    pub base: String,
    pub state: Arc<Mutex<State>>,
}

/// A `simple-user` as GitHub returns it.
fn simple_user(login: &str, id: i64) -> Value {
    let url = format!("https://api.github.com/users/{login}");
    json!({
        "login": login, "id": id, "node_id": format!("U_{id}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}"),
        "gravatar_id": "", "url": url, "html_url": format!("https://github.com/{login}"),
        "followers_url": format!("{url}/followers"), "following_url": format!("{url}/following{{/other_user}}"),
        "gists_url": format!("{url}/gists{{/gist_id}}"), "starred_url": format!("{url}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{url}/subscriptions"), "organizations_url": format!("{url}/orgs"),
        "repos_url": format!("{url}/repos"), "events_url": format!("{url}/events{{/privacy}}"),
        "received_events_url": format!("{url}/received_events"), "type": "User", "site_admin": false,
    })
}

impl FakeGitHubOrg {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let base = crate::fake_http::serve(state.clone(), answer);
        Self { base, state }
    }

    /// Adds a grant of `login`'s token `name`; returns its `pat_id`.
    pub fn grant(&self, login: &str, user_id: i64, name: &str) -> i64 {
        let mut state = self.state.lock().unwrap();
        state.next_id += 1;
        let id = 1000 + state.next_id;
        state.grants.push(json!({
            "id": id,
            "owner": simple_user(login, user_id),
            "repository_selection": "subset",
            "repositories_url": format!("https://api.github.com/organizations/1/personal-access-token-requests/{id}/repositories"),
            "permissions": {"organization": {"members": "read"}, "repository": {"contents": "write", "metadata": "read"}},
            "access_granted_at": "2026-11-02T10:00:00Z",
            "token_id": id + 50_000,
            "token_name": name,
            "token_expired": false,
            "token_expires_at": "2027-06-01T00:00:00Z",
            "token_last_used_at": null,
        }));
        id
    }

    pub fn has(&self, id: i64) -> bool {
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

fn answer(state: &Mutex<State>, base: &str, req: &HttpRequest, body: &[u8]) -> HttpResponse {
    let request: Option<Value> =
        (!body.is_empty()).then(|| serde_json::from_slice(body).unwrap_or(Value::Null));
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let mut state = state.lock().unwrap();
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {APP_TOKEN}"));
    let grants_path = format!("/orgs/{ORG}/personal-access-tokens");
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
    let mut headers: Vec<(&str, String)> = Vec::new();
    let (status, response) = if !authorized {
        (
            401,
            json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}),
        )
    } else if req.method() == "GET" && path == grants_path && state.rate_limited > 0 {
        state.rate_limited -= 1;
        let reset = chrono::Utc::now().timestamp() + 1;
        headers.push(("x-ratelimit-remaining", "0".into()));
        headers.push(("x-ratelimit-reset", reset.to_string()));
        (
            429,
            json!({"message": "API rate limit exceeded", "documentation_url": "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"}),
        )
    } else if req.method() == "GET" && path == grants_path && state.failing > 0 {
        state.failing -= 1;
        (502, json!({"message": "Server Error"}))
    } else if req.method() == "GET" && path == grants_path {
        let per_page: usize = param("per_page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(30)
            .min(100);
        let page: usize = param("page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
            .max(1);
        let items: Vec<Value> = state
            .grants
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .cloned()
            .collect();
        let pages = state.grants.len().div_ceil(per_page).max(1);
        if page < pages {
            headers.push((
                "link",
                format!(
                    "<{base}{grants_path}?per_page={per_page}&page={}>; rel=\"next\", <{base}{grants_path}?per_page={per_page}&page={pages}>; rel=\"last\"",
                    page + 1
                ),
            ));
        }
        if let Some((after, id)) = state.vanish_after_page {
            if after == page {
                state.grants.retain(|g| g["id"] != id);
                state.vanish_after_page = None;
            }
        }
        (200, Value::Array(items))
    } else if req.method() == "POST" && path == grants_path {
        let ids: Vec<i64> = request
            .as_ref()
            .and_then(|b| b["pat_ids"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_i64)
            .collect();
        if request.as_ref().map(|b| &b["action"]) != Some(&json!("revoke")) || ids.is_empty() {
            (
                422,
                json!({"message": "Validation Failed", "documentation_url": "https://docs.github.com/rest"}),
            )
        } else {
            state
                .grants
                .retain(|g| !ids.contains(&g["id"].as_i64().unwrap_or_default()));
            (202, json!({}))
        }
    } else if let Some(id) = path
        .strip_prefix(&format!("{grants_path}/"))
        .and_then(|rest| rest.strip_suffix("/repositories"))
        .and_then(|id| id.parse::<i64>().ok())
    {
        if state.grants.iter().any(|g| g["id"] == id) {
            (200, json!([]))
        } else {
            (
                404,
                json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
            )
        }
    } else {
        (
            404,
            json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
        )
    };
    state.exchanges.push(Exchange {
        method: req.method().to_string(),
        target,
        request,
        status,
        response: response.clone(),
    });
    crate::fake_http::respond(status, headers, response)
}
