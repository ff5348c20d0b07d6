use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, TestApp};
use crate::on_both_engines;

async fn agent_with_a_credential_reads_back_without_the_secret(app: TestApp) {
    let created = app
        .create_agent(&json!({
            "name": "invoice-bot",
            "description": "reconciles invoices",
            "platform": "langchain",
            "owner_email": "ada@example.com",
            "credentials": [{
                "provider": "slack", "kind": "api_key", "external_id": "B123",
                "secret": "xoxb-invoice-bot-secret", "scopes": "chat:write files:read",
                "expires_at": "2027-01-01T00:00:00Z"
            }]
        }))
        .await;
    let id = created["id"].as_str().unwrap();
    let fetched: Value = app
        .get(&format!("/api/v1/agents/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["name"], "invoice-bot");
    assert_eq!(fetched["platform"], "langchain");
    let credential = &fetched["credentials"][0];
    assert_eq!(credential["provider"], "slack");
    assert_eq!(credential["kind"], "api_key");
    assert_eq!(credential["scopes"], json!(["chat:write", "files:read"]));
    assert_eq!(credential["has_secret"], true);
    assert_eq!(credential["expires_at"], "2027-01-01T00:00:00Z");
    assert_eq!(credential["fingerprint_prefix"].as_str().unwrap().len(), 12);
    assert!(credential.get("secret").is_none());
    assert!(!fetched.to_string().contains("xoxb-invoice-bot-secret"));
}

async fn unknown_owner_email_is_an_orphan_until_the_person_appears(app: TestApp) {
    let agent = app
        .create_agent(&json!({"name": "shadow-bot", "owner_email": "Grace@Example.com"}))
        .await;
    assert_eq!(agent["owner"], Value::Null);
    assert_eq!(agent["owner_resolved"], false);
    assert_eq!(agent["orphaned"], true);
    assert_eq!(agent["orphan_reason"], "owner_unresolved");
    let orphans: Value = app
        .get("/api/v1/agents?orphaned=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(orphans["items"].as_array().unwrap().len(), 1);

    let person = app
        .create_person(&json!({"display_name": "Grace Hopper", "emails": ["grace@example.com"]}))
        .await;
    let id = agent["id"].as_str().unwrap();
    let resolved: Value = app
        .get(&format!("/api/v1/agents/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(resolved["owner"]["id"], person["id"]);
    assert_eq!(resolved["owner"]["display_name"], "Grace Hopper");
    assert_eq!(resolved["orphaned"], false);
    let orphans: Value = app
        .get("/api/v1/agents?orphaned=true")
        .await
        .json()
        .await
        .unwrap();
    assert!(orphans["items"].as_array().unwrap().is_empty());

    // Deactivating the owner orphans the agent again.
    let pid = person["id"].as_str().unwrap();
    app.patch(&format!("/api/v1/people/{pid}"), &json!({"active": false}))
        .await;
    let inactive: Value = app
        .get(&format!("/api/v1/agents/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inactive["orphan_reason"], "owner_inactive");
}

async fn owner_by_id_must_exist(app: TestApp) {
    let missing = app
        .post(
            "/api/v1/agents",
            &json!({"name": "x", "owner_id": "no-such-person"}),
        )
        .await;
    let body = assert_problem(missing, 422, "validation_failed").await;
    assert_eq!(body["field"], "owner_id");
    let person = app
        .create_person(&json!({"emails": ["lin@example.com"]}))
        .await;
    let agent = app
        .create_agent(&json!({"name": "x", "owner_id": person["id"]}))
        .await;
    assert_eq!(agent["owner"]["email"], "lin@example.com");
    assert_eq!(agent["orphaned"], false);
}

async fn an_agent_has_several_owners_and_is_orphaned_only_when_none_is_active(app: TestApp) {
    let ada = app
        .create_person(&json!({"emails": ["ada@example.com"]}))
        .await;
    let scim = app.scim_token().await;
    let (_, _, bob) = app
        .scim(&scim, reqwest::Method::POST, "/Users", Some(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bob@example.com"})))
        .await;
    let (_, _, group) = app
        .scim(
            &scim,
            reqwest::Method::POST,
            "/Groups",
            Some(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Ops",
            "members": [{"value": bob["id"]}]})),
        )
        .await;
    let agent = app
        .create_agent(&json!({"name": "ops-bot", "owners": [
            {"email": "ghost@example.com"}, {"person_id": ada["id"]}, {"group_id": group["id"]}]}))
        .await;
    let id = agent["id"].as_str().unwrap();
    let kinds: Vec<(Value, Value)> = agent["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["type"].clone(), o["resolved"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            (json!("person"), json!(false)),
            (json!("person"), json!(true)),
            (json!("group"), json!(true))
        ]
    );
    // The single-owner fields show the first person owner, as registered.
    assert_eq!(
        (
            agent["owner_email"].clone(),
            agent["owner_resolved"].clone()
        ),
        (json!("ghost@example.com"), json!(false))
    );
    assert_eq!(agent["orphaned"], false);

    // Ada leaves: the group's active member still answers for it.
    app.patch(
        &format!("/api/v1/people/{}", ada["id"].as_str().unwrap()),
        &json!({"active": false}),
    )
    .await;
    let now: Value = app
        .get(&format!("/api/v1/agents/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["orphaned"], false, "{now}");
    // Bob leaves the group: nobody active is left.
    app.scim(
        &scim,
        reqwest::Method::PATCH,
        &format!("/Groups/{}", group["id"].as_str().unwrap()),
        Some(
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                     "Operations": [{"op": "remove", "path": "members"}]}),
        ),
    )
    .await;
    let now: Value = app
        .get(&format!("/api/v1/agents/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (now["orphaned"].clone(), now["orphan_reason"].clone()),
        (json!(true), json!("owner_inactive"))
    );
    let orphans: Value = app
        .get("/api/v1/agents?orphaned=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(orphans["items"][0]["id"], id);

    // Replacing the owners through the API; bad owner lists are refused, naming the field.
    let patched = app
        .patch(
            &format!("/api/v1/agents/{id}"),
            &json!({"owners": [{"email": "lin@example.com"}]}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let now: Value = app
        .get(&format!("/api/v1/agents/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["owners"].as_array().unwrap().len(), 1);
    assert_eq!(now["orphan_reason"], "owner_unresolved");
    for (body, field) in [
        (
            json!({"name": "a", "owners": [{"email": "x@example.com"}], "owner_email": "y@example.com"}),
            "owners",
        ),
        (json!({"name": "b", "owners": []}), "owner_email"),
        (
            json!({"name": "c", "owners": [{"group_id": "no-such-group"}]}),
            "owners[0]",
        ),
        (
            json!({"name": "d", "owners": [{"email": "x@example.com", "group_id": "g"}]}),
            "owners[0]",
        ),
    ] {
        let refused = app.post("/api/v1/agents", &body).await;
        let problem = assert_problem(refused, 422, "validation_failed").await;
        assert_eq!(problem["field"], field, "{body}");
    }
}

async fn same_secret_for_two_agents_is_one_credential_linked_to_both(app: TestApp) {
    let shared =
        json!({"provider": "github", "kind": "api_key", "secret": "ghp_shared_between_two"});
    let first = app
        .create_agent(
            &json!({"name": "first", "owner_email": "a@example.com", "credentials": [shared]}),
        )
        .await;
    let second = app
        .create_agent(
            &json!({"name": "second", "owner_email": "b@example.com", "credentials": [shared]}),
        )
        .await;
    assert_eq!(first["credentials"][0]["outcome"], "created");
    assert_eq!(second["credentials"][0]["outcome"], "linked_existing");
    let credential_id = first["credentials"][0]["id"].as_str().unwrap();
    assert_eq!(second["credentials"][0]["id"], credential_id);
    assert_eq!(app.store.count_rows("credentials").await.unwrap(), 1);

    let credential: Value = app
        .get(&format!("/api/v1/credentials/{credential_id}"))
        .await
        .json()
        .await
        .unwrap();
    let mut agent_ids: Vec<&str> = credential["agent_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    agent_ids.sort();
    let mut expected = vec![
        first["id"].as_str().unwrap(),
        second["id"].as_str().unwrap(),
    ];
    expected.sort();
    assert_eq!(agent_ids, expected);
    assert_eq!(credential["shared"], true);
    let shared_list: Value = app
        .get("/api/v1/credentials?shared=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shared_list["items"].as_array().unwrap().len(), 1);

    // Adding it again to the first agent is a no-op.
    let again = app
        .post(
            &format!(
                "/api/v1/agents/{}/credentials",
                first["id"].as_str().unwrap()
            ),
            &shared,
        )
        .await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["outcome"], "already_linked");
}

async fn external_id_identifies_a_credential_and_guards_its_secret(app: TestApp) {
    let cred = json!({"provider": "vault", "kind": "other", "external_id": "accessor-1"});
    let a = app
        .create_agent(&json!({"name": "a", "owner_email": "a@example.com", "credentials": [cred]}))
        .await;
    let with_secret = json!({"provider": "vault", "kind": "other", "external_id": "accessor-1", "secret": "hvs.first"});
    let b = app
        .create_agent(
            &json!({"name": "b", "owner_email": "a@example.com", "credentials": [with_secret]}),
        )
        .await;
    assert_eq!(b["credentials"][0]["id"], a["credentials"][0]["id"]);
    assert_eq!(b["credentials"][0]["has_secret"], true);

    let before = app.row_counts().await;
    let conflicting = app
        .post(
            "/api/v1/agents",
            &json!({"name": "c", "owner_email": "a@example.com", "credentials": [
                {"provider": "vault", "kind": "other", "external_id": "accessor-1", "secret": "hvs.other"}
            ]}),
        )
        .await;
    let body = assert_problem(conflicting, 409, "conflict").await;
    assert!(!body.to_string().contains("hvs.other"));
    assert_eq!(
        app.row_counts().await,
        before,
        "a failed registration left a partial agent"
    );
}

async fn existing_credentials_can_be_linked_and_unlinked(app: TestApp) {
    let a = app
        .create_agent(
            &json!({"name": "a", "owner_email": "a@example.com", "credentials": [
                {"provider": "okta", "kind": "oauth_refresh_token", "secret": "rt-1"}
            ]}),
        )
        .await;
    let b = app
        .create_agent(&json!({"name": "b", "owner_email": "b@example.com"}))
        .await;
    let (aid, bid) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let cid = a["credentials"][0]["id"].as_str().unwrap();

    let linked = app
        .request(
            Method::PUT,
            &format!("/api/v1/agents/{bid}/credentials/{cid}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(linked.status(), 200);
    let listed: Value = app
        .get(&format!("/api/v1/agents/{bid}/credentials"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["id"], cid);

    let missing = app
        .request(
            Method::PUT,
            &format!("/api/v1/agents/{bid}/credentials/nope"),
        )
        .send()
        .await
        .unwrap();
    assert_problem(missing, 404, "not_found").await;

    let unlinked = app
        .request(
            Method::DELETE,
            &format!("/api/v1/agents/{aid}/credentials/{cid}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unlinked.status(), 204);
    let credential: Value = app
        .get(&format!("/api/v1/credentials/{cid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(credential["agent_ids"], json!([bid]));
}

async fn agents_can_be_updated_and_deleted(app: TestApp) {
    let agent = app
        .create_agent(
            &json!({"name": "updatable", "owner_email": "a@example.com", "platform": "n8n"}),
        )
        .await;
    let id = agent["id"].as_str().unwrap();
    let updated: Value = app
        .patch(
            &format!("/api/v1/agents/{id}"),
            &json!({"status": "disabled", "description": "paused for review", "platform": null}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(updated["status"], "disabled");
    assert_eq!(updated["description"], "paused for review");
    assert_eq!(updated["platform"], Value::Null);

    let duplicate = app
        .post(
            "/api/v1/agents",
            &json!({"name": "UPDATABLE", "owner_email": "b@example.com"}),
        )
        .await;
    assert_problem(duplicate, 409, "conflict").await;

    let deleted = app
        .request(Method::DELETE, &format!("/api/v1/agents/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_problem(
        app.get(&format!("/api/v1/agents/{id}")).await,
        404,
        "not_found",
    )
    .await;
    // The name is free again; the deleted agent's history stays in the audit log.
    app.create_agent(&json!({"name": "updatable", "owner_email": "b@example.com"}))
        .await;
    let history: Value = app
        .get(&format!("/api/v1/audit?subject_kind=agent&subject_id={id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["items"].as_array().unwrap().len(), 3);
}

async fn list_filters_by_owner_status_orphaned_and_platform(app: TestApp) {
    let ada = app
        .create_person(&json!({"emails": ["ada@example.com"]}))
        .await;
    app.create_agent(
        &json!({"name": "a1", "owner_email": "ada@example.com", "platform": "zapier"}),
    )
    .await;
    app.create_agent(&json!({"name": "a2", "owner_email": "ada@example.com", "platform": "n8n", "status": "disabled"}))
        .await;
    app.create_agent(
        &json!({"name": "b1", "owner_email": "ghost@example.com", "platform": "zapier"}),
    )
    .await;
    let names = |v: Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_string())
            .collect()
    };
    let by = |q: &'static str| {
        let app = &app;
        async move {
            names(
                app.get(&format!("/api/v1/agents?{q}"))
                    .await
                    .json()
                    .await
                    .unwrap(),
            )
        }
    };
    assert_eq!(by("owner=ada@example.com").await, ["a1", "a2"]);
    assert_eq!(by("owner=ADA@example.com").await, ["a1", "a2"]);
    assert_eq!(
        names(
            app.get(&format!(
                "/api/v1/agents?owner={}",
                ada["id"].as_str().unwrap()
            ))
            .await
            .json()
            .await
            .unwrap()
        ),
        ["a1", "a2"]
    );
    assert_eq!(by("owner=ghost@example.com").await, ["b1"]);
    assert_eq!(by("status=disabled").await, ["a2"]);
    assert_eq!(by("orphaned=true").await, ["b1"]);
    assert_eq!(by("orphaned=false").await, ["a1", "a2"]);
    assert_eq!(by("platform=zapier").await, ["a1", "b1"]);
    assert_eq!(by("platform=zapier&orphaned=false").await, ["a1"]);
    assert_problem(
        app.get("/api/v1/agents?status=sleeping").await,
        400,
        "invalid_query",
    )
    .await;
    assert_problem(app.get("/api/v1/agents?ownr=x").await, 400, "invalid_query").await;
}

async fn pagination_is_stable_and_complete(app: TestApp) {
    for i in 0..7 {
        app.create_agent(&json!({"name": format!("bot-{i}"), "owner_email": "a@example.com"}))
            .await;
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/agents?limit=3".to_string();
    loop {
        let page: Value = app.get(&path).await.json().await.unwrap();
        for agent in page["items"].as_array().unwrap() {
            seen.push(agent["name"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/agents?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).map(|i| format!("bot-{i}")).collect();
    assert_eq!(seen, expected);
    assert_problem(
        app.get("/api/v1/agents?limit=0").await,
        400,
        "invalid_query",
    )
    .await;
    assert_problem(
        app.get("/api/v1/agents?limit=100000").await,
        400,
        "invalid_query",
    )
    .await;
}

on_both_engines!(
    agent_with_a_credential_reads_back_without_the_secret,
    an_agent_has_several_owners_and_is_orphaned_only_when_none_is_active,
    unknown_owner_email_is_an_orphan_until_the_person_appears,
    owner_by_id_must_exist,
    same_secret_for_two_agents_is_one_credential_linked_to_both,
    external_id_identifies_a_credential_and_guards_its_secret,
    existing_credentials_can_be_linked_and_unlinked,
    agents_can_be_updated_and_deleted,
    list_filters_by_owner_status_orphaned_and_platform,
    pagination_is_stable_and_complete
);
