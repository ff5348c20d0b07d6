//! Agents pushed by an identity provider to `/scim/v2/Agents`, the way
//! draft-abbey-scim-agent-extension and draft-wzdk-scim-agent-resource show them:
//! owners that are a User and a Group, PATCHes of owners in IdP dialects, and the
//! agent's lifecycle revoking its credentials at the real `oidc-provider`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::oauth_peer::{OAuthServer, REVOKER_CLIENT};
use crate::on_both_engines;

const AGENT: &str = "urn:ietf:params:scim:schemas:core:2.0:Agent";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A SCIM user and a SCIM group (whose one member is another user): the owners.
struct Directory {
    token: String,
    ana: String,
    bob: String,
    finops: String,
}

async fn directory(app: &TestApp) -> Directory {
    let token = app.scim_token().await;
    let user = |name: &str| {
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
               "active": true, "emails": [{"value": name, "primary": true}]})
    };
    let (_, _, ana) = app
        .scim(
            &token,
            Method::POST,
            "/Users",
            Some(&user("ana@example.com")),
        )
        .await;
    let (_, _, bob) = app
        .scim(
            &token,
            Method::POST,
            "/Users",
            Some(&user("bob@example.com")),
        )
        .await;
    let (status, _, finops) = app
        .scim(
            &token,
            Method::POST,
            "/Groups",
            Some(
                &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                         "displayName": "FinOps", "members": [{"value": bob["id"]}]}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{finops}");
    Directory {
        token,
        ana: ana["id"].as_str().unwrap().into(),
        bob: bob["id"].as_str().unwrap().into(),
        finops: finops["id"].as_str().unwrap().into(),
    }
}

/// Pushes `invoice-triage`, owned by Ana and FinOps as the draft's example does.
async fn push_agent(app: &TestApp, d: &Directory) -> Value {
    let body = json!({
        "schemas": [AGENT], "externalId": "okta-ag-7731", "name": "invoice-triage",
        "active": true, "agentType": "Assistant", "description": "Sorts supplier invoices",
        "owners": [
            {"value": d.ana, "$ref": format!("https://idp.example/scim/v2/Users/{}", d.ana)},
            {"value": d.finops, "$ref": format!("https://idp.example/scim/v2/Groups/{}", d.finops)}
        ],
        "sponsors": [{"value": "someone"}]
    });
    let (status, headers, agent) = app
        .scim(&d.token, Method::POST, "/Agents", Some(&body))
        .await;
    assert_eq!(status, 201, "{agent}");
    assert!(headers["location"]
        .to_str()
        .unwrap()
        .ends_with(&format!("/Agents/{}", agent["id"].as_str().unwrap())));
    agent
}

