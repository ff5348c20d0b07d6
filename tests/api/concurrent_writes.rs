//! Writers racing on each invariant the storage names (`store::locks::LockKey`),
//! through the HTTP API as clients send them. On PostgreSQL these writers run side
//! by side; on SQLite one at a time. Each race runs several times at once, so that
//! both orders and true overlaps occur; the outcome must be the same every time.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::on_both_engines;

const ROUNDS: usize = 24;

/// Pushes a user with this email as userName and primary email; the SCIM answer.
async fn push_user(app: &TestApp, token: &str, email: &str) -> Value {
    let (status, _, user) = app
        .scim(
            token,
            Method::POST,
            "/Users",
            Some(&json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": email,
                "emails": [{"value": email, "primary": true}],
            })),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    user
}

async fn agent(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/api/v1/agents/{id}"))
        .await
        .json()
        .await
        .unwrap()
}

/// Two agents registered at once with the same secret share one credential.
async fn the_same_secret_registered_for_two_agents_at_once_is_one_credential(app: TestApp) {
    let register = |round: usize, side: &str| {
        let body = json!({
            "name": format!("twin-{round}-{side}"),
            "owner_email": "twins@example.com",
            "credentials": [{"provider": "github", "kind": "api_key",
                             "secret": format!("ghp_shared_secret_of_round_{round}")}],
        });
        let app = &app;
        async move {
            let response = app.post("/api/v1/agents", &body).await;
            assert_eq!(response.status(), 201);
            response.json::<Value>().await.unwrap()
        }
    };
    let races = (0..ROUNDS).map(|round| async move {
        let (a, b) = tokio::join!(register(round, "a"), register(round, "b"));
        (a, b)
    });
    for (a, b) in join_all(races).await {
        let a = agent(&app, a["id"].as_str().unwrap()).await;
        let b = agent(&app, b["id"].as_str().unwrap()).await;
        assert_eq!(a["credentials"].as_array().unwrap().len(), 1, "{a}");
        assert_eq!(
            a["credentials"][0]["id"], b["credentials"][0]["id"],
            "one secret, two credentials"
        );
    }
    assert_eq!(
        app.store.count_rows("credentials").await.unwrap(),
        ROUNDS as i64
    );
    assert_eq!(
        app.store.count_rows("agent_credentials").await.unwrap(),
        2 * ROUNDS as i64
    );
}

/// An agent registered by owner email while the identity provider creates that
/// person resolves to them: it is never left an orphan.
async fn an_agent_registered_by_email_while_its_owner_is_created_resolves_to_them(app: TestApp) {
    let token = app.scim_token().await;
    let races = (0..ROUNDS).map(|round| {
        let (app, token) = (&app, &token);
        async move {
            let email = format!("arriving-{round}@example.com");
            let register = async {
                let response = app
                    .post(
                        "/api/v1/agents",
                        &json!({"name": format!("early-bot-{round}"), "owner_email": email}),
                    )
                    .await;
                assert_eq!(response.status(), 201);
                response.json::<Value>().await.unwrap()
            };
            let (bot, user) = tokio::join!(register, push_user(app, token, &email));
            (bot, user)
        }
    });
    for (bot, user) in join_all(races).await {
        let bot = agent(&app, bot["id"].as_str().unwrap()).await;
        assert_eq!(bot["owner_resolved"], true, "{bot}");
        assert_eq!(bot["owner"]["id"], user["id"], "{bot}");
        assert_eq!(bot["orphaned"], false, "{bot}");
    }
}

/// The same departure reported by SCIM and by HR at the same moment is one
/// lifecycle event and one offboarding case.
async fn one_departure_from_scim_and_hr_at_once_opens_one_case(app: TestApp) {
    let token = app.scim_token().await;
    let mut people = Vec::new();
    for round in 0..ROUNDS {
        let user = push_user(&app, &token, &format!("leaver-{round}@example.com")).await;
        let id = user["id"].as_str().unwrap().to_string();
        let linked = app
            .patch(
                &format!("/api/v1/people/{id}"),
                &json!({"hr_ids": {"standard": format!("emp-{round}")}}),
            )
            .await;
        assert_eq!(linked.status(), 200);
        people.push(id);
    }
    let races = people.iter().enumerate().map(|(round, id)| {
        let (app, token) = (&app, &token);
        async move {
            let path = format!("/Users/{id}");
            let deactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                    "Operations": [{"op": "replace", "path": "active", "value": false}]});
            let scim = app.scim(token, Method::PATCH, &path, Some(&deactivate));
            let body = json!({"type": "employee.terminated",
                              "employee": {"id": format!("emp-{round}")}})
            .to_string();
            let hr = crate::hr::post_signed(app, "standard", body.as_bytes());
            let ((scim_status, _, _), (hr_status, _)) = tokio::join!(scim, hr);
            assert_eq!((scim_status, hr_status), (200, 200));
        }
    });
    join_all(races).await;
    app.run_jobs().await;
    for id in &people {
        let events = app.lifecycle_events(id).await;
        assert_eq!(events.len(), 1, "{events:?}");
        let cases: Value = app
            .get(&format!("/api/v1/offboardings?person_id={id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(cases["items"].as_array().unwrap().len(), 1, "{cases}");
    }
}

on_both_engines!(
    the_same_secret_registered_for_two_agents_at_once_is_one_credential,
    an_agent_registered_by_email_while_its_owner_is_created_resolves_to_them,
    one_departure_from_scim_and_hr_at_once_opens_one_case,
);
