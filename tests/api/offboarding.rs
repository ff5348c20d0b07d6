//! Offboarding cases and the durable job queue.

use std::collections::HashSet;

use ownerbound::offboarding::{impact, SharedPolicy};
use ownerbound::store::jobs::NewJob;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::on_both_engines;

/// Ada owns two agents: one with her own token, one with a token shared with Bob's
/// agent. Carol (already gone) also uses Ada's own token.
async fn setup(app: &TestApp) -> (String, String) {
    let ada = app
        .create_person(&json!({"emails": ["ada@example.com"]}))
        .await;
    let bob = app
        .create_person(&json!({"emails": ["bob@example.com"]}))
        .await;
    let carol = app
        .create_person(&json!({"emails": ["carol@example.com"], "active": false}))
        .await;
    let own =
        json!({"provider": "okta", "kind": "oauth_access_token", "secret": "at-ada-own-0001"});
    let shared = json!({"provider": "github", "kind": "api_key", "secret": "ghp-shared-0002"});
    app.create_agent(&json!({"name": "ada-1", "owner_id": ada["id"], "credentials": [own]}))
        .await;
    app.create_agent(&json!({"name": "ada-2", "owner_id": ada["id"], "credentials": [shared]}))
        .await;
    let bob_agent = app
        .create_agent(&json!({"name": "bob-1", "owner_id": bob["id"], "credentials": [shared]}))
        .await;
    app.create_agent(&json!({"name": "carol-1", "owner_id": carol["id"], "credentials": [own]}))
        .await;
    (
        ada["id"].as_str().unwrap().to_string(),
        bob_agent["id"].as_str().unwrap().to_string(),
    )
}

