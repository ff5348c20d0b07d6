//! Contract test of the `microsoft_graph` connector against a fake of Microsoft Graph
//! (`fake_graph`; no Graph runs here): every request ownerbound sent is one of the
//! documented v1.0 calls, and every grant and user the fake answered with is checked
//! against Microsoft's published Graph types (`graph_contract`). Discovery pages by
//! `@odata.nextLink` through a 429 with `Retry-After` and a 503, attributes users'
//! grants by their mail (recording the Entra object id as the identity), leaves out
//! tenant-wide admin consent, flags a grant of a user nobody knows as shadow, changes
//! nothing when run again, and a departure deletes the person's grants, proven by 404.

use serde_json::{json, Value};

use crate::fake_graph::{FakeGraph, CLIENT, TENANT};
use crate::graph_contract::{check_request, GraphTypes};
use crate::helpers::{run_counts, TestApp};
use crate::on_both_engines;

const ADA: &str = "6f1c2a9e-0000-4000-8000-00000000a0a0";
const BOB: &str = "6f1c2a9e-0000-4000-8000-00000000b0b0";
const AGENT_APP: &str = "aaaa1111-0000-4000-8000-000000000001";

async fn graph_grants_are_discovered_across_pages_and_faults_and_deleted_as_microsofts_graph_types_describe(
    app: TestApp,
) {
    let Some(types) = GraphTypes::load() else {
        return;
    };
    let graph = FakeGraph::start();
    graph.user(ADA, "ada@example.com");
    graph.user(BOB, "bob@example.com");
    let ada_grants = [
        graph.grant(Some(ADA), AGENT_APP, "User.Read Mail.Read"),
        graph.grant(
            Some(ADA),
            "bbbb2222-0000-4000-8000-000000000002",
            "Files.ReadWrite",
        ),
    ];
    let bobs = graph.grant(Some(BOB), AGENT_APP, "User.Read");
    graph.grant(None, AGENT_APP, "User.Read.All");
    // A user Graph no longer knows (deleted): their grant is a shadow.
    graph.grant(
        Some("6f1c2a9e-0000-4000-8000-0000000dead0"),
        AGENT_APP,
        "User.Read",
    );
    for i in 0..110 {
        graph.grant(
            None,
            &format!("cccc{i:04}-0000-4000-8000-000000000003"),
            "openid",
        );
    }
    let ada = app
        .create_person(&json!({"emails": ["ada@example.com"]}))
        .await;
    app.create_person(&json!({"emails": ["bob@example.com"]}))
        .await;
    let providers = json!([{
        "name": "entra", "kind": "microsoft_graph", "tenant_id": TENANT,
        "client_id": CLIENT.0, "client_secret": CLIENT.1, "graph_url": graph.base,
        "login_url": graph.base, "discover": true,
    }]);
    let ctx = app.job_context(providers, None, ownerbound::jobs::http_client());
    {
        let mut state = graph.state.lock().unwrap();
        state.throttled = 1;
        state.failing = 1;
    }
    let first = app.discover(&ctx, "entra").await;
    assert_eq!(first["pages"], 2, "{first}");
    assert_eq!(run_counts(&first), [4, 4, 0, 0, 1], "{first}");
    let identities: Value = app
        .get(&format!(
            "/api/v1/people/{}/identities",
            ada["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(identities["entra"]["identity"], ADA, "{identities}");
    let second = app.discover(&ctx, "entra").await;
    assert_eq!(run_counts(&second), [4, 0, 0, 0, 1], "{second}");

    app.offboard_and_prove(&ada, &ctx, 2, "no longer exists")
        .await;
    assert!(ada_grants.iter().all(|g| !graph.has(g)));
    assert!(graph.has(&bobs));

    // The checks refuse what Microsoft does not describe.
    assert!(types
        .check("OAuth2PermissionGrant", &json!({"id": "x", "owner": "ada"}))
        .is_err());
    assert!(types
        .check("OAuth2PermissionGrant", &json!({"scope": 7}))
        .is_err());
    assert!(check_request("GET", "/v1.0/oauth2PermissionGrants?$page=2").is_err());
    let exchanges = graph.exchanges();
    assert!(exchanges.iter().any(|e| e.status == 429));
    assert!(exchanges.iter().any(|e| e.status == 503));
    assert!(exchanges
        .iter()
        .any(|e| e.method == "DELETE" && e.status == 204));
    for e in exchanges.iter().filter(|e| e.target.starts_with("/v1.0/")) {
        check_request(&e.method, &e.target)
            .unwrap_or_else(|why| panic!("request {} {}: {why}", e.method, e.target));
        if e.status != 200 {
            continue;
        }
        let checked = if e.target.starts_with("/v1.0/users/") {
            types.check("User", &e.response)
        } else if let Some(grants) = e.response["value"].as_array() {
            grants
                .iter()
                .try_for_each(|g| types.check("OAuth2PermissionGrant", g))
        } else {
            types.check("OAuth2PermissionGrant", &e.response)
        };
        checked.unwrap_or_else(|why| panic!("response {} {}: {why}", e.method, e.target));
    }
    app.assert_secrets_kept(&[CLIENT.1]).await;
}

on_both_engines!(
    graph_grants_are_discovered_across_pages_and_faults_and_deleted_as_microsofts_graph_types_describe
);
