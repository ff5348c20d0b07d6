//! Several instances on one PostgreSQL database.

use ownerbound::audit::{verify_chain, ChainStatus};
use ownerbound::config::Settings;
use ownerbound::startup::Application;
use secrecy::SecretString;
use serde_json::json;

use crate::helpers::PgDatabase;

/// Two instances of the service on one database, bootstrapped with one admin token;
/// their addresses, and the tokens that stop them.
async fn two_instances(
    pg: &PgDatabase,
    token: &str,
    adjust: impl Fn(&mut Settings),
) -> (Vec<String>, Vec<tokio_util::sync::CancellationToken>) {
    let key = hex::encode([9u8; 32]);
    let mut addresses = Vec::new();
    let mut stops = Vec::new();
    for _ in 0..2 {
        let mut settings = Settings {
            listen: "127.0.0.1:0".into(),
            database_url: SecretString::from(pg.url.clone()),
            master_key: Some(SecretString::from(key.clone())),
            bootstrap_admin_token: Some(SecretString::from(token.to_string())),
            ..Settings::default()
        };
        adjust(&mut settings);
        let app = Application::build(settings).await.unwrap();
        addresses.push(format!("http://127.0.0.1:{}", app.port()));
        stops.push(app.shutdown_token());
        tokio::spawn(app.run_until_stopped());
    }
    (addresses, stops)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_registering_the_same_secret_store_one_credential_and_one_chain() {
    let Some(pg) = PgDatabase::create().await else {
        return;
    };
    let token = "ob_shared_bootstrap_token_for_two_instances".to_string();
    let (addresses, stops) = two_instances(&pg, &token, |_| {}).await;

    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (client, url, token) = (client.clone(), addresses[i % 2].clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            client
                .post(format!("{url}/api/v1/agents"))
                .bearer_auth(token)
                .json(&json!({
                    "name": format!("racer-{i}"), "owner_email": "shared@example.com",
                    "credentials": [{"provider": "github", "kind": "api_key", "secret": "ghp_raced_secret"}]
                }))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 201);
    }

    let store = ownerbound::store::Store::connect_url(&pg.url)
        .await
        .unwrap();
    assert_eq!(store.count_rows("credentials").await.unwrap(), 1);
    assert_eq!(store.count_rows("agent_credentials").await.unwrap(), 16);
    assert_eq!(
        store
            .list_tokens()
            .await
            .unwrap()
            .iter()
            .filter(|t| t.revoked_at.is_none())
            .count(),
        1,
        "both instances bootstrapped a token"
    );
    assert!(matches!(
        verify_chain(&store).await.unwrap(),
        ChainStatus::Intact { .. }
    ));
    for stop in stops {
        stop.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_writing_at_once_leave_every_audit_entry_in_one_intact_chain() {
    let Some(pg) = PgDatabase::create().await else {
        return;
    };
    let token = "ob_shared_bootstrap_token_for_two_writers".to_string();
    let (addresses, stops) = two_instances(&pg, &token, |s| s.job_workers = 0).await;

    // Agents with credentials and people, through both instances at once.
    let client = reqwest::Client::new();
    let writes = (0..40).map(|i| {
        let (client, url, token) = (client.clone(), addresses[i % 2].clone(), token.clone());
        async move {
            let (path, body) = if i % 4 == 3 {
                ("people", json!({"emails": [format!("writer-{i}@example.com")]}))
            } else {
                ("agents", json!({
                    "name": format!("writer-bot-{i}"), "owner_email": format!("writer-{i}@example.com"),
                    "credentials": [{"provider": "github", "kind": "api_key", "secret": format!("ghp_writer_{i}")}]
                }))
            };
            let response = client
                .post(format!("{url}/api/v1/{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
            let created: serde_json::Value = response.json().await.unwrap();
            (path, created)
        }
    });
    let created = futures_util::future::join_all(writes).await;
    for stop in &stops {
        stop.cancel();
    }

    let store = ownerbound::store::Store::connect_url(&pg.url)
        .await
        .unwrap();
    let ChainStatus::Intact { entries, unsealed } = verify_chain(&store).await.unwrap() else {
        panic!("the chain broke under two writers");
    };
    assert_eq!(unsealed, 0);
    assert_eq!(store.count_rows("audit_outbox").await.unwrap(), 0);
    // Every write's entries are in the chain: each agent's and credential's creation,
    // each person's.
    let mut expected = 0;
    for (path, created) in &created {
        let id = created["id"].as_str().unwrap();
        let (kind, action) = match *path {
            "agents" => ("agent", "agent.created"),
            _ => ("person", "person.created"),
        };
        let entries = store.audit_for_subject(kind, id).await.unwrap();
        assert!(
            entries.iter().any(|e| e.action == action),
            "{kind} {id}: {entries:?}"
        );
        expected += entries.len();
        if *path == "agents" {
            let credential = created["credentials"][0]["id"].as_str().unwrap();
            let entries = store
                .audit_for_subject("credential", credential)
                .await
                .unwrap();
            assert!(entries.iter().any(|e| e.action == "credential.created"));
            expected += entries.len();
        }
    }
    assert!(
        entries as usize > expected,
        "{entries} chained, {expected} for the writes"
    );
}
