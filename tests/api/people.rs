use ownerbound::domain::PersonSource;
use ownerbound::store::people::{PersonEmail, PersonFields};
use serde_json::{json, Value};

use crate::helpers::{assert_problem, TestApp};
use crate::on_both_engines;

async fn people_are_created_read_listed_and_updated(app: TestApp) {
    let person = app
        .create_person(&json!({
            "user_name": "ada", "display_name": "Ada Lovelace",
            "emails": ["Ada@Example.com", "ada.l@example.org"],
            "employee_number": "E-1", "hr_ids": {"bamboohr": "123"}
        }))
        .await;
    assert_eq!(person["source"], "api");
    assert_eq!(person["active"], true);
    assert_eq!(person["emails"][0]["value"], "Ada@Example.com");
    assert_eq!(person["emails"][0]["is_primary"], true);
    assert_eq!(
        person["hr_ids"],
        json!([{"source": "bamboohr", "employee_id": "123"}])
    );
    let id = person["id"].as_str().unwrap();

    let by_email: Value = app
        .get("/api/v1/people?email=ada@example.com")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_email["items"][0]["id"], id);
    let by_text: Value = app
        .get("/api/v1/people?q=lovel")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_text["items"][0]["id"], id);

    let updated: Value = app
        .patch(
            &format!("/api/v1/people/{id}"),
            &json!({"display_name": "Countess Lovelace", "active": false}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(updated["display_name"], "Countess Lovelace");
    assert_eq!(updated["active"], false);
    assert_eq!(updated["version"], 2);
    let inactive: Value = app
        .get("/api/v1/people?active=false")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inactive["items"].as_array().unwrap().len(), 1);
    assert_problem(app.get("/api/v1/people/nope").await, 404, "not_found").await;
}

async fn identifiers_are_unique_and_emails_case_insensitively(app: TestApp) {
    app.create_person(
        &json!({"user_name": "ada", "emails": ["ada@example.com"], "hr_ids": {"hibob": "9"}}),
    )
    .await;
    let before = app.row_counts().await;
    for (body, what) in [
        (json!({"emails": ["ADA@example.com"]}), "email"),
        (
            json!({"user_name": "ADA", "emails": ["x@example.com"]}),
            "userName",
        ),
        (
            json!({"emails": ["y@example.com"], "hr_ids": {"hibob": "9"}}),
            "HR id",
        ),
    ] {
        let response = app.post("/api/v1/people", &body).await;
        let problem = assert_problem(response, 409, "conflict").await;
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{what}");
    }
    assert_eq!(app.row_counts().await, before);
    let invalid = app
        .post("/api/v1/people", &json!({"emails": ["not-an-email"]}))
        .await;
    assert_problem(invalid, 422, "validation_failed").await;
    let empty = app
        .post("/api/v1/people", &json!({"display_name": "nobody"}))
        .await;
    assert_problem(empty, 422, "validation_failed").await;
}

async fn scim_managed_people_only_accept_hr_id_links(app: TestApp) {
    let mut tx = app.store.begin().await.unwrap();
    let id = tx
        .insert_person(
            PersonSource::Scim,
            &PersonFields {
                user_name: Some("okta-user".into()),
                active: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    tx.replace_emails(
        &id,
        &[PersonEmail {
            value: "okta-user@example.com".into(),
            kind: Some("work".into()),
            is_primary: true,
        }],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let renamed = app
        .patch(
            &format!("/api/v1/people/{id}"),
            &json!({"display_name": "changed"}),
        )
        .await;
    assert_problem(renamed, 409, "conflict").await;
    let linked: Value = app
        .patch(
            &format!("/api/v1/people/{id}"),
            &json!({"hr_ids": {"gusto": "g-77"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        linked["hr_ids"],
        json!([{"source": "gusto", "employee_id": "g-77"}])
    );
    assert_eq!(linked["display_name"], Value::Null);
}

on_both_engines!(
    people_are_created_read_listed_and_updated,
    identifiers_are_unique_and_emails_case_insensitively,
    scim_managed_people_only_accept_hr_id_links
);

async fn non_ascii_emails_compare_case_insensitively_on_both_engines(app: TestApp) {
    app.create_person(&json!({"emails": ["Émile@Example.com"]}))
        .await;
    let clash = app
        .post("/api/v1/people", &json!({"emails": ["émile@example.com"]}))
        .await;
    assert_problem(clash, 409, "conflict").await;
    let found: Value = app
        .get("/api/v1/people?email=%C3%89MILE@EXAMPLE.COM")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    let agent = app
        .create_agent(&json!({"name": "e-bot", "owner_email": "ÉMILE@example.com"}))
        .await;
    assert_eq!(agent["owner_resolved"], true);
}

on_both_engines!(non_ascii_emails_compare_case_insensitively_on_both_engines);
