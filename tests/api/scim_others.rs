//! OneLogin's and JumpCloud's request shapes.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::on_both_engines;

async fn onelogin_lowercase_group_patch_and_put_deactivation(app: TestApp) {
    let token = app.scim_token().await;
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "kate.libby@example.com",
        "name": {"givenName": "Kate", "familyName": "Libby"},
        "emails": [{"value": "kate.libby@example.com", "primary": true}],
        "externalId": "ol-12345",
        "active": true
    });
    let (status, _, created) = app.scim(&token, Method::POST, "/Users", Some(&user)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (status, _, group) = app
        .scim(
            &token,
            Method::POST,
            "/Groups",
            Some(&json!({"displayName": "Plague", "members": []})),
        )
        .await;
    assert_eq!(status, 201);
    let gid = group["id"].as_str().unwrap();
    let (status, _, patched) = app
        .scim(
            &token,
            Method::PATCH,
            &format!("/Groups/{gid}"),
            Some(&json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]
            })),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["members"][0]["value"], id.as_str());
    assert_eq!(patched["members"][0]["display"], "Kate Libby");
    // Replace with the full list, as OneLogin and Okta also do.
    let (status, _, replaced) = app
        .scim(
            &token,
            Method::PATCH,
            &format!("/Groups/{gid}"),
            Some(&json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "members", "value": []}]
            })),
        )
        .await;
    assert_eq!(status, 200);
    assert!(replaced.get("members").is_none());

    let mut inactive = user.clone();
    inactive["active"] = json!(false);
    let (status, _, put) = app
        .scim(
            &token,
            Method::PUT,
            &format!("/Users/{id}"),
            Some(&inactive),
        )
        .await;
    assert_eq!((status, put["active"].clone()), (200, json!(false)));
    assert_eq!(
        app.lifecycle_events(&id).await,
        vec![("person-deactivated".to_string(), "scim".to_string())]
    );
}

async fn jumpcloud_full_put_with_null_emails_deactivates(app: TestApp) {
    let token = app.scim_token().await;
    let (status, _, created) = app
        .scim(&token, Method::POST, "/Users", Some(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "userName": "eugene.belford",
            "displayName": "Eugene Belford",
            "emails": [{"value": "eugene@example.com", "type": "work", "primary": true}],
            "active": true,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "JC-9"}
        })))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let agent = app
        .create_agent(&json!({"name": "plague-bot", "owner_email": "eugene@example.com"}))
        .await;
    assert_eq!(agent["owner"]["id"], id.as_str());

    let (status, _, put) = app
        .scim(
            &token,
            Method::PUT,
            &format!("/Users/{id}"),
            Some(&json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id": id,
                "userName": "eugene.belford",
                "displayName": "Eugene Belford",
                "emails": null,
                "phoneNumbers": null,
                "active": false
            })),
        )
        .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["active"], false);
    assert!(put.get("emails").is_none());
    assert_eq!(
        app.lifecycle_events(&id).await,
        vec![("person-deactivated".to_string(), "scim".to_string())]
    );
    let orphan: Value = app
        .get(&format!("/api/v1/agents/{}", agent["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(orphan["orphan_reason"], "owner_inactive");
}

async fn a_person_registered_through_the_api_is_adopted_not_duplicated(app: TestApp) {
    let person = app
        .create_person(&json!({"display_name": "Joey Pardella", "emails": ["joey@example.com"]}))
        .await;
    let token = app.scim_token().await;
    // Okta's match filter finds them by email before creating.
    let (_, _, found) = app
        .scim(
            &token,
            Method::GET,
            "/Users?filter=emails.value%20eq%20%22JOEY%40example.com%22",
            None,
        )
        .await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["userName"], "joey@example.com");
    let (status, _, created) = app
        .scim(&token, Method::POST, "/Users", Some(&json!({
            "userName": "jpardella", "emails": [{"value": "joey@example.com", "primary": true}], "active": true
        })))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["id"], person["id"]);
    let listed: Value = app.get("/api/v1/people").await.json().await.unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["source"], "scim");
}

async fn deleting_an_active_user_deactivates_them_once(app: TestApp) {
    let token = app.scim_token().await;
    let (_, _, created) = app
        .scim(
            &token,
            Method::POST,
            "/Users",
            Some(&json!({"userName": "razor", "emails": [{"value": "razor@example.com"}]})),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let agent = app
        .create_agent(&json!({"name": "razor-bot", "owner_email": "razor@example.com"}))
        .await;
    let (status, _, _) = app
        .scim(&token, Method::DELETE, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        app.lifecycle_events(&id).await,
        vec![("person-deactivated".to_string(), "scim".to_string())]
    );
    let (status, _, _) = app
        .scim(&token, Method::GET, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(status, 404);
    let (_, _, listed) = app.scim(&token, Method::GET, "/Users", None).await;
    assert_eq!(listed["totalResults"], 0);
    let orphan: Value = app
        .get(&format!("/api/v1/agents/{}", agent["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(orphan["orphan_reason"], "owner_deleted");
    assert_eq!(app.get(&format!("/api/v1/people/{id}")).await.status(), 404);
}

on_both_engines!(
    deleting_an_active_user_deactivates_them_once,
    onelogin_lowercase_group_patch_and_put_deactivation,
    jumpcloud_full_put_with_null_emails_deactivates,
    a_person_registered_through_the_api_is_adopted_not_duplicated
);