fn owner_ids(agent: &Value) -> Vec<String> {
    let mut ids: Vec<String> = agent["owners"]
        .as_array()
        .map(|o| {
            o.iter()
                .map(|o| o["value"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<&str>) -> Vec<String> {
    ids.sort();
    ids.into_iter().map(str::to_string).collect()
}

async fn a_pushed_agent_is_an_agent_of_the_inventory_with_its_owners(app: TestApp) {
    let d = directory(&app).await;
    let agent = push_agent(&app, &d).await;
    let id = agent["id"].as_str().unwrap();
    assert_eq!(agent["schemas"], json!([AGENT]));
    assert_eq!(agent["name"], "invoice-triage");
    assert_eq!(agent["agentUserName"], "invoice-triage");
    assert_eq!(agent["agentType"], "Assistant");
    assert_eq!(agent["active"], true);
    assert!(agent.get("sponsors").is_none(), "an unknown attribute kept");
    let owners = agent["owners"].as_array().unwrap();
    assert_eq!(owners[0]["type"], "User");
    assert_eq!(owners[0]["display"], "ana@example.com");
    assert_eq!(owners[1]["type"], "Group");
    assert_eq!(owners[1]["display"], "FinOps");
    assert!(owners[1]["$ref"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/scim/v2/Groups/{}", d.finops)));

    // One inventory: the same id in the admin API, with its source and owners.
    let listed: Value = app
        .get(&format!("/api/v1/agents/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["source"], "scim");
    assert_eq!(listed["external_id"], "okta-ag-7731");
    assert_eq!(listed["owner"]["id"], d.ana.as_str());
    assert_eq!(listed["owners"][1]["type"], "group");
    assert_eq!(listed["owners"][1]["active"], true);
    assert_eq!(listed["orphaned"], false);
    let by_source: Value = app
        .get("/api/v1/agents?source=scim")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_source["items"].as_array().unwrap().len(), 1);
    let by_group: Value = app
        .get(&format!("/api/v1/agents?owner={}", d.finops))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_group["items"][0]["id"], id);

    // Read-only there, except for credentials.
    let refused = app
        .patch(
            &format!("/api/v1/agents/{id}"),
            &json!({"description": "mine now"}),
        )
        .await;
    assert_eq!(refused.status(), 409);
    let deleted = app
        .request(Method::DELETE, &format!("/api/v1/agents/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 409);
    let added = app
        .post(
            &format!("/api/v1/agents/{id}/credentials"),
            &json!({"provider": "corp-oauth", "kind": "api_key", "external_id": "key-1"}),
        )
        .await;
    assert_eq!(added.status(), 201);

    // The filters the draft recommends, and owners.value.
    for filter in [
        "name eq \"INVOICE-triage\"".to_string(),
        "agentUserName eq \"invoice-triage\"".to_string(),
        "externalId eq \"okta-ag-7731\"".to_string(),
        format!("owners.value eq \"{}\"", d.finops),
        format!("owners[value eq \"{}\"]", d.ana),
        "active eq true".to_string(),
    ] {
        let (status, _, list) = app
            .scim(
                &d.token,
                Method::GET,
                &format!(
                    "/Agents?filter={}",
                    percent_encoding::utf8_percent_encode(
                        &filter,
                        percent_encoding::NON_ALPHANUMERIC
                    )
                ),
                None,
            )
            .await;
        assert_eq!(status, 200, "{filter}: {list}");
        assert_eq!(list["totalResults"], 1, "{filter}");
        assert_eq!(list["Resources"][0]["id"], id, "{filter}");
    }
    let (_, _, none) = app
        .scim(
            &d.token,
            Method::GET,
            "/Agents?filter=name%20eq%20%22other%22",
            None,
        )
        .await;
    assert_eq!(none["totalResults"], 0);
    let (status, _, found) = app
        .scim(
            &d.token,
            Method::POST,
            "/Agents/.search",
            Some(
                &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                         "filter": "externalId eq \"okta-ag-7731\"", "attributes": ["name"]}),
            ),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(found["Resources"][0]["name"], "invoice-triage");
    assert!(found["Resources"][0].get("owners").is_none());
    let (_, _, slim) = app
        .scim(
            &d.token,
            Method::GET,
            &format!("/Agents/{id}?excludedAttributes=owners"),
            None,
        )
        .await;
    assert!(slim.get("owners").is_none() && slim["name"] == "invoice-triage");

    // An agent the API registered is no SCIM resource.
    let api_agent = app
        .create_agent(&json!({"name": "by-hand", "owner_email": "ana@example.com"}))
        .await;
    let (status, _, _) = app
        .scim(
            &d.token,
            Method::GET,
            &format!("/Agents/{}", api_agent["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (_, _, all) = app.scim(&d.token, Method::GET, "/Agents", None).await;
    assert_eq!(all["totalResults"], 1);
}

async fn owners_are_patched_in_every_dialect_and_bad_owners_change_nothing(app: TestApp) {
    let d = directory(&app).await;
    let agent = push_agent(&app, &d).await;
    let id = agent["id"].as_str().unwrap();
    let path = format!("/Agents/{id}");
    let patch = |ops: Value| json!({"schemas": [PATCH], "Operations": ops});

    // The draft's example: remove one owner by filter, add another.
    let (status, headers, patched) = app
        .scim(
            &d.token,
            Method::PATCH,
            &path,
            Some(&patch(json!([
                {"op": "remove", "path": format!("owners[value eq \"{}\"]", d.ana)},
                {"op": "add", "path": "owners", "value": [{"value": d.bob, "$ref": format!("../Users/{}", d.bob)}]}
            ]))),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(owner_ids(&patched), sorted(vec![&d.bob, &d.finops]));
    let etag = headers["etag"].to_str().unwrap().to_string();

    // Entra ID capitalises its ops and adds by value list without a path filter.
    let (status, _, patched) = app
        .scim(
            &d.token,
            Method::PATCH,
            &path,
            Some(&patch(json!([
                {"op": "Add", "path": "owners", "value": [{"value": d.ana, "type": "User"}]},
                {"op": "Remove", "path": "owners", "value": [{"value": d.finops}]}
            ]))),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(owner_ids(&patched), sorted(vec![&d.ana, &d.bob]));

    // Replace the whole set, path-less as Okta does.
    let (status, _, patched) = app
        .scim(
            &d.token,
            Method::PATCH,
            &path,
            Some(&patch(json!([
                {"op": "Replace", "value": {"owners": [{"value": d.finops}], "description": "v2"}}
            ]))),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(owner_ids(&patched), vec![d.finops.clone()]);
    assert_eq!(patched["description"], "v2");

    // A stale ETag and an owner that is nobody are refused, and nothing changes.
    let before = app.row_counts().await;
    let stale = app
        .client
        .patch(format!("{}/scim/v2{path}", app.address))
        .bearer_auth(&d.token)
        .header("If-Match", &etag)
        .json(&patch(
            json!([{"op": "replace", "path": "description", "value": "v3"}]),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let (status, _, error) = app
        .scim(
            &d.token,
            Method::PATCH,
            &path,
            Some(&patch(
                json!([{"op": "add", "path": "owners", "value": [{"value": "nobody-at-all"}]}]),
            )),
        )
        .await;
    assert_eq!(
        (status, error["scimType"].clone()),
        (400, json!("invalidValue"))
    );
    assert!(error["detail"].as_str().unwrap().contains("nobody-at-all"));
    assert_eq!(
        app.row_counts().await,
        before,
        "a refused PATCH wrote something"
    );
    let (_, _, now) = app.scim(&d.token, Method::GET, &path, None).await;
    assert_eq!(owner_ids(&now), vec![d.finops.clone()]);

    // The wzdk draft names the handle agentUserName: it is the same attribute.
    let (status, _, renamed) = app
        .scim(
            &d.token,
            Method::PATCH,
            &path,
            Some(&patch(
                json!([{"op": "replace", "path": "agentUserName", "value": "invoice-sorter"}]),
            )),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (renamed["name"].clone(), renamed["agentUserName"].clone()),
        (json!("invoice-sorter"), json!("invoice-sorter"))
    );
    let (status, _, wzdk) = app
        .scim(
            &d.token,
            Method::POST,
            "/Agents",
            Some(
                &json!({"schemas": [AGENT.to_lowercase()], "agentUserName": "mail-bot",
                         "owners": [{"value": d.ana}], "subject": "sub-123"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{wzdk}");
    assert_eq!(wzdk["name"], "mail-bot");
    let (status, _, refused) = app
        .scim(
            &d.token,
            Method::PATCH,
            &format!("/Agents/{}", wzdk["id"].as_str().unwrap()),
            Some(&patch(
                json!([{"op": "replace", "path": "subject", "value": "sub-999"}]),
            )),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    let (status, _, _) = app
        .scim(
            &d.token,
            Method::POST,
            "/Agents",
            Some(&json!({"schemas": [AGENT], "name": "Mail-Bot"})),
        )
        .await;
    assert_eq!(status, 409, "a second agent of the same name");

    // Both drafts at once, with different values: both are kept, each is a handle.
    let (status, _, both) = app
        .scim(
            &d.token,
            Method::POST,
            "/Agents",
            Some(&json!({"schemas": [AGENT], "name": "Triage Agent",
                         "agentUserName": "triage-7f3", "owners": [{"value": d.ana}]})),
        )
        .await;
    assert_eq!(status, 201, "{both}");
    assert_eq!(
        (both["name"].clone(), both["agentUserName"].clone()),
        (json!("Triage Agent"), json!("triage-7f3"))
    );
    let both_path = format!("/Agents/{}", both["id"].as_str().unwrap());
    for filter in [
        r#"agentUserName eq "TRIAGE-7F3""#,
        r#"name eq "triage agent""#,
    ] {
        let (status, _, found) = app
            .scim(
                &d.token,
                Method::GET,
                &format!("/Agents?filter={}", urlencode(filter)),
                None,
            )
            .await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["totalResults"], 1, "{filter}: {found}");
        assert_eq!(found["Resources"][0]["id"], both["id"]);
    }
    for clash in [
        json!({"schemas": [AGENT], "name": "other", "agentUserName": "Triage-7F3"}),
        json!({"schemas": [AGENT], "name": "triage-7f3"}),
        json!({"schemas": [AGENT], "agentUserName": "triage agent"}),
    ] {
        let (status, _, answer) = app
            .scim(&d.token, Method::POST, "/Agents", Some(&clash))
            .await;
        assert_eq!(status, 409, "{clash} → {answer}");
    }
    // Removing one handle gives it the other's value; PUT keeps both as written.
    let (status, _, removed) = app
        .scim(
            &d.token,
            Method::PATCH,
            &both_path,
            Some(&patch(json!([{"op": "remove", "path": "agentUserName"}]))),
        )
        .await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed["agentUserName"], "Triage Agent");
    let (status, _, replaced) = app
        .scim(
            &d.token,
            Method::PUT,
            &both_path,
            Some(&json!({"schemas": [AGENT], "name": "Triage Agent",
                         "agentUserName": "triage-8", "owners": [{"value": d.ana}]})),
        )
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["agentUserName"], "triage-8");
    assert_eq!(replaced["name"], "Triage Agent");
}

async fn removing_every_owner_makes_an_orphan_finding_at_once(app: TestApp) {
    let d = directory(&app).await;
    let agent = push_agent(&app, &d).await;
    let id = agent["id"].as_str().unwrap();
    let (status, _, patched) = app
        .scim(
            &d.token,
            Method::PATCH,
            &format!("/Agents/{id}"),
            Some(&json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": "owners"}]})),
        )
        .await;
    assert_eq!(status, 200);
    assert!(patched.get("owners").is_none());
    let orphans: Value = app
        .get("/api/v1/findings?kind=orphaned_agent")
        .await
        .json()
        .await
        .unwrap();
    let finding = orphans["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["agent"]["id"] == id)
        .expect("an orphan finding for the agent");
    assert_eq!(finding["facts"]["reason"], "no_owner");
    assert_eq!(finding["agent"]["source"], "scim");
}

/// Ana owns two agents with two real tokens; `mail-bot` is owned only by her.
async fn agents_with_tokens(
    app: &TestApp,
    d: &Directory,
    oauth: &OAuthServer,
) -> (String, String, String) {
    let agent = push_agent(app, d).await;
    let id = agent["id"].as_str().unwrap().to_string();
    let token = oauth.token().await;
    let added = app
        .post(
            &format!("/api/v1/agents/{id}/credentials"),
            &json!({"provider": "corp-oauth", "kind": "oauth_access_token", "secret": token}),
        )
        .await;
    assert_eq!(added.status(), 201);
    assert!(oauth.is_active(&token).await);
    (id, token, agent["name"].as_str().unwrap().to_string())
}

async fn deactivating_a_pushed_agent_revokes_its_credentials_and_proves_them_dead(app: TestApp) {
    let Some(oauth) = OAuthServer::start() else {
        return;
    };
    let d = directory(&app).await;
    let (id, token, _) = agents_with_tokens(&app, &d, &oauth).await;
    let (status, _, patched) = app
        .scim(
            &d.token,
            Method::PATCH,
            &format!("/Agents/{id}"),
            Some(&json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]})),
        )
        .await;
    assert_eq!((status, patched["active"].clone()), (200, json!(false)));
    app.run_jobs_with(json!([oauth.provider("corp-oauth", REVOKER_CLIENT.1)]))
        .await;
    assert!(!oauth.is_active(&token).await, "the agent's token is alive");
    assert_eq!(oauth.resource(&token).await, 401);
    let case = agent_case(&app, &id).await;
    assert_eq!(case["items"][0]["status"], "verified_dead");
    assert_eq!(
        (
            case["case"]["status"].clone(),
            case["case"]["outcome"].clone()
        ),
        (json!("closed"), json!("revoked"))
    );
    assert_eq!(case["case"]["agent_id"], id.as_str());
    // The same report sections as a departure: the revocation is proven, for the record.
    let verified: Value = app
        .get("/api/v1/findings?kind=revocation_verified")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        verified["items"][0]["agent"]["id"],
        id.as_str(),
        "{verified}"
    );
    assert_eq!(verified["items"][0]["agent"]["source"], "scim");
    assert!(!crate::helpers::captured_logs().contains(&token));
}

async fn deleting_a_pushed_agent_revokes_its_credentials(app: TestApp) {
    let Some(oauth) = OAuthServer::start() else {
        return;
    };
    let d = directory(&app).await;
    let (id, token, _) = agents_with_tokens(&app, &d, &oauth).await;
    let (status, _, _) = app
        .scim(&d.token, Method::DELETE, &format!("/Agents/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _, _) = app
        .scim(&d.token, Method::GET, &format!("/Agents/{id}"), None)
        .await;
    assert_eq!(status, 404);
    app.run_jobs_with(json!([oauth.provider("corp-oauth", REVOKER_CLIENT.1)]))
        .await;
    assert!(
        !oauth.is_active(&token).await,
        "a deleted agent's token is alive"
    );
    assert_eq!(
        agent_case(&app, &id).await["items"][0]["status"],
        "verified_dead"
    );
}

async fn one_of_two_owners_leaving_revokes_nothing_and_the_last_one_does(app: TestApp) {
    let Some(oauth) = OAuthServer::start() else {
        return;
    };
    let d = directory(&app).await;
    let (id, token, _) = agents_with_tokens(&app, &d, &oauth).await;
    let providers = json!([oauth.provider("corp-oauth", REVOKER_CLIENT.1)]);
    let leave = |who: String| {
        let app = &app;
        let token = d.token.clone();
        async move {
            let (status, _, _) = app
                .scim(
                    &token,
                    Method::PATCH,
                    &format!("/Users/{who}"),
                    Some(&json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]})),
                )
                .await;
            assert_eq!(status, 200);
        }
    };
    // Ana leaves; FinOps (Bob) still owns the agent: nothing is revoked.
    leave(d.ana.clone()).await;
    app.run_jobs_with(providers.clone()).await;
    assert!(
        oauth.is_active(&token).await,
        "revoked while an owner is left"
    );
    let agent: Value = app
        .get(&format!("/api/v1/agents/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(agent["orphaned"], false);
    // Recorded on the agent itself.
    assert_eq!(agent["events"][0]["kind"], "owner-lost", "{agent}");
    assert_eq!(agent["events"][0]["person_id"], d.ana.as_str());
    let lost: Value = app
        .get("/api/v1/findings?kind=agent_lost_owner")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(lost["items"][0]["agent"]["id"], id.as_str(), "{lost}");
    assert_eq!(lost["items"][0]["facts"]["lost_person_id"], d.ana.as_str());
    let case: Value = app
        .get(&format!("/api/v1/offboardings?person_id={}", d.ana))
        .await
        .json()
        .await
        .unwrap();
    let case: Value = app
        .get(&format!(
            "/api/v1/offboardings/{}",
            case["items"][0]["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(case["items"].as_array().unwrap().len(), 0, "{case}");

    // Bob, the last active member of the owner group, leaves: now it is revoked.
    leave(d.bob.clone()).await;
    app.run_jobs_with(providers).await;
    assert!(
        !oauth.is_active(&token).await,
        "the last owner left and it lives"
    );
    let agent: Value = app
        .get(&format!("/api/v1/agents/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (agent["orphaned"].clone(), agent["orphan_reason"].clone()),
        (json!(true), json!("owner_inactive"))
    );
    let lost: Value = app
        .get("/api/v1/findings?kind=agent_lost_owner")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        lost["items"].as_array().unwrap().is_empty(),
        "an orphan is reported as one: {lost}"
    );
}

async fn an_import_attaches_credentials_to_a_pushed_agent_and_changes_nothing_else(app: TestApp) {
    let d = directory(&app).await;
    let agent = push_agent(&app, &d).await;
    let id = agent["id"].as_str().unwrap();
    let file = app.dir.path().join("credentials.csv");
    // By the identity provider's id, then by name; the third row would change the agent.
    std::fs::write(
        &file,
        "name,agent_external_id,platform,provider,kind,external_id\n\
         any-name,okta-ag-7731,,slack,api_key,S1\n\
         invoice-triage,,,github,api_key,G1\n",
    )
    .unwrap();
    let done = app.cli(&["agents", "import", file.to_str().unwrap()]);
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let listed: Value = app
        .get(&format!("/api/v1/agents/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["credential_count"], 2, "{listed}");
    let (_, _, all) = app.scim(&d.token, Method::GET, "/Agents", None).await;
    assert_eq!(all["totalResults"], 1, "the import created another agent");

    std::fs::write(
        &file,
        "name,platform,provider,kind,external_id\ninvoice-triage,zapier,slack,api_key,S2\n",
    )
    .unwrap();
    let refused = app.cli(&["agents", "import", file.to_str().unwrap()]);
    assert_ne!(refused.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("managed by SCIM"));
    let after: Value = app
        .get(&format!("/api/v1/agents/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (after["credential_count"].clone(), after["platform"].clone()),
        (json!(2), json!("Assistant"))
    );
}

async fn bad_agent_requests_get_scim_errors_and_change_nothing(app: TestApp) {
    let d = directory(&app).await;
    push_agent(&app, &d).await;
    let before = app.row_counts().await;
    let url = format!("{}/scim/v2/Agents", app.address);
    let send = |body: String, token: Option<&str>| {
        let mut request = app
            .client
            .post(&url)
            .header("content-type", "application/scim+json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    for (body, token, status, scim_type) in [
        (
            "{\"name\": ".to_string(),
            Some(d.token.as_str()),
            400,
            Some("invalidSyntax"),
        ),
        (
            "[1, 2]".to_string(),
            Some(d.token.as_str()),
            400,
            Some("invalidSyntax"),
        ),
        (
            json!({"name": "x", "active": "maybe"}).to_string(),
            Some(d.token.as_str()),
            400,
            Some("invalidValue"),
        ),
        (
            json!({"description": "no name"}).to_string(),
            Some(d.token.as_str()),
            400,
            Some("invalidValue"),
        ),
        (
            json!({"name": "x", "owners": [{"display": "no value"}]}).to_string(),
            Some(d.token.as_str()),
            400,
            Some("invalidValue"),
        ),
        // An owner's type is User or Group, and must be what its value names.
        (
            json!({"name": "x", "owners": [{"value": d.ana, "type": "Group"}]}).to_string(),
            Some(d.token.as_str()),
            400,
            Some("invalidValue"),
        ),
        (
            json!({"name": "x", "owners": [{"value": d.finops, "type": "User"}]}).to_string(),
            Some(d.token.as_str()),
            400,
            Some("invalidValue"),
        ),
        (
            json!({"name": "x", "owners": [{"value": d.ana, "type": "manager"}]}).to_string(),
            Some(d.token.as_str()),
            400,
            Some("invalidValue"),
        ),
        (
            format!(
                "{{\"name\": \"{}\"}}",
                "x".repeat(crate::helpers::TEST_MAX_BODY)
            ),
            Some(d.token.as_str()),
            413,
            None,
        ),
        (json!({"name": "x"}).to_string(), None, 401, None),
        (
            json!({"name": "x"}).to_string(),
            Some(app.admin_token.as_str()),
            403,
            None,
        ),
    ] {
        let response = send(body.clone(), token).await.unwrap();
        let got = response.status().as_u16();
        let error: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(got, status, "{}: {error}", &body[..body.len().min(60)]);
        assert_eq!(
            error["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
            "{error}"
        );
        if let Some(scim_type) = scim_type {
            assert_eq!(error["scimType"], scim_type, "{error}");
        }
    }
    assert_eq!(
        app.row_counts().await,
        before,
        "a refused request changed something"
    );
}

/// An agent's `active` follows a User's: a PUT that leaves it out keeps a disabled
/// agent disabled (no silent reactivation), and removing it deactivates, opening the
/// case that revokes the agent's credentials. Owners' `$ref` and `display` are
/// ownerbound's: written ones are ignored, and an owner's `type` reads back as
/// written.
async fn a_missing_active_never_reactivates_an_agent(app: TestApp) {
    let d = directory(&app).await;
    let agent = push_agent(&app, &d).await;
    let id = agent["id"].as_str().unwrap();
    let path = format!("/Agents/{id}");
    let patch = |ops: Value| json!({"schemas": [PATCH], "Operations": ops});

    let (status, _, kept) = app
        .scim(
            &d.token,
            Method::PATCH,
            &path,
            Some(&patch(json!([
            {"op": "replace", "path": "description", "value": "still sorting"}]))),
        )
        .await;
    assert_eq!((status, &kept["active"]), (200, &json!(true)), "{kept}");

    let (status, _, removed) = app
        .scim(
            &d.token,
            Method::PATCH,
            &path,
            Some(&patch(json!([
            {"op": "remove", "path": "active"}]))),
        )
        .await;
    assert_eq!(
        (status, &removed["active"]),
        (200, &json!(false)),
        "{removed}"
    );
    app.run_jobs().await;
    let case = agent_case(&app, id).await;
    assert_eq!(case["case"]["agent_id"], id, "{case}");

    let replacement = json!({
        "schemas": [AGENT], "name": "invoice-triage", "description": "replaced",
        "owners": [
            {"value": d.ana, "type": "User", "display": "Someone else",
             "$ref": "https://idp.example/scim/v2/Users/elsewhere"},
            {"value": d.finops, "type": "Group"}
        ]
    });
    let (status, _, replaced) = app
        .scim(&d.token, Method::PUT, &path, Some(&replacement))
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["active"], false, "{replaced}");
    let ana = replaced["owners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["value"] == json!(d.ana))
        .unwrap();
    assert_eq!(ana["type"], "User");
    assert_ne!(ana["display"], "Someone else", "{ana}");
    assert!(
        ana["$ref"].as_str().unwrap().starts_with(&app.address),
        "{ana}"
    );
}

/// The case whose subject is this agent, with its items.
async fn agent_case(app: &TestApp, agent_id: &str) -> Value {
    let cases: Value = app
        .get(&format!("/api/v1/offboardings?agent_id={agent_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cases["items"].as_array().unwrap().len(), 1, "{cases}");
    app.get(&format!(
        "/api/v1/offboardings/{}",
        cases["items"][0]["id"].as_str().unwrap()
    ))
    .await
    .json()
    .await
    .unwrap()
}

on_both_engines!(
    a_pushed_agent_is_an_agent_of_the_inventory_with_its_owners,
    owners_are_patched_in_every_dialect_and_bad_owners_change_nothing,
    removing_every_owner_makes_an_orphan_finding_at_once,
    deactivating_a_pushed_agent_revokes_its_credentials_and_proves_them_dead,
    deleting_a_pushed_agent_revokes_its_credentials,
    one_of_two_owners_leaving_revokes_nothing_and_the_last_one_does,
    an_import_attaches_credentials_to_a_pushed_agent_and_changes_nothing_else,
    bad_agent_requests_get_scim_errors_and_change_nothing,
    a_missing_active_never_reactivates_an_agent,
);

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
