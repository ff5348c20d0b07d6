//! Contract test of the `github_org` connector against a fake of GitHub's organization
//! fine-grained token API (`fake_github_org`; no GitHub runs here): every request
//! ownerbound sent and every answer the fake gave is checked against GitHub's own
//! OpenAPI description (`@octokit/openapi`). Discovery pages across two pages, rides
//! out a 429 with its reset header and a 502, attributes grants through the people's
//! GitHub identities, and does not mark gone a grant that page-number paging skipped
//! because another was revoked mid-run (a point lookup confirms it), while the revoked
//! one is gone by the next run; a run with nothing changed changes nothing; and a
//! departure revokes the person's grants, proven by the grant's 404.

use serde_json::{json, Value};

use crate::fake_github_org::{FakeGitHubOrg, APP_TOKEN, ORG};
use crate::helpers::{run_counts, TestApp};
use crate::on_both_engines;
use crate::openapi_contract::Spec;

async fn set_identity(app: &TestApp, person: &Value, login: &str) {
    let path = format!(
        "/api/v1/people/{}/identities/github",
        person["id"].as_str().unwrap()
    );
    let response = app
        .request(reqwest::Method::PUT, &path)
        .json(&json!({"identity": login}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn github_org_tokens_are_discovered_across_pages_and_faults_and_revoked_as_githubs_api_describes(
    app: TestApp,
) {
    let Some(spec) = Spec::github() else {
        return;
    };
    let github = FakeGitHubOrg::start();
    let ada_ci = github.grant("ada-l", 1, "ci-bot");
    let ada_release = github.grant("ada-l", 1, "release-bot");
    let bobs = github.grant("bob", 2, "deploy");
    let mut contractors = Vec::new();
    for i in 0..117 {
        contractors.push(github.grant(&format!("contractor-{i:03}"), 100 + i, "scripts"));
    }
    let ada = app
        .create_person(&json!({"emails": ["ada@example.com"]}))
        .await;
    let bob = app
        .create_person(&json!({"emails": ["bob@example.com"]}))
        .await;
    set_identity(&app, &ada, "ada-l").await;
    set_identity(&app, &bob, "bob").await;

    let providers = json!([{
        "name": "github", "kind": "github_org", "api_url": github.base, "org": ORG,
        "token": APP_TOKEN, "discover": true,
    }]);
    let ctx = app.job_context(providers, None, ownerbound::jobs::http_client());

    // Rate limited at first, then a bad gateway: the run waits and goes on.
    {
        let mut state = github.state.lock().unwrap();
        state.rate_limited = 1;
        state.failing = 1;
    }
    let first = app.discover(&ctx, "github").await;
    assert_eq!(first["pages"], 2, "{first}");
    assert_eq!(run_counts(&first), [120, 120, 0, 0, 117], "{first}");
    let adas: Value = app
        .get(&format!(
            "/api/v1/discovered-credentials?person_id={}",
            ada["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    let mut names: Vec<&str> = adas["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["ci-bot", "release-bot"]);
    assert_eq!(
        adas["items"][0]["scopes"],
        json!([
            "organization:members:read",
            "repository:contents:write",
            "repository:metadata:read"
        ])
    );

    // A grant on the first page is revoked while the run reads the second: the one
    // that moved up into the first page is skipped by page numbers, not gone.
    let revoked_mid_run = contractors[3];
    let skipped = contractors[97];
    github.state.lock().unwrap().vanish_after_page = Some((1, revoked_mid_run));
    let second = app.discover(&ctx, "github").await;
    // (The skipped contractor's grant is not among the listed shadows of this run.)
    assert_eq!(run_counts(&second), [119, 0, 0, 0, 116], "{second}");
    assert!(
        github
            .exchanges()
            .iter()
            .any(|e| e.target.starts_with(&format!(
                "/orgs/{ORG}/personal-access-tokens/{skipped}/repositories"
            ))),
        "the skipped grant was not looked up"
    );
    let third = app.discover(&ctx, "github").await;
    assert_eq!(run_counts(&third), [119, 0, 0, 1, 116], "{third}");
    let gone: Value = app
        .get("/api/v1/discovered-credentials?provider=github&gone=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(gone["items"].as_array().unwrap().len(), 1, "{gone}");
    assert_eq!(gone["items"][0]["handle"], revoked_mid_run.to_string());
    // Nothing changed since: nothing changes.
    let fourth = app.discover(&ctx, "github").await;
    assert_eq!(run_counts(&fourth), [119, 0, 0, 0, 116], "{fourth}");

    // Ada leaves: both her grants are revoked and proven gone; Bob's stays.
    app.offboard_and_prove(&ada, &ctx, 2, "no longer grants")
        .await;
    assert!(!github.has(ada_ci) && !github.has(ada_release));
    assert!(github.has(bobs));

    // The checker refuses what GitHub's description does not allow.
    let grants = format!("/orgs/{ORG}/personal-access-tokens");
    assert!(spec
        .check_request(
            "POST",
            &grants,
            Some(&json!({"action": "delete", "pat_ids": [1]}))
        )
        .is_err());
    assert!(spec
        .check_request("GET", &format!("{grants}?per_page=100&pages=2"), None)
        .is_err());
    assert!(spec
        .check_response("GET", &grants, 200, &json!([{"id": 1, "token_name": "x"}]))
        .is_err());
    // Both sides of every exchange, as GitHub's description says.
    let exchanges = github.exchanges();
    assert!(exchanges.iter().any(|e| e.status == 429));
    assert!(exchanges.iter().any(|e| e.status == 502));
    assert!(exchanges
        .iter()
        .any(|e| e.method == "POST" && e.status == 202));
    for e in &exchanges {
        spec.check_request(&e.method, &e.target, e.request.as_ref())
            .unwrap_or_else(|why| panic!("request {} {}: {why}", e.method, e.target));
        spec.check_response(&e.method, &e.target, e.status, &e.response)
            .unwrap_or_else(|why| panic!("response {} {} {}: {why}", e.method, e.target, e.status));
    }
    app.assert_secrets_kept(&[APP_TOKEN]).await;
}

on_both_engines!(
    github_org_tokens_are_discovered_across_pages_and_faults_and_revoked_as_githubs_api_describes
);
