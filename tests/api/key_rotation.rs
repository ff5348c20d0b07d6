//! Master key rotation through the real binary: begun over the API, the service
//! killed with SIGKILL half-way, restarted, the rotation finished; revocations at the
//! real authorization server go on throughout; then every secret opens with the new
//! key alone, fingerprints still match, and the old key is refused.

use std::collections::BTreeMap;

use ownerbound::crypto::{sealed_header, MasterKey, HEADER_LEN};
use reqwest::Method;
use serde_json::{json, Value};

use crate::faults::{
    all_inactive, eventually, json, offboard, owner_of, provider_toml, WITHIN_SECONDS,
};
use crate::helpers::{cli_command, Engine};
use crate::oauth_peer::OAuthServer;
use crate::on_each_engine;
use crate::service_process::{ServiceConfig, ServiceProcess};

/// Secrets that stay (a person who is not leaving): enough for many small batches.
const STAYING_SECRETS: usize = 150;

async fn rotation(service: &ServiceProcess) -> Value {
    json(service, Method::GET, "/api/v1/keys/rotation", None).await
}

/// A person who stays, with `STAYING_SECRETS` stored secrets; their ids and values.
async fn staying_secrets(service: &ServiceProcess) -> BTreeMap<String, String> {
    let person = json(
        service,
        Method::POST,
        "/api/v1/people",
        Some(json!({"emails": ["stays@example.com"]})),
    )
    .await;
    let mut secrets = BTreeMap::new();
    for agent in 0..STAYING_SECRETS / 25 {
        let credentials: Vec<Value> = (0..25)
            .map(|n| {
                json!({"provider": "vault-desk", "kind": "api_key",
                            "secret": format!("ob-staying-secret-{agent}-{n}-7f31")})
            })
            .collect();
        let created = json(
            service,
            Method::POST,
            "/api/v1/agents",
            Some(
                json!({"name": format!("keeper-{agent}"), "owner_id": person["id"],
                        "credentials": credentials}),
            ),
        )
        .await;
        for (n, credential) in created["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            secrets.insert(
                credential["id"].as_str().unwrap().to_string(),
                format!("ob-staying-secret-{agent}-{n}-7f31"),
            );
        }
    }
    secrets
}

