//! Agentic applications pushed by an identity provider to `/scim/v2/AgenticApplications`,
//! the way draft-abbey-scim-agent-extension §5.2.5 shows one: URLs, OAuth
//! configuration, and the agents it hosts, which must be agents pushed to `/Agents`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::on_both_engines;

const APPLICATION: &str = "urn:ietf:params:scim:schemas:core:2.0:AgenticApplication";
const AGENT: &str = "urn:ietf:params:scim:schemas:core:2.0:Agent";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// Two agents pushed to `/Agents`, as the draft's example application names them.
struct Agents {
    token: String,
    support: String,
    retrieval: String,
}

async fn agents(app: &TestApp) -> Agents {
    let token = app.scim_token().await;
    let mut ids = Vec::new();
    for name in ["Customer Support Agent", "Knowledge Retrieval Agent"] {
        let (status, _, agent) = app
            .scim(
                &token,
                Method::POST,
                "/Agents",
                Some(&json!({"schemas": [AGENT], "name": name})),
            )
            .await;
        assert_eq!(status, 201, "{agent}");
        ids.push(agent["id"].as_str().unwrap().to_string());
    }
    Agents {
        token,
        support: ids[0].clone(),
        retrieval: ids[1].clone(),
    }
}

/// The draft's example application (§5.2.5), with our agents.
fn example(a: &Agents) -> Value {
    json!({
        "schemas": [APPLICATION],
        "externalId": "app-123456",
        "name": "AI Assistant Platform",
        "displayName": "AI Assistant Platform",
        "description": "Provides authenticated access to customer-facing AI assistants.",
        "active": true,
        "applicationUrls": [
            {"type": "homepage", "primary": true, "value": "https://assistant.example.com",
             "description": "Primary marketing site for the application"},
            {"type": "api", "value": "https://api.assistant.example.com/v1",
             "description": "Public API endpoint for agent integrations"}
        ],
        "oAuthConfiguration": [{
            "clientId": "0oa1qwerty", "description": "Production OAuth client",
            "audienceUri": "https://assistant.example.com/api",
            "issuerUri": "https://idp.example.com",
            "redirectUri": ["https://assistant.example.com/oauth/callback"]
        }],
        "agents": [
            {"value": a.support, "$ref": format!("https://scim.example.com/v2/Agents/{}", a.support),
             "display": "Customer Support Agent", "type": "owned"},
            {"value": a.retrieval, "display": "Knowledge Retrieval Agent", "type": "authorized"}
        ],
        "externalIdentifiers": [{"type": "ssoTenantId", "value": "00abc123",
                                 "system": "https://idp.example.com"}],
        "lastAccessed": "2024-06-20T17:45:00Z"
    })
}

