use ownerbound::audit::{verify_chain, ChainStatus};
use serde_json::json;

use crate::helpers::TestApp;
use crate::on_both_engines;

async fn tampering_with_one_audit_row_is_detected_and_named(app: TestApp) {
    for i in 0..4 {
        app.create_agent(&json!({"name": format!("agent-{i}"), "owner_email": "a@example.com"}))
            .await;
    }
    let entries = match verify_chain(&app.store).await.unwrap() {
        ChainStatus::Intact { entries, .. } => entries,
        broken => panic!("fresh chain is broken: {broken:?}"),
    };
    // The bootstrap token and four agents.
    assert_eq!(entries, 5);
    let ok = app.cli(&["audit", "verify"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("5 entries"));

    app.execute_sql("UPDATE audit_log SET details = '{\"name\":\"innocent\"}' WHERE seq = 3")
        .await;
    match verify_chain(&app.store).await.unwrap() {
        ChainStatus::Broken { seq, reason } => {
            assert_eq!(seq, 3);
            assert!(reason.contains("altered"), "{reason}");
        }
        intact => panic!("tampering not detected: {intact:?}"),
    }
    let failed = app.cli(&["audit", "verify"]);
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("entry 3"), "{stderr}");
}

async fn a_deleted_audit_row_breaks_the_chain(app: TestApp) {
    for i in 0..3 {
        app.create_agent(&json!({"name": format!("agent-{i}"), "owner_email": "a@example.com"}))
            .await;
    }
    app.execute_sql("DELETE FROM audit_log WHERE seq = 2").await;
    assert!(matches!(
        verify_chain(&app.store).await.unwrap(),
        ChainStatus::Broken { seq: 2, .. }
    ));
}

async fn concurrent_writes_keep_one_unbroken_chain(app: TestApp) {
    let mut tasks = Vec::new();
    for i in 0..12 {
        let client = app.client.clone();
        let url = format!("{}/api/v1/agents", app.address);
        let token = app.admin_token.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"name": format!("parallel-{i}"), "owner_email": "a@example.com"}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 201);
    }
    assert_eq!(
        verify_chain(&app.store).await.unwrap(),
        ChainStatus::Intact {
            entries: 13,
            unsealed: 0
        }
    );
}

async fn an_audit_row_altered_beyond_decoding_is_named(app: TestApp) {
    app.create_agent(&json!({"name": "a", "owner_email": "a@example.com"}))
        .await;
    // On SQLite a column accepts any type; on PostgreSQL the same edit stays a valid
    // timestamp but a different one. Either way entry 2 must be named.
    let edit = match app.engine {
        crate::helpers::Engine::Sqlite => "UPDATE audit_log SET at = 'yesterday' WHERE seq = 2",
        crate::helpers::Engine::Postgres => {
            "UPDATE audit_log SET at = at - interval '1 hour' WHERE seq = 2"
        }
    };
    app.execute_sql(edit).await;
    assert!(matches!(
        verify_chain(&app.store).await.unwrap(),
        ChainStatus::Broken { seq: 2, .. }
    ));
}

on_both_engines!(
    an_audit_row_altered_beyond_decoding_is_named,
    tampering_with_one_audit_row_is_detected_and_named,
    a_deleted_audit_row_breaks_the_chain,
    concurrent_writes_keep_one_unbroken_chain
);

/// Entries another process committed to the outbox and never sealed (the CLI runs no
/// sealer; an instance killed right after a commit never seals) are chained by a
/// running instance's sealer, unasked, in an intact chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_another_process_left_in_the_outbox_are_chained_by_a_running_instance() {
    let Some(app) = crate::helpers::spawn_app(crate::helpers::Engine::Postgres).await else {
        return;
    };
    let created = app.cli(&["token", "create", "--name", "offline", "--scope", "read"]);
    assert!(created.status.success());
    // Counting does not seal (unlike reading the log): only the instance's sealer can.
    for _ in 0..300 {
        if app.store.count_rows("audit_outbox").await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.store.count_rows("audit_outbox").await.unwrap(),
        0,
        "the running instance sealed nothing"
    );
    let chained = app.store.count_rows("audit_log").await.unwrap();
    assert!(matches!(
        verify_chain(&app.store).await.unwrap(),
        ChainStatus::Intact { entries, unsealed: 0 } if entries as i64 == chained
    ));
    let entries = app.store.audit_after(0, 1000).await.unwrap();
    assert!(entries
        .iter()
        .any(|e| e.actor == "cli" && e.action == "token.created"));
}