async fn a_master_key_rotation_survives_a_crash_and_retires_the_old_key(engine: Engine) {
    let Some(oauth) = OAuthServer::start() else {
        return;
    };
    let Some(config) = ServiceConfig::on(engine).await else {
        return;
    };
    let old_key = config.master_key.clone();
    let new_key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let new_master = MasterKey::parse(&new_key).unwrap();
    // Small, paced batches: the rotation takes seconds, so it can be killed half-way.
    let mut service = ServiceProcess::start(
        config
            .config_toml(provider_toml("idp", &oauth.issuer, ""))
            .env("OWNERBOUND_KEY_ROTATION_BATCH_SIZE", "5")
            .env("OWNERBOUND_KEY_ROTATION_PAUSE_MS", "100")
            // The key the API rotates to is configured, never sent.
            .env("OWNERBOUND_NEXT_MASTER_KEY", &new_key),
    )
    .await;
    let mut tokens = Vec::new();
    let mut leavers = Vec::new();
    for n in 0..3 {
        let pair = [oauth.token().await, oauth.token().await];
        leavers.push(owner_of(&service, n, &[("idp", &pair[0]), ("idp", &pair[1])]).await);
        tokens.push(pair);
    }
    let staying = staying_secrets(&service).await;
    let before = rotation(&service).await;
    assert_eq!(before["rotating"], false);
    let total = before["secrets"].as_i64().unwrap();
    assert_eq!(total, STAYING_SECRETS as i64 + 6);

    // Begin; asking again while it runs changes nothing.
    for started in [true, false] {
        let begun = service
            .request(Method::POST, "/api/v1/keys/rotation")
            .send()
            .await
            .unwrap();
        assert_eq!(begun.status(), 202);
        let begun = begun.text().await.unwrap();
        assert!(!begun.contains(&new_key), "no key in the answer");
        let begun: Value = serde_json::from_str(&begun).unwrap();
        assert_eq!(begun["new_key_id"], new_master.id());
        assert_eq!(begun["started"], started);
    }

    // A departure while secrets are being sealed again: revoked and proven at the
    // real authorization server.
    eventually("the rotation rewriting", WITHIN_SECONDS, || async {
        rotation(&service).await["remaining"].as_i64().unwrap() < total
    })
    .await;
    offboard(&service, &leavers[0]).await;
    eventually("the first leaver's tokens dead", WITHIN_SECONDS, || {
        all_inactive(&oauth, &tokens[0])
    })
    .await;

    // SIGKILL half-way.
    eventually("the rotation half-way", WITHIN_SECONDS, || async {
        rotation(&service).await["remaining"].as_i64().unwrap() <= total / 2
    })
    .await;
    let at_kill = rotation(&service).await;
    service.kill9().await;
    assert_eq!(at_kill["rotating"], true, "{at_kill}");
    assert!(at_kill["remaining"].as_i64().unwrap() > 0, "{at_kill}");

    // Restarted as it was configured (the old key): the rotation goes on and ends.
    let restarted = std::time::Instant::now();
    service.restart().await;
    offboard(&service, &leavers[1]).await;
    let departed = std::time::Instant::now();
    eventually("the rotation finished", WITHIN_SECONDS, || async {
        rotation(&service).await["rotating"] == false
    })
    .await;
    let rotation_done = restarted.elapsed();
    let after = rotation(&service).await;
    assert_eq!(after["key_id"], new_master.id(), "{after}");
    assert_eq!(after["remaining"], 0, "{after}");
    eventually("the second leaver's tokens dead", WITHIN_SECONDS, || {
        all_inactive(&oauth, &tokens[1])
    })
    .await;
    // The figures the closing note quotes: what the crash cost.
    eprintln!(
        "[{:?}] after kill -9: restart to rotation finished {:.1} s; departure to tokens dead {:.2} s",
        engine,
        rotation_done.as_secs_f64(),
        departed.elapsed().as_secs_f64()
    );

    // Every secret opens with the new key alone, and carries its id.
    let store = ownerbound::store::Store::connect_url(service.database_url())
        .await
        .unwrap();
    let keys = ownerbound::key_rotation::open_keys(&store, &new_master)
        .await
        .unwrap();
    assert!(keys.retiring_key_id().is_none());
    let header = sealed_header(&new_master.id()).unwrap();
    for (id, secret) in &staying {
        let sealed = store.sealed_secret(id).await.unwrap().unwrap();
        assert_eq!(&sealed[..HEADER_LEN], header.as_slice());
        assert_eq!(
            keys.decrypt(&sealed, id).unwrap().as_slice(),
            secret.as_bytes()
        );
    }

    // The old key is refused, and says why.
    service.stop().await;
    let refused = cli_command(service.dir())
        .args(["keys", "status"])
        .env("OWNERBOUND_DATABASE_URL", service.database_url())
        .env("OWNERBOUND_MASTER_KEY", &old_key)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("rotated"), "{said}");

    // The new key serves: a departure is revoked, and a secret stored again is
    // recognised by its fingerprint as the credential it already is.
    service.set_master_key(&new_key);
    service.restart().await;
    offboard(&service, &leavers[2]).await;
    eventually("the third leaver's tokens dead", WITHIN_SECONDS, || {
        all_inactive(&oauth, &tokens[2])
    })
    .await;
    let (known_id, known_secret) = staying.iter().next().unwrap();
    let again = json(
        &service,
        Method::POST,
        "/api/v1/agents",
        Some(json!({"name": "same-secret", "owner_email": "stays@example.com",
                    "credentials": [{"provider": "vault-desk", "kind": "api_key", "secret": known_secret}]})),
    )
    .await;
    assert_eq!(again["credentials"][0]["id"], known_id.as_str());

    // Every case closed, the audit chain holds, and no secret or key was logged.
    eventually("every case closed", WITHIN_SECONDS, || async {
        let cases = json(&service, Method::GET, "/api/v1/offboardings", None).await;
        let cases = cases["items"].as_array().unwrap().clone();
        cases.len() == 3 && cases.iter().all(|c| c["status"] == "closed")
    })
    .await;
    let audit = json(&service, Method::GET, "/api/v1/audit?limit=1000", None).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"keys.rotation_started"));
    assert!(actions.contains(&"keys.rotation_finished"));
    service.stop().await;
    let verified = cli_command(service.dir())
        .args(["audit", "verify"])
        .env("OWNERBOUND_DATABASE_URL", service.database_url())
        .env("OWNERBOUND_MASTER_KEY", &new_key)
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let logs = service.logs();
    for secret in staying.values().chain(tokens.iter().flatten()) {
        assert!(!logs.contains(secret.as_str()), "a secret in the log");
    }
    assert!(!logs.contains(&new_key) && !logs.contains(&old_key));
}

