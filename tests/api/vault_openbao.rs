//! The vault connector against a real OpenBao server (`openbao_peer`): tokens are
//! revoked through ownerbound's own least-privilege token by secret and by accessor,
//! and database credentials (leases of OpenBao's database engine on the test
//! PostgreSQL) by lease id, each proven dead by OpenBao's own lookups; a token presented to revoke itself is
//! revoked, but OpenBao answers a revoked token and a live one without the default
//! policy with the same 403 "permission denied", so without a token of its own
//! ownerbound does not call it dead. The fakes in `fake_providers` stay for what a dev
//! server cannot do on demand (sealing, leases of a database engine, faults).

use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::on_both_engines;
use crate::openbao_peer::OpenBao;

/// Exactly what the connector calls with its own token.
const REVOKER_POLICY: &str = r#"
path "auth/token/revoke" { capabilities = ["update"] }
path "auth/token/lookup" { capabilities = ["update"] }
path "auth/token/revoke-accessor" { capabilities = ["update"] }
path "auth/token/lookup-accessor" { capabilities = ["update"] }
path "sys/leases/revoke" { capabilities = ["update"] }
path "sys/leases/lookup" { capabilities = ["update"] }
"#;

async fn tokens_and_leases_are_revoked_and_proven_dead_at_a_real_openbao(app: TestApp) {
    let Some(bao) = OpenBao::start().await else {
        return;
    };
    bao.policy("ownerbound-revoker", REVOKER_POLICY).await;
    let (own, _) = bao
        .token(json!({"policies": ["ownerbound-revoker"], "no_default_policy": true}))
        .await;
    let agent_token = json!({"policies": ["default"], "ttl": "1h"});
    let (by_secret, _) = bao.token(agent_token.clone()).await;
    let (by_accessor, accessor) = bao.token(agent_token.clone()).await;
    let (itself, _) = bao.token(agent_token.clone()).await;
    let (unrelated, _) = bao.token(agent_token).await;
    // Leases need a database for OpenBao to issue them: the PostgreSQL of the tests.
    let postgres = std::env::var("OWNERBOUND_TEST_POSTGRES_URL").ok();
    let mut lease = None;
    if let Some(url) = &postgres {
        bao.database_leases(url).await;
        lease = Some(bao.database_lease().await);
    }
    let mut credentials = vec![
        json!({"provider": "vault", "kind": "api_key", "secret": by_secret}),
        json!({"provider": "vault", "kind": "api_key", "external_id": accessor}),
        json!({"provider": "vault-self", "kind": "api_key", "secret": itself}),
    ];
    if let Some((lease_id, _)) = &lease {
        credentials.push(json!({"provider": "vault", "kind": "other", "external_id": lease_id}));
    }

    let ids = app.offboard_owner_of(Value::from(credentials)).await;
    app.run_jobs_with(json!([
        {"name": "vault", "kind": "vault", "address": bao.address, "token": own},
        {"name": "vault-self", "kind": "vault", "address": bao.address},
    ]))
    .await;

    let items = app.case_items().await;
    for (id, proof) in ids.iter().zip([
        "auth/token/lookup answers bad token",
        "lookup-accessor answers invalid accessor",
    ]) {
        let (status, detail) = &items[id];
        assert_eq!(status, "verified_dead", "{id}: {detail}");
        assert!(detail.contains(proof), "{detail}");
    }
    for token in [&by_secret, &by_accessor, &itself] {
        assert!(!bao.token_alive(token).await, "a revoked token is alive");
    }
    assert!(
        bao.token_alive(&unrelated).await,
        "an unrelated token was revoked"
    );
    assert!(
        bao.token_alive(&own).await,
        "ownerbound revoked its own token"
    );

    // Revoked at OpenBao, but not proven: the item says why and what to configure.
    let (status, detail) = &items[&ids[2]];
    assert_eq!(status, "revoked_unverified", "{detail}");
    assert!(detail.contains("set token on the provider"), "{detail}");

    app.assert_secrets_kept(&[
        by_secret.as_str(),
        by_accessor.as_str(),
        itself.as_str(),
        own.as_str(),
    ])
    .await;
}

on_both_engines!(tokens_and_leases_are_revoked_and_proven_dead_at_a_real_openbao);
