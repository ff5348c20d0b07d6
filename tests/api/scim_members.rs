//! A Group member must be a user of the directory: one that references nothing is
//! refused with `400 invalidValue` naming it, and the request changes nothing (no
//! partial write, no audit entry, the same version), never dropped while answering 200.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::on_both_engines;
use crate::scim_failsafe::new_user;

async fn group_audit(app: &TestApp, id: &str) -> usize {
    let audit: Value = app
        .get(&format!("/api/v1/audit?subject_kind=group&subject_id={id}"))
        .await
        .json()
        .await
        .unwrap();
    audit["items"].as_array().unwrap().len()
}

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

async fn a_member_that_references_nothing_is_refused_and_nothing_changes(app: TestApp) {
    let token = app.scim_token().await;
    let kept = new_user(&app, &token, "kept").await;
    let departed = new_user(&app, &token, "departed").await;
    let (status, _, _) = app
        .scim(&token, Method::DELETE, &format!("/Users/{departed}"), None)
        .await;
    assert_eq!(status, 204);

    // Creating a group with an unknown member creates nothing.
    let (status, _, body) = app
        .scim(
            &token,
            Method::POST,
            "/Groups",
            Some(&json!({"displayName": "Ghosts", "members": [{"value": kept}, {"value": "no-such-user"}]})),
        )
        .await;
    assert_eq!(
        (status, body["scimType"].clone()),
        (400, json!("invalidValue")),
        "{body}"
    );
    assert!(
        body["detail"].as_str().unwrap().contains("no-such-user"),
        "{body}"
    );
    let (_, _, groups) = app.scim(&token, Method::GET, "/Groups", None).await;
    assert_eq!(groups["totalResults"], 0, "{groups}");

    let (status, _, group) = app
        .scim(
            &token,
            Method::POST,
            "/Groups",
            Some(&json!({"displayName": "Crew", "members": [{"value": kept}]})),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    let gid = group["id"].as_str().unwrap().to_string();
    let (status, _, other) = app
        .scim(
            &token,
            Method::POST,
            "/Groups",
            Some(&json!({"displayName": "Other"})),
        )
        .await;
    assert_eq!(status, 201);
    let other_group = other["id"].as_str().unwrap().to_string();
    let audit_before = group_audit(&app, &gid).await;
    let path = format!("/Groups/{gid}");

    let refused = [
        // PUT, also renaming: the rename must not be written either.
        (
            Method::PUT,
            json!({"displayName": "Renamed", "members": [{"value": kept}, {"value": "nobody"}]}),
            "nobody",
        ),
        // A user deleted since.
        (
            Method::PATCH,
            patch(json!([{"op": "add", "path": "members", "value": [{"value": departed}]}])),
            departed.as_str(),
        ),
        // Entra ID's capitalised op, with a rename in the same request.
        (
            Method::PATCH,
            patch(json!([
                {"op": "Replace", "path": "displayName", "value": "Renamed"},
                {"op": "Add", "path": "members", "value": [{"$ref": null, "value": "ghost-1"}]}
            ])),
            "ghost-1",
        ),
        (
            Method::PATCH,
            patch(json!([{"op": "replace", "path": "members", "value": [{"value": "ghost-2"}]}])),
            "ghost-2",
        ),
        (
            Method::PATCH,
            patch(
                json!([{"op": "replace", "value": {"members": [{"value": kept}, {"value": "ghost-3"}]}}]),
            ),
            "ghost-3",
        ),
        // A group is no member: nested groups are not supported.
        (
            Method::PATCH,
            patch(json!([{"op": "add", "path": "members", "value": [{"value": other_group}]}])),
            other_group.as_str(),
        ),
        // A member without a value references nothing.
        (
            Method::PATCH,
            patch(json!([{"op": "add", "path": "members", "value": [{"display": "Someone"}]}])),
            "value",
        ),
    ];
    for (method, body, named) in refused {
        let (status, _, error) = app.scim(&token, method.clone(), &path, Some(&body)).await;
        assert_eq!(
            (status, error["scimType"].clone()),
            (400, json!("invalidValue")),
            "{method} {body}: {error}"
        );
        assert!(error["detail"].as_str().unwrap().contains(named), "{error}");
        let (_, _, now) = app.scim(&token, Method::GET, &path, None).await;
        assert_eq!(now["displayName"], "Crew", "{body}");
        assert_eq!(now["members"], group["members"], "{body}");
        assert_eq!(now["meta"]["version"], group["meta"]["version"], "{body}");
    }
    assert_eq!(group_audit(&app, &gid).await, audit_before);

    // Known members still go in, and removing one that is not a member is no error.
    let newcomer = new_user(&app, &token, "newcomer").await;
    let (status, _, added) = app
        .scim(
            &token,
            Method::PATCH,
            &path,
            Some(&patch(json!([
                {"op": "add", "path": "members", "value": [{"value": newcomer}]},
                {"op": "remove", "path": "members[value eq \"never-a-member\"]"}
            ]))),
        )
        .await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(added["members"].as_array().unwrap().len(), 2, "{added}");
}

on_both_engines!(a_member_that_references_nothing_is_refused_and_nothing_changes);
