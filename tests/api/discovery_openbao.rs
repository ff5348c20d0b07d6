//! Discovery against a real OpenBao (`bao server -dev`): token accessors are listed
//! with ownerbound's own least-privilege token; a token whose `meta` names its owner,
//! and one whose identity entity is a person's identity set through the API, are
//! attributed; the rest (the dev server's root token among them) are shadow
//! credentials; the owner's departure revokes her token by accessor, proven by
//! `lookup-accessor`; and the next run marks it gone.

use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::on_both_engines;
use crate::openbao_peer::OpenBao;

/// Discovery's calls and revocation by accessor, nothing more.
const POLICY: &str = r#"
path "auth/token/accessors" { capabilities = ["list", "sudo"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/lookup-accessor" { capabilities = ["update"] }
path "auth/token/revoke-accessor" { capabilities = ["update"] }
"#;

async fn openbao_tokens_are_discovered_attributed_and_revoked_by_accessor_at_departure(
    app: TestApp,
) {
    let Some(bao) = OpenBao::start().await else {
        return;
    };
    bao.policy("ownerbound", POLICY).await;
    let (own, _) = bao
        .token(json!({"policies": ["ownerbound"], "no_default_policy": true}))
        .await;
    let ada = app
        .create_person(&json!({"emails": ["ada@example.com"]}))
        .await;
    let bob = app
        .create_person(&json!({"emails": ["bob@example.com"]}))
        .await;
    let (ada_token, ada_accessor) = bao
        .token(json!({"policies": ["default"], "display_name": "ada-agent",
                      "meta": {"owner": "ada@example.com"}}))
        .await;
    // Bob's token carries an identity entity (through a token role's entity alias).
    let (status, body) = bao
        .call(
            reqwest::Method::POST,
            "auth/token/roles/agents",
            json!({"allowed_entity_aliases": ["bob-bot"], "orphan": true}),
        )
        .await;
    assert!(status == 204 || status == 200, "{body}");
    let (status, created) = bao
        .call(
            reqwest::Method::POST,
            "auth/token/create/agents",
            json!({"entity_alias": "bob-bot", "policies": ["default"]}),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let bob_token = created["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let bob_entity = created["auth"]["entity_id"].as_str().unwrap().to_string();
    assert!(!bob_entity.is_empty(), "{created}");
    let (unowned, unowned_accessor) = bao.token(json!({"policies": ["default"]})).await;

    let response = app
        .request(
            reqwest::Method::PUT,
            &format!(
                "/api/v1/people/{}/identities/vault",
                bob["id"].as_str().unwrap()
            ),
        )
        .json(&json!({"identity": bob_entity}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let providers = json!([{
        "name": "vault", "kind": "vault", "address": bao.address, "token": own, "discover": true,
    }]);
    let ctx = app.job_context(providers, None, ownerbound::jobs::http_client());
    let first = app.discover(&ctx, "vault").await;
    // Ada's, Bob's, the unowned one and the dev server's root token; not ownerbound's.
    assert_eq!(first["listed"], 4, "{first}");
    assert_eq!(first["new"], 4, "{first}");
    assert_eq!(first["shadow"], 2, "{first}");
    let found: Value = app
        .get("/api/v1/discovered-credentials?provider=vault")
        .await
        .json()
        .await
        .unwrap();
    let by_handle = |handle: &str| {
        found["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["handle"] == handle)
            .cloned()
            .unwrap_or_else(|| panic!("{handle} not found: {found}"))
    };
    let adas = by_handle(&ada_accessor);
    assert_eq!(adas["person_id"], ada["id"]);
    assert_eq!(adas["name"], "token-ada-agent");
    assert_eq!(adas["owner_email"], "ada@example.com");
    assert!(by_handle(&unowned_accessor)["shadow"].as_bool().unwrap());
    let bobs: Vec<&Value> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["owner_identity"] == bob_entity.as_str())
        .collect();
    assert_eq!(bobs.len(), 1, "{found}");
    assert_eq!(bobs[0]["person_id"], bob["id"]);

    // Ada leaves; her discovered token is revoked by its accessor.
    let id = ada["id"].as_str().unwrap();
    let response = app
        .post(&format!("/api/v1/people/{id}/offboard"), &json!({}))
        .await;
    assert!(response.status().is_success());
    ownerbound::jobs::Worker::new(ctx.clone())
        .run_until_idle()
        .await
        .unwrap();
    let items = app.case_items().await;
    assert_eq!(items.len(), 1, "{items:?}");
    let (status, detail) = items.values().next().unwrap();
    assert_eq!(status, "verified_dead", "{detail}");
    assert!(detail.contains("lookup-accessor"), "{detail}");
    assert!(!bao.token_alive(&ada_token).await);
    assert!(bao.token_alive(&bob_token).await);
    assert!(bao.token_alive(&unowned).await);

    let second = app.discover(&ctx, "vault").await;
    assert_eq!(second["listed"], 3, "{second}");
    assert_eq!(second["gone"], 1, "{second}");
    assert_eq!(second["new"], 0, "{second}");
    app.assert_secrets_kept(&[own.as_str(), ada_token.as_str(), bob_token.as_str()])
        .await;
}

on_both_engines!(openbao_tokens_are_discovered_attributed_and_revoked_by_accessor_at_departure);
