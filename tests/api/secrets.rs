use serde_json::json;

use crate::helpers::{captured_logs, Engine, TestApp};
use crate::on_both_engines;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn a_stored_secret_appears_in_no_response_log_or_database_plaintext(app: TestApp) {
    let secret = format!("xoxp-leakcheck-{}", uuid::Uuid::new_v4().simple());
    let created = app
        .create_agent(&json!({
            "name": "leak-check", "owner_email": "a@example.com",
            "credentials": [{"provider": "slack", "kind": "oauth_access_token", "secret": secret}]
        }))
        .await;
    let agent_id = created["id"].as_str().unwrap();
    let credential_id = created["credentials"][0]["id"].as_str().unwrap();
    // The same secret again, through the other endpoint, to exercise the dedupe path.
    let second = app
        .create_agent(&json!({"name": "leak-check-2", "owner_email": "a@example.com"}))
        .await;
    app.post(
        &format!(
            "/api/v1/agents/{}/credentials",
            second["id"].as_str().unwrap()
        ),
        &json!({"provider": "slack", "kind": "oauth_access_token", "secret": secret}),
    )
    .await;

    let mut bodies = vec![created.to_string()];
    for path in [
        format!("/api/v1/agents/{agent_id}"),
        "/api/v1/agents".to_string(),
        format!("/api/v1/agents/{agent_id}/credentials"),
        "/api/v1/credentials".to_string(),
        format!("/api/v1/credentials/{credential_id}"),
        "/api/v1/audit?limit=1000".to_string(),
        "/api/v1/tokens".to_string(),
    ] {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 200, "{path}");
        bodies.push(response.text().await.unwrap());
    }
    for body in &bodies {
        assert!(!body.contains(&secret), "secret in a response: {body}");
    }
    assert!(!captured_logs().contains(&secret), "secret in the logs");

    // Stored encrypted, decryptable with the master key, never in plaintext.
    let sealed: Vec<u8> = match app.engine {
        Engine::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            sqlx::query_scalar("SELECT secret_ciphertext FROM credentials WHERE id = $1")
                .bind(credential_id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
        Engine::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
            let dump: Vec<String> = sqlx::query_scalar(
                "SELECT t::text FROM credentials t UNION ALL SELECT t::text FROM audit_log t \
                 UNION ALL SELECT t::text FROM audit_outbox t UNION ALL SELECT t::text FROM agents t",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            assert!(
                !dump.concat().contains(&secret),
                "secret in a PostgreSQL row"
            );
            sqlx::query_scalar("SELECT secret_ciphertext FROM credentials WHERE id = $1")
                .bind(credential_id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert!(!contains(&sealed, secret.as_bytes()));
    assert_eq!(
        app.keys.decrypt(&sealed, credential_id).unwrap().as_slice(),
        secret.as_bytes()
    );

    if app.engine == Engine::Sqlite {
        for entry in std::fs::read_dir(app.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !contains(&bytes, secret.as_bytes()),
                "secret in plaintext in {}",
                path.display()
            );
        }
    }
}

on_both_engines!(a_stored_secret_appears_in_no_response_log_or_database_plaintext);