on_each_engine!(a_master_key_rotation_survives_a_crash_and_retires_the_old_key);

/// Drives a rotation's job to its end here, as a worker would, holding the lease.
async fn run_rotation(
    store: &ownerbound::store::Store,
    keys: &ownerbound::crypto::SecretKeys,
    key_id: &str,
) -> ownerbound::key_rotation::Step {
    let pace = ownerbound::key_rotation::Pace::default();
    ownerbound::key_rotation::run(store, keys, key_id, pace, || async { Ok(true) })
        .await
        .unwrap()
}

/// Two instances on one database: one rotates while the other looks away. The
/// other then refuses to seal anything (rather than seal under a key nobody holds
/// any more); a ciphertext no key opens keeps the rotation from finishing, and the
/// job says so rather than spin.
async fn an_instance_that_missed_a_rotation_seals_nothing(app: crate::helpers::TestApp) {
    use ownerbound::key_rotation::{ensure_current, open_keys, run, KeyError, Pace, Step};
    use ownerbound::store::sealed::SealedTable;
    let old = MasterKey::parse(&app.master_key_hex).unwrap();
    let new = MasterKey::generate();
    let agent = app
        .create_agent(&json!({"name": "a", "owner_email": "a@example.com",
            "credentials": [{"provider": "p", "kind": "api_key", "secret": "ob-missed-1"}]}))
        .await;
    let credential = agent["credentials"][0]["id"].as_str().unwrap().to_string();
    let rotating = open_keys(&app.store, &old).await.unwrap();
    let elsewhere = open_keys(&app.store, &old).await.unwrap();
    ownerbound::key_rotation::begin(&app.store, &rotating, &new, "test")
        .await
        .unwrap();
    // Too early: every instance gets its chance to join first.
    assert!(matches!(
        run(
            &app.store,
            &rotating,
            &new.id(),
            Pace::default(),
            || async { Ok(true) }
        )
        .await
        .unwrap(),
        Step::TooEarly(_)
    ));
    // A ciphertext that no key opens (corrupted, or sealed by who knows).
    let stray = app
        .create_agent(&json!({"name": "b", "owner_email": "b@example.com",
            "credentials": [{"provider": "p", "kind": "api_key", "external_id": "stray-1"}]}))
        .await;
    let stray = stray["credentials"][0]["id"].as_str().unwrap().to_string();
    let garbage = [7u8; 60];
    let mut tx = app.store.begin().await.unwrap();
    tx.set_credential_secret(&stray, &garbage, "stray-fingerprint")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    tokio::time::sleep(ownerbound::key_rotation::GRACE).await;
    assert_eq!(
        run_rotation(&app.store, &rotating, &new.id()).await,
        Step::Stuck(1)
    );
    let status = ownerbound::key_rotation::status(&app.store, &rotating)
        .await
        .unwrap();
    assert!(status.rotating);
    assert_eq!(status.remaining, 1);
    // Sealed properly again, the rotation finishes.
    let mut tx = app.store.begin().await.unwrap();
    let sealed = rotating.encrypt(b"ob-missed-2", &stray);
    assert!(tx
        .reseal(SealedTable::Credentials, &stray, &garbage, &sealed)
        .await
        .unwrap());
    tx.commit().await.unwrap();
    assert_eq!(
        run_rotation(&app.store, &rotating, &new.id()).await,
        Step::Finished
    );
    // Run again (a runner that lost its job): nothing to do, nothing undone.
    assert_eq!(
        run_rotation(&app.store, &rotating, &new.id()).await,
        Step::NotRunning
    );

    // The instance that looked away seals nothing now, through the API either.
    assert!(!elsewhere.checked_within(std::time::Duration::from_secs(4)));
    assert!(matches!(
        ensure_current(&app.store, &elsewhere).await,
        Err(KeyError::Outdated)
    ));
    // And the secrets open with the new key alone.
    let keys = open_keys(&app.store, &new).await.unwrap();
    let sealed = app.store.sealed_secret(&credential).await.unwrap().unwrap();
    assert_eq!(
        keys.decrypt(&sealed, &credential).unwrap().as_slice(),
        b"ob-missed-1"
    );
}

crate::on_both_engines!(an_instance_that_missed_a_rotation_seals_nothing);
