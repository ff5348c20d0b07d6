//! Okta's provisioning conversation, as its OIN SCIM 2.0 test suite and runtime send it.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::on_both_engines;

const DEACTIVATED: &str = "person-deactivated";
const REACTIVATED: &str = "person-reactivated";

fn okta_user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "dade.murphy@example.com",
        "name": {"givenName": "Dade", "familyName": "Murphy"},
        "emails": [{"primary": true, "value": "dade.murphy@example.com", "type": "work"}],
        "displayName": "Dade Murphy",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true
    })
}

async fn okta_provisioning_conversation(app: TestApp) {
    let token = app.scim_token().await;
    // An agent registered before the person exists in the directory.
    let agent = app
        .create_agent(&json!({"name": "dade-bot", "owner_email": "Dade.Murphy@example.com"}))
        .await;
    assert_eq!(agent["orphan_reason"], "owner_unresolved");

    // Create: match filter first, then POST.
    let (status, headers, body) = app
        .scim(
            &token,
            Method::GET,
            "/Users?filter=userName%20eq%20%22dade.murphy%40example.com%22&startIndex=1&count=100",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/scim+json");
    assert_eq!(body["totalResults"], 0);
    assert_eq!(body["Resources"], json!([]));

    let (status, headers, created) = app
        .scim(&token, Method::POST, "/Users", Some(&okta_user()))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["userName"], "dade.murphy@example.com");
    assert_eq!(created["active"], true);
    assert_eq!(created["meta"]["resourceType"], "User");
    assert!(created["meta"]["location"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/scim/v2/Users/{id}")));
    assert_eq!(
        headers["location"],
        created["meta"]["location"].as_str().unwrap()
    );
    assert_eq!(
        headers["etag"],
        created["meta"]["version"].as_str().unwrap()
    );
    assert!(created.get("password").is_none(), "password echoed");
    assert!(!created.to_string().contains("1mz050nq"));
    let stored: Value = app
        .get(&format!("/api/v1/people/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(!stored.to_string().contains("1mz050nq"));
    let document: Vec<String> = match app.engine {
        crate::helpers::Engine::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            sqlx::query_scalar("SELECT scim_resource FROM people")
                .fetch_all(&pool)
                .await
                .unwrap()
        }
        crate::helpers::Engine::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
            sqlx::query_scalar("SELECT scim_resource FROM people")
                .fetch_all(&pool)
                .await
                .unwrap()
        }
    };
    assert!(!document.concat().contains("1mz050nq"), "password stored");
    assert!(
        !crate::helpers::captured_logs().contains("1mz050nq"),
        "password logged"
    );

    let resolved: Value = app
        .get(&format!("/api/v1/agents/{}", agent["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(resolved["owner"]["id"], id.as_str());
    assert_eq!(resolved["orphaned"], false);

    let (status, _, conflict) = app
        .scim(&token, Method::POST, "/Users", Some(&okta_user()))
        .await;
    assert_eq!(status, 409);
    assert_eq!(conflict["scimType"], "uniqueness");
    assert_eq!(conflict["status"], "409");
    assert_eq!(
        conflict["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );

    // Test connection and import.
    let (status, _, page) = app
        .scim(&token, Method::GET, "/Users?startIndex=1&count=2", None)
        .await;
    assert_eq!(status, 200);
    assert!(
        page["totalResults"].is_i64()
            && page["startIndex"].is_i64()
            && page["itemsPerPage"].is_i64()
    );
    assert_eq!(page["Resources"][0]["id"], id.as_str());

    // Profile update: GET then PUT.
    let (status, _, mut fetched) = app
        .scim(&token, Method::GET, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(status, 200);
    fetched["name"]["familyName"] = json!("Murphy-Zero");
    fetched["title"] = json!("Zero Cool");
    let (status, _, updated) = app
        .scim(&token, Method::PUT, &format!("/Users/{id}"), Some(&fetched))
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"]["familyName"], "Murphy-Zero");
    assert_eq!(updated["title"], "Zero Cool");
    assert_eq!(updated["id"], id.as_str());

    // Group push and membership.
    let (status, _, group) = app
        .scim(
            &token,
            Method::POST,
            "/Groups",
            Some(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Test SCIMv2", "members": []})),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    let gid = group["id"].as_str().unwrap().to_string();
    let patch = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let (status, _, renamed) = app
        .scim(
            &token,
            Method::PATCH,
            &format!("/Groups/{gid}"),
            Some(&patch(
                json!([{"op": "replace", "value": {"id": gid, "displayName": "Hackers"}}]),
            )),
        )
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["displayName"], "Hackers");
    let (status, _, with_member) = app
        .scim(&token, Method::PATCH, &format!("/Groups/{gid}"),
              Some(&patch(json!([{"op": "add", "path": "members", "value": [{"value": id, "display": "dade.murphy@example.com"}]}]))))
        .await;
    assert_eq!(status, 200);
    assert_eq!(with_member["members"][0]["value"], id.as_str());
    let (_, _, user) = app
        .scim(&token, Method::GET, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(user["groups"][0]["value"], gid.as_str());
    assert_eq!(user["groups"][0]["display"], "Hackers");
    let (status, _, without) = app
        .scim(
            &token,
            Method::PATCH,
            &format!("/Groups/{gid}"),
            Some(&patch(
                json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]),
            )),
        )
        .await;
    assert_eq!(status, 200);
    assert!(without.get("members").is_none(), "{without}");

    // Deactivation, twice (Okta retries), then reactivation.
    let deactivate = patch(json!([{"op": "replace", "value": {"active": false}}]));
    for _ in 0..2 {
        let (status, _, body) = app
            .scim(
                &token,
                Method::PATCH,
                &format!("/Users/{id}"),
                Some(&deactivate),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["active"], false);
    }
    assert_eq!(
        app.lifecycle_events(&id).await,
        vec![(DEACTIVATED.to_string(), "scim".to_string())]
    );
    let orphaned: Value = app
        .get(&format!("/api/v1/agents/{}", agent["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(orphaned["orphan_reason"], "owner_inactive");
    let (status, _, still_there) = app
        .scim(&token, Method::GET, &format!("/Users/{id}"), None)
        .await;
    assert_eq!((status, still_there["active"].clone()), (200, json!(false)));

    let reactivate = patch(json!([{"op": "replace", "value": {"active": true}}]));
    let (status, _, body) = app
        .scim(
            &token,
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(&reactivate),
        )
        .await;
    assert_eq!((status, body["active"].clone()), (200, json!(true)));
    assert_eq!(
        app.lifecycle_events(&id).await,
        vec![
            (DEACTIVATED.to_string(), "scim".to_string()),
            (REACTIVATED.to_string(), "scim".to_string())
        ]
    );

    let (status, _, _) = app
        .scim(&token, Method::DELETE, &format!("/Groups/{gid}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _, _) = app
        .scim(&token, Method::GET, &format!("/Groups/{gid}"), None)
        .await;
    assert_eq!(status, 404);

    // Every step is in the audit log under the SCIM token's name.
    let audit: Value = app
        .get(&format!(
            "/api/v1/audit?subject_kind=person&subject_id={id}"
        ))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.starts_with(&[
            "scim.user.created",
            "scim.user.replaced",
            "scim.user.patched",
            "person.deactivated"
        ]),
        "{actions:?}"
    );
    assert!(actions.contains(&"person.reactivated"));
}

async fn okta_wizard_app_deactivates_with_a_full_put(app: TestApp) {
    let token = app.scim_token().await;
    let (_, _, created) = app
        .scim(&token, Method::POST, "/Users", Some(&okta_user()))
        .await;
    let id = created["id"].as_str().unwrap();
    let mut body = okta_user();
    body["active"] = json!(false);
    body["id"] = json!(id);
    let (status, _, put) = app
        .scim(&token, Method::PUT, &format!("/Users/{id}"), Some(&body))
        .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["active"], false);
    assert_eq!(
        app.lifecycle_events(id).await,
        vec![(DEACTIVATED.to_string(), "scim".to_string())]
    );

    // A later PUT that does not mention `active` does not bring them back.
    let mut without_active = okta_user();
    without_active.as_object_mut().unwrap().remove("active");
    let (status, _, put) = app
        .scim(
            &token,
            Method::PUT,
            &format!("/Users/{id}"),
            Some(&without_active),
        )
        .await;
    assert_eq!((status, put["active"].clone()), (200, json!(false)));
    assert_eq!(app.lifecycle_events(id).await.len(), 1);
}

on_both_engines!(
    okta_provisioning_conversation,
    okta_wizard_app_deactivates_with_a_full_put
);