async fn push_example(app: &TestApp, a: &Agents) -> Value {
    let (status, headers, created) = app
        .scim(
            &a.token,
            Method::POST,
            "/AgenticApplications",
            Some(&example(a)),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(headers["location"].to_str().unwrap().ends_with(&format!(
        "/AgenticApplications/{}",
        created["id"].as_str().unwrap()
    )));
    created
}

fn agent_ids(application: &Value) -> Vec<String> {
    let mut ids: Vec<String> = application["agents"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|a| a["value"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    ids.sort();
    ids
}

fn url_values(application: &Value) -> Vec<&str> {
    application["applicationUrls"]
        .as_array()
        .map(|u| u.iter().map(|u| u["value"].as_str().unwrap()).collect())
        .unwrap_or_default()
}

fn encoded(filter: &str) -> String {
    percent_encoding::utf8_percent_encode(filter, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn filtered(app: &TestApp, token: &str, filter: &str) -> Value {
    let (status, _, list) = app
        .scim(
            token,
            Method::GET,
            &format!("/AgenticApplications?filter={}", encoded(filter)),
            None,
        )
        .await;
    assert_eq!(status, 200, "{filter}: {list}");
    list
}

async fn a_pushed_application_names_its_agents_and_is_found_by_every_filter(app: TestApp) {
    let a = agents(&app).await;
    let created = push_example(&app, &a).await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["schemas"], json!([APPLICATION]));
    assert_eq!(created["name"], "AI Assistant Platform");
    assert_eq!(created["externalId"], "app-123456");
    assert_eq!(created["active"], true);
    assert_eq!(
        url_values(&created),
        [
            "https://assistant.example.com",
            "https://api.assistant.example.com/v1"
        ]
    );
    assert_eq!(
        created["oAuthConfiguration"][0]["redirectUri"],
        json!(["https://assistant.example.com/oauth/callback"])
    );
    assert_eq!(
        created["externalIdentifiers"][0]["system"],
        "https://idp.example.com"
    );
    assert!(
        created.get("lastAccessed").is_none(),
        "a read-only attribute was taken from the client"
    );
    let linked = created["agents"].as_array().unwrap();
    assert_eq!(linked[0]["value"], a.support.as_str());
    assert_eq!(linked[0]["type"], "owned");
    assert_eq!(linked[0]["display"], "Customer Support Agent");
    assert!(linked[0]["$ref"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/scim/v2/Agents/{}", a.support)));
    assert_eq!(linked[1]["type"], "authorized");
    assert_eq!(created["meta"]["resourceType"], "AgenticApplication");

    let (status, headers, got) = app
        .scim(
            &a.token,
            Method::GET,
            &format!("/AgenticApplications/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(got, created);
    assert_eq!(
        headers["etag"].to_str().unwrap(),
        created["meta"]["version"].as_str().unwrap()
    );

    // Each agent says which application it belongs to (read-only, from the links).
    let (_, _, support) = app
        .scim(
            &a.token,
            Method::GET,
            &format!("/Agents/{}", a.support),
            None,
        )
        .await;
    assert_eq!(support["applications"].as_array().unwrap().len(), 1);
    assert_eq!(support["applications"][0]["value"], id);
    assert_eq!(
        support["applications"][0]["display"],
        "AI Assistant Platform"
    );
    assert!(support["applications"][0]["$ref"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/scim/v2/AgenticApplications/{id}")));
    let (_, _, listed) = app
        .scim(
            &a.token,
            Method::GET,
            &format!(
                "/Agents?filter={}",
                encoded("name eq \"Knowledge Retrieval Agent\"")
            ),
            None,
        )
        .await;
    assert_eq!(listed["Resources"][0]["applications"][0]["value"], id);

    // The filters the draft recommends, and the agents.
    for filter in [
        "name eq \"ai assistant PLATFORM\"".to_string(),
        "externalId eq \"app-123456\"".to_string(),
        "applicationUrls.value eq \"https://api.assistant.example.com/v1\"".to_string(),
        "applicationUrls[type eq \"homepage\" and primary eq true]".to_string(),
        format!("agents.value eq \"{}\"", a.retrieval),
        format!("agents[value eq \"{}\" and type eq \"owned\"]", a.support),
        "active eq true and name sw \"AI\"".to_string(),
    ] {
        let list = filtered(&app, &a.token, &filter).await;
        assert_eq!(list["totalResults"], 1, "{filter}: {list}");
        assert_eq!(list["Resources"][0]["id"], id, "{filter}");
    }
    for filter in [
        "name eq \"Other Platform\"".to_string(),
        "applicationUrls.value eq \"https://elsewhere.example.com\"".to_string(),
        format!("agents[value eq \"{}\" and type eq \"guest\"]", a.support),
    ] {
        let list = filtered(&app, &a.token, &filter).await;
        assert_eq!(list["totalResults"], 0, "{filter}: {list}");
    }
    let (status, _, error) = app
        .scim(
            &a.token,
            Method::GET,
            &format!(
                "/AgenticApplications?filter={}",
                encoded("displayName eq \"x\"")
            ),
            None,
        )
        .await;
    assert_eq!(
        (status, error["scimType"].clone()),
        (400, json!("invalidFilter"))
    );

    // .search, attributes and excludedAttributes.
    let (status, _, found) = app
        .scim(
            &a.token,
            Method::POST,
            "/AgenticApplications/.search",
            Some(
                &json!({"schemas": [SEARCH], "filter": "externalId eq \"app-123456\"",
                          "attributes": ["name", "applicationUrls.value"]}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["Resources"][0]["name"], "AI Assistant Platform");
    assert!(found["Resources"][0].get("agents").is_none());
    assert!(found["Resources"][0]["applicationUrls"][0]
        .get("type")
        .is_none());
    let (_, _, slim) = app
        .scim(
            &a.token,
            Method::GET,
            &format!("/AgenticApplications/{id}?excludedAttributes=agents,oAuthConfiguration"),
            None,
        )
        .await;
    assert!(slim.get("agents").is_none() && slim.get("oAuthConfiguration").is_none());
    assert_eq!(slim["name"], "AI Assistant Platform");

    // The root search covers applications too.
    let (status, _, root) = app
        .scim(
            &a.token,
            Method::POST,
            "/.search",
            Some(&json!({"schemas": [SEARCH],
                          "filter": "applicationUrls.value eq \"https://assistant.example.com\""})),
        )
        .await;
    assert_eq!(status, 200, "{root}");
    assert_eq!(root["totalResults"], 1, "{root}");
    assert_eq!(root["Resources"][0]["id"], id);
    let (_, _, everything) = app
        .scim(
            &a.token,
            Method::POST,
            "/.search",
            Some(&json!({"schemas": [SEARCH], "startIndex": 3, "count": 5})),
        )
        .await;
    assert_eq!(
        everything["totalResults"], 3,
        "two agents and the application"
    );
    assert_eq!(everything["Resources"][0]["id"], id);

    // Paging.
    let (status, _, second) = app
        .scim(
            &a.token,
            Method::POST,
            "/AgenticApplications",
            Some(&json!({"schemas": [APPLICATION], "name": "Second Platform"})),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["active"], true);
    let (_, _, page) = app
        .scim(
            &a.token,
            Method::GET,
            "/AgenticApplications?startIndex=2&count=1",
            None,
        )
        .await;
    assert_eq!(
        (page["totalResults"].clone(), page["itemsPerPage"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(page["Resources"][0]["id"], second["id"]);
}

async fn applications_are_patched_in_every_dialect_and_bad_writes_change_nothing(app: TestApp) {
    let a = agents(&app).await;
    let created = push_example(&app, &a).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/AgenticApplications/{id}");
    let patch = |ops: Value| json!({"schemas": [PATCH], "Operations": ops});

    // RFC 7644 ops: drop one URL by filter, add another; drop an agent by filter.
    let (status, headers, patched) = app
        .scim(
            &a.token,
            Method::PATCH,
            &path,
            Some(&patch(json!([
                {"op": "remove", "path": "applicationUrls[value eq \"https://api.assistant.example.com/v1\"]"},
                {"op": "add", "path": "applicationUrls",
                 "value": [{"type": "loginPage", "value": "https://assistant.example.com/login"}]},
                {"op": "remove", "path": format!("agents[value eq \"{}\"]", a.retrieval)}
            ]))),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        url_values(&patched),
        [
            "https://assistant.example.com",
            "https://assistant.example.com/login"
        ]
    );
    assert_eq!(agent_ids(&patched), vec![a.support.clone()]);
    let etag = headers["etag"].to_str().unwrap().to_string();
    assert_ne!(etag, created["meta"]["version"].as_str().unwrap());
    let gone = filtered(
        &app,
        &a.token,
        "applicationUrls.value eq \"https://api.assistant.example.com/v1\"",
    )
    .await;
    assert_eq!(gone["totalResults"], 0, "the URL table kept a removed URL");
    let (_, _, retrieval) = app
        .scim(
            &a.token,
            Method::GET,
            &format!("/Agents/{}", a.retrieval),
            None,
        )
        .await;
    assert!(retrieval.get("applications").is_none(), "{retrieval}");

    // Entra ID capitalises its ops and removes by value list without a filter.
    let (status, _, patched) = app
        .scim(
            &a.token,
            Method::PATCH,
            &path,
            Some(&patch(json!([
                {"op": "Add", "path": "agents", "value": [{"value": a.retrieval, "type": "guest"}]},
                {"op": "Remove", "path": "agents", "value": [{"value": a.support}]},
                {"op": "Replace", "path": "active", "value": "False"}
            ]))),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(agent_ids(&patched), vec![a.retrieval.clone()]);
    assert_eq!(patched["agents"][0]["type"], "guest");
    assert_eq!(patched["active"], false);
    assert_eq!(
        filtered(&app, &a.token, "active eq false").await["totalResults"],
        1
    );

    // Path-less replace, as Okta sends it.
    let (status, _, patched) = app
        .scim(
            &a.token,
            Method::PATCH,
            &path,
            Some(&patch(json!([{"op": "Replace", "value": {
                "description": "v2",
                "agents": [{"value": a.support, "type": "owned"}, {"value": a.retrieval, "type": "authorized"}]
            }}]))),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["description"], "v2");
    assert_eq!(agent_ids(&patched), sorted(&[&a.support, &a.retrieval]));

    // PUT replaces everything: what it leaves out is gone.
    let (status, headers, replaced) = app
        .scim(
            &a.token,
            Method::PUT,
            &path,
            Some(&json!({"schemas": [APPLICATION], "name": "AI Assistant Platform",
                          "externalId": "app-123456", "active": true,
                          "applicationUrls": [{"type": "api", "value": "https://api.assistant.example.com/v2"}],
                          "agents": [{"value": a.support, "type": "owned"}]})),
        )
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(
        url_values(&replaced),
        ["https://api.assistant.example.com/v2"]
    );
    assert_eq!(agent_ids(&replaced), vec![a.support.clone()]);
    assert!(replaced.get("description").is_none() && replaced.get("oAuthConfiguration").is_none());
    assert_eq!(replaced["active"], true);
    let current_etag = headers["etag"].to_str().unwrap().to_string();

    // A stale ETag, an agent that is nobody, and an agent the admin API registered
    // (no SCIM resource) are refused, and nothing changes.
    let by_hand = app
        .create_agent(&json!({"name": "by-hand", "owner_email": "ana@example.com"}))
        .await;
    let before = app.row_counts().await;
    for method in [Method::PATCH, Method::DELETE] {
        let stale = app
            .client
            .request(method.clone(), format!("{}/scim/v2{path}", app.address))
            .bearer_auth(&a.token)
            .header("If-Match", &etag)
            .json(&patch(
                json!([{"op": "replace", "path": "description", "value": "v3"}]),
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), 412, "{method}");
    }
    for unknown in ["nobody-at-all", by_hand["id"].as_str().unwrap()] {
        let (status, _, error) = app
            .scim(
                &a.token,
                Method::PATCH,
                &path,
                Some(&patch(json!([
                    {"op": "replace", "path": "description", "value": "v3"},
                    {"op": "add", "path": "agents", "value": [{"value": unknown}]}
                ]))),
            )
            .await;
        assert_eq!(
            (status, error["scimType"].clone()),
            (400, json!("invalidValue")),
            "{error}"
        );
        assert!(
            error["detail"].as_str().unwrap().contains(unknown),
            "{error}"
        );
        let mut body = example(&a);
        body["name"] = json!("Third Platform");
        body["agents"][1]["value"] = json!(unknown);
        let (status, _, error) = app
            .scim(&a.token, Method::POST, "/AgenticApplications", Some(&body))
            .await;
        assert_eq!(
            (status, error["scimType"].clone()),
            (400, json!("invalidValue")),
            "{error}"
        );
    }
    // A second application of the same name, in any case, and a rename onto it.
    let (status, _, error) = app
        .scim(
            &a.token,
            Method::POST,
            "/AgenticApplications",
            Some(&json!({"schemas": [APPLICATION], "name": "ai assistant platform"})),
        )
        .await;
    assert_eq!(
        (status, error["scimType"].clone()),
        (409, json!("uniqueness")),
        "{error}"
    );
    assert_eq!(
        app.row_counts().await,
        before,
        "a refused write wrote something"
    );
    let (_, _, now) = app.scim(&a.token, Method::GET, &path, None).await;
    assert_eq!(now, replaced);
    let (status, _, other) = app
        .scim(
            &a.token,
            Method::POST,
            "/AgenticApplications",
            Some(&json!({"schemas": [APPLICATION], "name": "Other Platform"})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _, error) = app
        .scim(
            &a.token,
            Method::PATCH,
            &format!("/AgenticApplications/{}", other["id"].as_str().unwrap()),
            Some(&patch(
                json!([{"op": "replace", "path": "name", "value": "AI ASSISTANT PLATFORM"}]),
            )),
        )
        .await;
    assert_eq!(
        (status, error["scimType"].clone()),
        (409, json!("uniqueness")),
        "{error}"
    );
    let (status, _, error) = app
        .scim(
            &a.token,
            Method::PATCH,
            &path,
            Some(&patch(json!([{"op": "remove", "path": "name"}]))),
        )
        .await;
    assert_eq!(
        (status, error["scimType"].clone()),
        (400, json!("invalidValue")),
        "{error}"
    );

    // The current ETag is accepted.
    let fresh = app
        .client
        .patch(format!("{}/scim/v2{path}", app.address))
        .bearer_auth(&a.token)
        .header("If-Match", &current_etag)
        .json(&patch(
            json!([{"op": "replace", "path": "description", "value": "v4"}]),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
}

async fn deleting_an_application_forgets_it_and_revokes_nothing(app: TestApp) {
    let a = agents(&app).await;
    let created = push_example(&app, &a).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/AgenticApplications/{id}");

    // Deleting an agent takes it out of the application, under a new version.
    let (status, _, _) = app
        .scim(
            &a.token,
            Method::DELETE,
            &format!("/Agents/{}", a.retrieval),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, _, after) = app.scim(&a.token, Method::GET, &path, None).await;
    assert_eq!(agent_ids(&after), vec![a.support.clone()]);
    assert_ne!(after["meta"]["version"], created["meta"]["version"]);
    let list = filtered(
        &app,
        &a.token,
        &format!("agents.value eq \"{}\"", a.retrieval),
    )
    .await;
    assert_eq!(list["totalResults"], 0);

    let (status, _, _) = app.scim(&a.token, Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let (status, _, error) = app.scim(&a.token, Method::GET, &path, None).await;
    assert_eq!(status, 404, "{error}");
    let (status, _, _) = app.scim(&a.token, Method::DELETE, &path, None).await;
    assert_eq!(status, 404);
    assert_eq!(
        app.store
            .count_rows("agentic_application_urls")
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        app.store
            .count_rows("agentic_application_agents")
            .await
            .unwrap(),
        0
    );

    // Its agent lives on, active, and no longer names it.
    let (_, _, support) = app
        .scim(
            &a.token,
            Method::GET,
            &format!("/Agents/{}", a.support),
            None,
        )
        .await;
    assert_eq!(support["active"], true);
    assert!(support.get("applications").is_none(), "{support}");
    let cases: Value = app
        .get(&format!("/api/v1/offboardings?agent_id={}", a.support))
        .await
        .json()
        .await
        .unwrap();
    assert!(cases["items"].as_array().unwrap().is_empty(), "{cases}");

    // The name is free again, and every write is in the audit log.
    let mut body = example(&a);
    body["agents"] = json!([{"value": a.support}]);
    let (status, _, recreated) = app
        .scim(&a.token, Method::POST, "/AgenticApplications", Some(&body))
        .await;
    assert_eq!(status, 201, "{recreated}");
    assert_ne!(recreated["id"], created["id"]);
    let audit: Value = app
        .get(&format!(
            "/api/v1/audit?subject_kind=application&subject_id={id}"
        ))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"scim.application.created")
            && actions.contains(&"scim.application.deleted"),
        "{actions:?}"
    );
}

on_both_engines!(
    a_pushed_application_names_its_agents_and_is_found_by_every_filter,
    applications_are_patched_in_every_dialect_and_bad_writes_change_nothing,
    deleting_an_application_forgets_it_and_revokes_nothing,
);
