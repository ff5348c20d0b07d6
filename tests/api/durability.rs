//! Every write the service acknowledged is there after `kill -9`: writers run side by
//! side (on SQLite they commit in groups, one flush for several; on PostgreSQL each
//! commits alone), and none is answered before its own write is committed. The
//! process is killed while sixteen clients keep writing, so acknowledgements in
//! every position of a group are cut off mid-stream.
//!
//! A killed process is what this can inject from outside; that an acknowledged write
//! also survives the machine losing power rests on `synchronous = FULL` on SQLite and
//! PostgreSQL's own commit flush (not simulated here). The kill rarely lands between a
//! group member's answer and its group's commit, so this is no check of that order
//! (answering members before their group commits passed it when tried): the unit
//! tests in `store/sqlite_writer.rs` check it step by step.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{cli_command, Engine};
use crate::on_each_engine;
use crate::service_process::{ServiceConfig, ServiceProcess};

const WRITERS: usize = 16;

/// Acknowledged before the kill: at least this many.
const BEFORE_THE_KILL: usize = 150;

/// People the service answered 201 for: (id, email).
type Acknowledged = Arc<Mutex<Vec<(String, String)>>>;

/// Creates people one after another until the service stops answering.
async fn keep_writing(url: String, token: String, writer: usize, acknowledged: Acknowledged) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    for n in 0.. {
        let email = format!("writer-{writer}-{n}@example.com");
        let sent = client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({"emails": [email]}))
            .send()
            .await;
        let Ok(response) = sent else { return };
        if response.status() != StatusCode::CREATED {
            return;
        }
        let Ok(person) = response.json::<Value>().await else {
            return;
        };
        let id = person["id"].as_str().unwrap().to_string();
        acknowledged.lock().unwrap().push((id, email));
    }
}

async fn every_write_acknowledged_before_a_kill_9_is_there_after_the_restart(engine: Engine) {
    let Some(config) = ServiceConfig::on(engine).await else {
        return;
    };
    let mut service = ServiceProcess::start(config).await;
    let acknowledged = Acknowledged::default();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            tokio::spawn(keep_writing(
                service.url_for("/api/v1/people"),
                service.admin_token().to_string(),
                writer,
                acknowledged.clone(),
            ))
        })
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while acknowledged.lock().unwrap().len() < BEFORE_THE_KILL {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the writers were not answered"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    service.kill9().await;
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    service.restart().await;
    for (id, email) in &acknowledged {
        let response = service
            .request(Method::GET, &format!("/api/v1/people/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "acknowledged person {id} is gone after the kill"
        );
        let person: Value = response.json().await.unwrap();
        assert_eq!(person["emails"][0]["value"].as_str(), Some(email.as_str()));
    }
    service.stop().await;

    // The audit trail holds each acknowledged creation, in an intact chain.
    let verify = cli_command(service.dir())
        .args(["audit", "verify"])
        .env("OWNERBOUND_DATABASE_URL", service.database_url())
        .env("OWNERBOUND_MASTER_KEY", service.master_key())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "audit verify: {said}");
    // "audit chain intact: N entries verified, M not sealed yet"
    let numbers: Vec<usize> = said
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    let entries: usize = numbers.iter().sum();
    assert_eq!(numbers.len(), 2, "audit verify said {said:?}");
    assert!(
        entries >= acknowledged.len(),
        "{entries} audit entries for {} acknowledged people",
        acknowledged.len()
    );
}

on_each_engine!(every_write_acknowledged_before_a_kill_9_is_there_after_the_restart);