async fn a_deactivation_opens_one_case_naming_the_collateral(app: TestApp) {
    let (ada, bob_agent) = setup(&app).await;
    let token = app.scim_token().await;
    let deactivate = json!({"Operations": [{"op": "replace", "path": "active", "value": false}]});
    let (status, _, _) = app
        .scim(
            &token,
            Method::PATCH,
            &format!("/Users/{ada}"),
            Some(&deactivate),
        )
        .await;
    assert_eq!(status, 200);
    // The job was enqueued with the deactivation; a worker opens the case.
    assert!(app.run_jobs().await >= 1);
    let cases: Value = app
        .get(&format!("/api/v1/offboardings?person_id={ada}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cases["items"].as_array().unwrap().len(), 1);
    let case_id = cases["items"][0]["id"].as_str().unwrap();
    assert_eq!(cases["items"][0]["triggered_by"], "scim");
    let case: Value = app
        .get(&format!("/api/v1/offboardings/{case_id}"))
        .await
        .json()
        .await
        .unwrap();
    let items = case["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let collateral_of = |agent: &str| {
        items
            .iter()
            .find(|i| i["collateral"][0]["agent_id"] == agent)
            .unwrap_or_else(|| panic!("no item with {agent} as collateral: {items:?}"))
    };
    let shared = collateral_of(&bob_agent);
    assert_eq!(shared["collateral"][0]["orphaned"], false);
    assert_eq!(shared["action"], "revoke");
    // Carol is gone already: her agent that uses Ada's own token is named too, as an
    // orphan (revoking breaks it, but nobody answers for it any more).
    let carol_agent = app
        .get("/api/v1/agents?name=carol-1")
        .await
        .json::<Value>()
        .await
        .unwrap()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let own = collateral_of(&carol_agent);
    assert_eq!(own["collateral"][0]["orphaned"], true);
    assert_eq!(own["agent_ids"].as_array().unwrap().len(), 1);
    // Neither provider is configured: each item waits for a human, its job is dead.
    for item in items {
        assert_eq!(item["status"], "needs_attention", "{item}");
    }
    let dead: Value = app
        .get("/api/v1/jobs?status=dead")
        .await
        .json()
        .await
        .unwrap();
    // Dead: the two revocations, and (no SMTP in this test) the alerts they raised.
    let dead_revocations: Vec<&Value> = dead["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["kind"] == "revoke")
        .collect();
    assert_eq!(dead_revocations.len(), 2);
    assert!(dead_revocations[0]["last_error"]
        .as_str()
        .unwrap()
        .contains("is configured"));
    assert!(case["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "offboarding.case_opened"));

    // Another report of the same departure opens no second case.
    app.scim(
        &token,
        Method::PATCH,
        &format!("/Users/{ada}"),
        Some(&deactivate),
    )
    .await;
    app.run_jobs().await;
    let cases: Value = app
        .get(&format!("/api/v1/offboardings?person_id={ada}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cases["items"].as_array().unwrap().len(), 1);
    let pending: Value = app
        .get("/api/v1/lifecycle-events?pending=true")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        pending["items"].as_array().unwrap().is_empty(),
        "the event was not marked processed"
    );
}

/// The preview names every other agent that uses a credential about to be revoked,
/// orphans included: here one registered with an owner email nobody has yet.
async fn the_impact_preview_names_an_orphan_sharing_a_credential(app: TestApp) {
    let ada = app
        .create_person(&json!({"emails": ["ada@example.com"]}))
        .await;
    let shared =
        json!({"provider": "github", "kind": "api_key", "secret": "ghp-shared-orphan-0003"});
    let ada_agent = app
        .create_agent(&json!({"name": "ada-bot", "owner_id": ada["id"], "credentials": [shared]}))
        .await;
    let shadow = app
        .create_agent(&json!({"name": "shadow-bot", "owner_email": "nobody@example.com", "credentials": [shared]}))
        .await;
    let preview: Value = app
        .get(&format!(
            "/api/v1/people/{}/impact",
            ada["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    let item = &preview["credentials"][0];
    assert_eq!(item["agent_ids"], json!([ada_agent["id"]]), "{preview}");
    assert_eq!(
        item["collateral"],
        json!([{"agent_id": shadow["id"], "agent_name": "shadow-bot", "owner_id": null, "orphaned": true}]),
        "{preview}"
    );
    assert_eq!(item["action"], "revoke");
}

async fn impact_previews_change_nothing_and_offboarding_is_manual_too(app: TestApp) {
    let (ada, bob_agent) = setup(&app).await;
    let before = app.row_counts().await;
    let preview: Value = app
        .get(&format!("/api/v1/people/{ada}/impact"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(preview["agents"].as_array().unwrap().len(), 2);
    assert_eq!(preview["credentials"].as_array().unwrap().len(), 2);
    let dry: Value = app
        .post(
            &format!("/api/v1/people/{ada}/offboard"),
            &json!({"dry_run": true}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dry["credentials"], preview["credentials"]);
    let malformed = app
        .request(Method::POST, &format!("/api/v1/people/{ada}/offboard"))
        .header("content-type", "application/json")
        .body("{\"reason\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(
        app.row_counts().await,
        before,
        "a preview or a refused request changed something"
    );

    // The hold policy holds the shared credential instead.
    let mut tx = app.store.begin().await.unwrap();
    let held = impact(&mut tx, &ada, SharedPolicy::Hold).await.unwrap();
    drop(tx);
    let with_collateral = |agent: &str| {
        held.credentials
            .iter()
            .find(|c| c.collateral.iter().any(|a| a.agent_id == agent))
            .unwrap()
    };
    assert_eq!(with_collateral(&bob_agent).action, "hold");
    // An orphan sharing the credential is no reason to keep it alive.
    let orphan_only = held
        .credentials
        .iter()
        .find(|c| c.collateral.iter().all(|a| a.orphaned) && !c.collateral.is_empty())
        .expect("the credential Carol's orphaned agent shares");
    assert_eq!(orphan_only.action, "revoke");

    let done = app
        .post(
            &format!("/api/v1/people/{ada}/offboard"),
            &json!({"reason": "left the company"}),
        )
        .await;
    assert_eq!(done.status(), 202);
    let again = app
        .post(&format!("/api/v1/people/{ada}/offboard"), &json!({}))
        .await;
    assert_eq!(again.status(), 409);
    app.run_jobs().await;
    let cases: Value = app
        .get(&format!("/api/v1/offboardings?person_id={ada}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cases["items"][0]["triggered_by"], "api");
    assert_eq!(cases["items"][0]["reason"], "left the company");
}

async fn an_expired_lease_is_reclaimed_and_the_old_holder_is_fenced_off(app: TestApp) {
    let mut tx = app.store.begin().await.unwrap();
    let payload = json!({});
    tx.enqueue_job(&NewJob {
        kind: "noop",
        dedupe_key: "lease-test",
        payload: &payload,
        provider: None,
        max_attempts: 3,
        run_after: ownerbound::store::now(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let t0 = ownerbound::store::now();
    let lease = chrono::Duration::seconds(60);
    let first = app
        .store
        .claim_job("w1", t0 + lease, t0)
        .await
        .unwrap()
        .unwrap();
    assert!(
        app.store
            .claim_job("w2", t0 + lease, t0)
            .await
            .unwrap()
            .is_none(),
        "claimed twice"
    );
    // w1 dies. After its lease, w2 gets the job.
    let later = t0 + lease + chrono::Duration::seconds(1);
    let second = app
        .store
        .claim_job("w2", later + lease, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(second.attempts, 2);
    assert!(
        !app.store.complete_job(&first.id, "w1").await.unwrap(),
        "the dead worker completed it"
    );
    assert!(app.store.complete_job(&second.id, "w2").await.unwrap());
    assert_eq!(
        app.store.get_job(&first.id).await.unwrap().unwrap().status,
        "done"
    );
}

async fn failed_jobs_back_off_then_die_and_can_be_retried(app: TestApp) {
    let mut tx = app.store.begin().await.unwrap();
    let payload = json!({});
    tx.enqueue_job(&NewJob {
        kind: "noop",
        dedupe_key: "retry-test",
        payload: &payload,
        provider: Some("p"),
        max_attempts: 2,
        run_after: ownerbound::store::now(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let t0 = ownerbound::store::now();
    let job = app
        .store
        .claim_job("w", t0 + chrono::Duration::minutes(1), t0)
        .await
        .unwrap()
        .unwrap();
    let retry_at = t0 + chrono::Duration::seconds(30);
    app.store
        .fail_job(&job.id, "w", "503 from provider", Some(retry_at))
        .await
        .unwrap();
    assert!(
        app.store
            .claim_job("w", t0 + chrono::Duration::minutes(1), t0)
            .await
            .unwrap()
            .is_none(),
        "claimed before its time"
    );
    let job = app
        .store
        .claim_job("w", retry_at + chrono::Duration::minutes(1), retry_at)
        .await
        .unwrap()
        .unwrap();
    app.store
        .fail_job(&job.id, "w", "503 again", None)
        .await
        .unwrap();
    let dead = app.store.get_job(&job.id).await.unwrap().unwrap();
    assert_eq!(
        (dead.status.as_str(), dead.last_error.as_deref()),
        ("dead", Some("503 again"))
    );
    let retried = app
        .request(Method::POST, &format!("/api/v1/jobs/{}/retry", job.id))
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), 200);
    let ready = app.store.get_job(&job.id).await.unwrap().unwrap();
    assert_eq!((ready.status.as_str(), ready.attempts), ("ready", 0));
}

async fn racing_workers_run_each_of_1000_jobs_exactly_once(app: TestApp) {
    let mut tx = app.store.begin().await.unwrap();
    let payload = json!({});
    for i in 0..1000 {
        tx.enqueue_job(&NewJob {
            kind: "noop",
            dedupe_key: &format!("race-{i}"),
            payload: &payload,
            provider: None,
            max_attempts: 1,
            run_after: ownerbound::store::now(),
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    // Four workers, each with its own connection pool, as separate instances would be.
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = ownerbound::store::Store::connect_url(&app.database_url)
            .await
            .unwrap();
        tasks.push(tokio::spawn(async move {
            let name = format!("w{w}");
            let mut ran = Vec::new();
            loop {
                let at = ownerbound::store::now();
                let Some(job) = store
                    .claim_job(&name, at + chrono::Duration::minutes(5), at)
                    .await
                    .unwrap()
                else {
                    return ran;
                };
                assert!(store.complete_job(&job.id, &name).await.unwrap());
                ran.push(job.id);
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 1000, "some job ran twice or not at all");
    assert_eq!(unique.len(), 1000);
}

async fn a_manual_provider_opens_a_task_until_someone_confirms_it(app: TestApp) {
    let dave = app
        .create_person(&json!({"emails": ["dave@example.com"]}))
        .await;
    let agent = app
        .create_agent(
            &json!({"name": "dave-bot", "owner_id": dave["id"], "credentials": [
            {"provider": "it-desk", "kind": "service_account_key", "external_id": "sa-dave-1"}]}),
        )
        .await;
    let credential_id = agent["credentials"][0]["id"].as_str().unwrap().to_string();
    let dave_id = dave["id"].as_str().unwrap();
    assert_eq!(
        app.post(&format!("/api/v1/people/{dave_id}/offboard"), &json!({}))
            .await
            .status(),
        202
    );
    app.run_jobs().await;
    let cases: Value = app
        .get(&format!("/api/v1/offboardings?person_id={dave_id}"))
        .await
        .json()
        .await
        .unwrap();
    let case: Value = app
        .get(&format!(
            "/api/v1/offboardings/{}",
            cases["items"][0]["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    let item = &case["items"][0];
    assert_eq!(item["status"], "manual_task_open", "{item}");
    assert!(item["detail"].as_str().unwrap().contains("confirm"));
    let jobs: Value = app
        .get("/api/v1/jobs?status=dead")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        !jobs["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["kind"] == "revoke"),
        "a manual task is not a failed revocation"
    );

    let item_id = item["id"].as_str().unwrap();
    let confirmed = app
        .post(
            &format!("/api/v1/offboardings/items/{item_id}/confirm"),
            &json!({"note": "key deleted in the console"}),
        )
        .await;
    assert_eq!(confirmed.status(), 200);
    let confirmed: Value = confirmed.json().await.unwrap();
    assert_eq!(confirmed["status"], "revoked_manually");
    let credential: Value = app
        .get(&format!("/api/v1/credentials/{credential_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(credential["status"], "revoked");
    let twice = app
        .post(
            &format!("/api/v1/offboardings/items/{item_id}/confirm"),
            &json!({}),
        )
        .await;
    assert_eq!(twice.status(), 409);
}

/// The same from the command line: `tasks list` shows the open task, `tasks confirm`
/// settles it once.
async fn the_cli_lists_and_confirms_manual_tasks(app: TestApp) {
    app.offboard_owner_of(
        json!([{"provider": "it-desk", "kind": "api_key", "external_id": "desk-erin"}]),
    )
    .await;
    app.run_jobs().await;
    let output = app.cli(&["tasks", "list"]);
    assert!(output.status.success());
    let listing = String::from_utf8(output.stdout).unwrap();
    let line = listing
        .lines()
        .find(|l| l.contains("manual_task_open"))
        .unwrap_or_else(|| panic!("{listing}"));
    let item = line.split_whitespace().next().unwrap().to_string();
    let output = app.cli(&[
        "tasks",
        "confirm",
        &item,
        "--note",
        "deleted in the desk tool",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let settled = app.store.get_case_item(&item).await.unwrap();
    assert_eq!(settled.status, "revoked_manually");
    assert_eq!(settled.detail.as_deref(), Some("deleted in the desk tool"));
    let listing = String::from_utf8(app.cli(&["tasks", "list"]).stdout).unwrap();
    assert!(!listing.contains(&item), "{listing}");
    let again = app.cli(&["tasks", "confirm", &item]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("revoked_manually"));
}

/// A job put back because its provider was busy or rate limited keeps its attempts.
async fn a_deferred_job_keeps_its_attempts(app: TestApp) {
    let mut tx = app.store.begin().await.unwrap();
    tx.enqueue_job(&NewJob {
        kind: "noop",
        dedupe_key: "defer-test",
        payload: &json!({}),
        provider: Some("p"),
        max_attempts: 1,
        run_after: ownerbound::store::now(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let t0 = ownerbound::store::now();
    let lease = t0 + chrono::Duration::minutes(1);
    let job = app.store.claim_job("w", lease, t0).await.unwrap().unwrap();
    assert_eq!(job.attempts, 1);
    let later = t0 + chrono::Duration::seconds(20);
    assert!(app.store.defer_job(&job.id, "w", later).await.unwrap());
    assert!(app.store.claim_job("w", lease, t0).await.unwrap().is_none());
    let again = app
        .store
        .claim_job("w", later + chrono::Duration::minutes(1), later)
        .await
        .unwrap()
        .unwrap();
    // Still its first real attempt: waiting was not failing.
    assert_eq!((again.id, again.attempts), (job.id, 1));
}

/// Confirming by hand an item whose revocation job died retires that job: its daily
/// re-drive cannot undo the human's record.
async fn a_confirmation_by_hand_is_not_undone_by_a_redrive(app: TestApp) {
    app.offboard_owner_of(
        json!([{"provider": "unconfigured", "kind": "api_key", "external_id": "fay-key"}]),
    )
    .await;
    app.run_jobs().await;
    let items = app
        .store
        .case_items_with_status(
            &["needs_attention"],
            &ownerbound::store::PageRequest {
                limit: 10,
                after: None,
            },
        )
        .await
        .unwrap();
    let item = &items.items[0];
    let confirmed = app
        .post(
            &format!("/api/v1/offboardings/items/{}/confirm", item.id),
            &json!({"note": "key deleted by hand"}),
        )
        .await;
    assert_eq!(confirmed.status(), 200);
    let redriven = app
        .store
        .redrive_dead(
            ownerbound::store::now() + chrono::Duration::days(2),
            ownerbound::store::now() + chrono::Duration::days(3),
        )
        .await
        .unwrap();
    let jobs: Value = app.get("/api/v1/jobs").await.json().await.unwrap();
    let revoke = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["kind"] == "revoke")
        .unwrap();
    assert_eq!(revoke["status"], "done", "{revoke} (re-driven {redriven})");
    app.run_jobs().await;
    let settled = app.store.get_case_item(&item.id).await.unwrap();
    assert_eq!(settled.status, "revoked_manually");
    assert_eq!(settled.detail.as_deref(), Some("key deleted by hand"));
}

on_both_engines!(
    a_deferred_job_keeps_its_attempts,
    a_confirmation_by_hand_is_not_undone_by_a_redrive,
    the_cli_lists_and_confirms_manual_tasks,
    a_manual_provider_opens_a_task_until_someone_confirms_it,
    a_deactivation_opens_one_case_naming_the_collateral,
    impact_previews_change_nothing_and_offboarding_is_manual_too,
    the_impact_preview_names_an_orphan_sharing_a_credential,
    an_expired_lease_is_reclaimed_and_the_old_holder_is_fenced_off,
    failed_jobs_back_off_then_die_and_can_be_retried,
    racing_workers_run_each_of_1000_jobs_exactly_once
);
