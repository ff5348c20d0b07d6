//! Contract test of the `google_workspace` connector against a fake of Google's Admin
//! SDK Directory API and token endpoint (`fake_google`; no Google runs here): every
//! Directory request ownerbound sent and every answer the fake gave is checked against
//! Google's own discovery document for the API. Discovery pages across two user pages,
//! rides out a 429 with `Retry-After` and a 503, skips a user deleted between the user
//! list and their tokens, attributes tokens to people by the user's primary email (and
//! records the user's id as their Google identity); a second run changes nothing; a
//! departure deletes the person's grants, proven by `tokens.get` answering 404.

use serde_json::{json, Value};

use crate::fake_google::{FakeGoogle, CLIENT, REFRESH_TOKEN};
use crate::google_contract::DiscoveryDoc;
use crate::helpers::{run_counts, TestApp};
use crate::on_both_engines;

const CLAUDE: &str = "123456-agent.apps.googleusercontent.com";
const SHEETS_BOT: &str = "987654-sheets.apps.googleusercontent.com";

async fn google_tokens_are_discovered_across_pages_and_faults_and_deleted_as_googles_discovery_document_describes(
    app: TestApp,
) {
    let Some(doc) = DiscoveryDoc::admin_directory() else {
        return;
    };
    let google = FakeGoogle::start();
    google.user(
        "1001",
        "ada@example.com",
        &[(CLAUDE, "Agent"), (SHEETS_BOT, "Sheets bot")],
    );
    for i in 0..140 {
        google.user(&format!("2{i:03}"), &format!("staff{i}@example.com"), &[]);
    }
    google.user("1002", "bob@example.com", &[(CLAUDE, "Agent")]);
    google.user(
        "1003",
        "contractor@example.com",
        &[(SHEETS_BOT, "Sheets bot")],
    );
    google.user("1004", "leaving@example.com", &[(CLAUDE, "Agent")]);
    let ada = app
        .create_person(&json!({"emails": ["ada@example.com"]}))
        .await;
    app.create_person(&json!({"emails": ["bob@example.com"]}))
        .await;

    let providers = json!([{
        "name": "google", "kind": "google_workspace", "api_url": google.base,
        "token_url": format!("{}/token", google.base), "client_id": CLIENT.0,
        "client_secret": CLIENT.1, "refresh_token": REFRESH_TOKEN, "discover": true,
    }]);
    let ctx = app.job_context(providers, None, ownerbound::jobs::http_client());
    {
        let mut state = google.state.lock().unwrap();
        state.throttled = 1;
        state.failing = 1;
        state.delete_after_first_page = Some("1004".into());
    }
    let first = app.discover(&ctx, "google").await;
    assert_eq!(first["pages"], 2, "{first}");
    // Ada's two, Bob's, the contractor's; the deleted user's token is not listed.
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
    assert_eq!(identities["google"]["identity"], "1001", "{identities}");
    let shadow: Value = app
        .get("/api/v1/discovered-credentials?provider=google&shadow=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shadow["items"][0]["handle"], format!("1003/{SHEETS_BOT}"));
    assert_eq!(shadow["items"][0]["kind"], "oauth_refresh_token");

    let second = app.discover(&ctx, "google").await;
    assert_eq!(run_counts(&second), [4, 0, 0, 0, 1], "{second}");

    app.offboard_and_prove(&ada, &ctx, 2, "tokens.get no longer knows")
        .await;
    assert!(!google.has_token("1001", CLAUDE) && !google.has_token("1001", SHEETS_BOT));
    assert!(google.has_token("1002", CLAUDE));
    let third = app.discover(&ctx, "google").await;
    assert_eq!(run_counts(&third), [2, 0, 0, 2, 1], "{third}");

    // The checker refuses what the document does not allow.
    assert!(doc
        .check_request(
            "GET",
            "/admin/directory/v1/users?customer=my_customer&maxResults=900"
        )
        .is_err());
    assert!(doc
        .check_request("GET", "/admin/directory/v1/users?pageSize=10")
        .is_err());
    assert!(doc
        .check_response(
            "GET",
            "/admin/directory/v1/users/1/tokens",
            200,
            &json!({"items": [{"clientId": 7}]})
        )
        .is_err());
    let exchanges = google.exchanges();
    assert!(exchanges.iter().any(|e| e.status == 429));
    assert!(exchanges.iter().any(|e| e.status == 503));
    assert!(exchanges
        .iter()
        .any(|e| e.method == "DELETE" && e.status == 204));
    for e in exchanges.iter().filter(|e| e.target.starts_with("/admin/")) {
        doc.check_request(&e.method, &e.target)
            .unwrap_or_else(|why| panic!("request {} {}: {why}", e.method, e.target));
        doc.check_response(&e.method, &e.target, e.status, &e.response)
            .unwrap_or_else(|why| panic!("response {} {} {}: {why}", e.method, e.target, e.status));
    }
    app.assert_secrets_kept(&[CLIENT.1, REFRESH_TOKEN]).await;
}

on_both_engines!(
    google_tokens_are_discovered_across_pages_and_faults_and_deleted_as_googles_discovery_document_describes
);
