//! Entra ID's provisioning conversations, in its default dialect and with the
//! `aadOptscim062020` feature flag.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::on_both_engines;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn patch(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

fn entra_user(user_name: &str, external_id: &str, email: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": true,
        "addresses": [{"primary": true, "type": "work", "country": null, "formatted": "1 Main St", "locality": null, "postalCode": null, "region": null, "streetAddress": null}],
        "displayName": "Test User",
        "emails": [{"primary": true, "type": "work", "value": email}],
        "meta": {"resourceType": "User"},
        "name": {"familyName": "User", "givenName": "Test"},
        "phoneNumbers": [{"primary": true, "type": "mobile", "value": "+1 555 0100"}],
        "roles": [],
        "title": null,
        ENTERPRISE: {"employeeNumber": "E-1001", "department": "Finance"}
    })
}

async fn create_entra_user(
    app: &TestApp,
    token: &str,
    user_name: &str,
    external_id: &str,
    email: &str,
) -> String {
    let (status, _, body) = app
        .scim(
            token,
            Method::POST,
            "/Users",
            Some(&entra_user(user_name, external_id, email)),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

async fn entra_default_dialect_conversation(app: TestApp) {
    let token = app.scim_token().await;
    // Test Connection: a filter on a random GUID answers 200 with an empty list.
    let (status, _, empty) = app
        .scim(
            &token,
            Method::GET,
            "/Users?filter=id%20eq%20%226d5d5ffe-5f65-4c86-98d0-fd3ea7b3e6c2%22",
            None,
        )
        .await;
    assert_eq!((status, empty["totalResults"].clone()), (200, json!(0)));

    let user_name = "Test_User_dfeef4c5-5681-4387-b016-bdf221e82081";
    let external_id = "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef";
    let id = create_entra_user(
        &app,
        &token,
        user_name,
        external_id,
        "Test_User@testuser.com",
    )
    .await;

    // Matching by every uniqueness attribute Entra uses, in its own syntax.
    for filter in [
        format!("userName eq \"{user_name}\""),
        format!("USERNAME EQ \"{}\"", user_name.to_uppercase()),
        format!("externalId eq {external_id}"),
        "emails[type eq \"work\"].value eq \"test_user@testuser.com\"".to_string(),
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"E-1001\""
            .to_string(),
    ] {
        let path = format!("/Users?filter={}", urlencode(&filter));
        let (status, _, found) = app.scim(&token, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{filter}: {found}");
        assert_eq!(found["totalResults"], 1, "{filter}");
        assert_eq!(found["Resources"][0]["id"], id.as_str());
    }

    // Attribute updates in the default dialect: capitalised ops, filtered paths.
    let (status, _, updated) = app
        .scim(&token, Method::PATCH, &format!("/Users/{id}"), Some(&patch(json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "E-2002"},
            {"op": "Add", "path": "emails[type eq \"home\"].value", "value": "home@example.com"}
        ])))).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["emails"][0]["value"], "updatedEmail@microsoft.com");
    assert_eq!(
        updated["emails"][1],
        json!({"type": "home", "value": "home@example.com"})
    );
    assert_eq!(updated["name"]["familyName"], "updatedFamilyName");
    assert_eq!(updated[ENTERPRISE]["employeeNumber"], "E-2002");
    let person: Value = app
        .get(&format!("/api/v1/people/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(person["employee_number"], "E-2002");
    assert!(person["emails"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["value"] == "updatedEmail@microsoft.com"));

    // Manager: added as an array on a single-valued attribute, removed by filter.
    let manager = create_entra_user(
        &app,
        &token,
        "boss@testuser.com",
        "ext-boss",
        "boss@testuser.com",
    )
    .await;
    let (status, _, with_manager) = app
        .scim(
            &token,
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(&patch(json!([
                {"op": "Add", "path": "manager", "value": [{"$ref": null, "value": manager}]}
            ]))),
        )
        .await;
    assert_eq!(status, 200, "{with_manager}");
    assert_eq!(
        with_manager[ENTERPRISE]["manager"]["value"],
        manager.as_str()
    );
    let person: Value = app
        .get(&format!("/api/v1/people/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(person["manager_id"], manager.as_str());
    let (status, _, without_manager) = app
        .scim(
            &token,
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(&patch(json!([
                {"op": "Remove", "path": format!("manager[value eq \"{manager}\"]")}
            ]))),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        without_manager[ENTERPRISE].get("manager").is_none(),
        "{without_manager}"
    );

    // Groups, with Entra's extra schema and excludedAttributes=members.
    let (status, _, group) = app
        .scim(&token, Method::POST, "/Groups", Some(&json!({
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "Group1DisplayName",
            "members": [],
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
                        "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"]
        }))).await;
    assert_eq!(status, 201, "{group}");
    let gid = group["id"].as_str().unwrap().to_string();
    let (status, _, _) = app
        .scim(&token, Method::PATCH, &format!("/Groups/{gid}"), Some(&patch(json!([
            {"op": "Add", "path": "members", "value": [{"$ref": null, "value": id}, {"$ref": null, "value": manager}]}
        ])))).await;
    assert_eq!(status, 200);
    let path = format!(
        "/Groups?excludedAttributes=members&filter={}",
        urlencode("displayName eq \"Group1DisplayName\"")
    );
    let (status, _, listed) = app.scim(&token, Method::GET, &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["totalResults"], 1);
    assert!(listed["Resources"][0].get("members").is_none(), "{listed}");
    assert_eq!(
        listed["Resources"][0]["externalId"],
        "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
    );
    let (status, _, after_remove) = app
        .scim(
            &token,
            Method::PATCH,
            &format!("/Groups/{gid}"),
            Some(&patch(json!([
                {"op": "Remove", "path": "members", "value": [{"$ref": null, "value": manager}]}
            ]))),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(after_remove["members"].as_array().unwrap().len(), 1);
    assert_eq!(after_remove["members"][0]["value"], id.as_str());

    // Deactivation: the boolean as the string "False".
    let agent = app
        .create_agent(
            &json!({"name": "entra-bot", "owner_id": id, "credentials": [
            {"provider": "github", "kind": "api_key", "secret": "ghp_entra_owned"}]}),
        )
        .await;
    let (status, _, body) = app
        .scim(
            &token,
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(&patch(json!([
                {"op": "Replace", "path": "active", "value": "False"}
            ]))),
        )
        .await;
    assert_eq!((status, body["active"].clone()), (200, json!(false)));
    assert_eq!(
        app.lifecycle_events(&id).await,
        vec![("person-deactivated".to_string(), "scim".to_string())]
    );

    // Hard delete after the soft delete: 204, then 404; history stays.
    let (status, _, _) = app
        .scim(&token, Method::DELETE, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _, gone) = app
        .scim(&token, Method::GET, &format!("/Users/{id}"), None)
        .await;
    assert_eq!((status, gone["status"].clone()), (404, json!("404")));
    let (status, _, _) = app
        .scim(&token, Method::DELETE, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        app.lifecycle_events(&id).await.len(),
        1,
        "delete after deactivation is no new transition"
    );
    let kept: Value = app
        .get(&format!("/api/v1/agents/{}", agent["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(kept["orphan_reason"], "owner_deleted");
    assert_eq!(kept["credential_count"], 1);
    let (_, _, group_now) = app
        .scim(&token, Method::GET, &format!("/Groups/{gid}"), None)
        .await;
    assert!(
        group_now.get("members").is_none(),
        "deleted user still a member: {group_now}"
    );
    // The userName is free again.
    create_entra_user(
        &app,
        &token,
        user_name,
        "new-external-id",
        "other@testuser.com",
    )
    .await;
}

async fn entra_feature_flag_dialect_conversation(app: TestApp) {
    let token = app.scim_token().await;
    let id = create_entra_user(
        &app,
        &token,
        "flagged@testuser.com",
        "ext-flag",
        "flagged@testuser.com",
    )
    .await;
    // Several changes batched into one path-less value object with dotted and URN keys.
    let (status, _, updated) = app
        .scim(&token, Method::PATCH, &format!("/Users/{id}"), Some(&patch(json!([
            {"op": "replace", "value": {
                "displayName": "Flagged User",
                "name.givenName": "Flag",
                "name.familyName": "Ged",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "E-3003",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Legal"
            }}
        ])))).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["displayName"], "Flagged User");
    assert_eq!(
        updated["name"],
        json!({"givenName": "Flag", "familyName": "Ged"})
    );
    assert_eq!(
        updated[ENTERPRISE],
        json!({"employeeNumber": "E-3003", "department": "Legal"})
    );

    let deactivations = [json!(false), json!("false")];
    for value in deactivations {
        let (status, _, body) = app
            .scim(
                &token,
                Method::PATCH,
                &format!("/Users/{id}"),
                Some(&patch(json!([
                    {"op": "replace", "path": "active", "value": value}
                ]))),
            )
            .await;
        assert_eq!((status, body["active"].clone()), (200, json!(false)));
    }
    let (status, _, body) = app
        .scim(
            &token,
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(&patch(json!([
                {"op": "replace", "path": "active", "value": true}
            ]))),
        )
        .await;
    assert_eq!((status, body["active"].clone()), (200, json!(true)));
    assert_eq!(
        app.lifecycle_events(&id).await,
        vec![
            ("person-deactivated".to_string(), "scim".to_string()),
            ("person-reactivated".to_string(), "scim".to_string())
        ]
    );
    // A batch mixing an attribute outside the schema with the deactivation still deactivates.
    let (status, _, body) = app
        .scim(&token, Method::PATCH, &format!("/Users/{id}"), Some(&patch(json!([
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:costCentre", "value": "42"},
            {"op": "replace", "path": "active", "value": false}
        ])))).await;
    assert_eq!(
        (status, body["active"].clone()),
        (200, json!(false)),
        "{body}"
    );
    assert_eq!(app.lifecycle_events(&id).await.len(), 3);
}

pub fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

on_both_engines!(
    entra_default_dialect_conversation,
    entra_feature_flag_dialect_conversation
);
