//! Everything served on `/scim/v2` validates against the schemas ownerbound serves at
//! `/Schemas`, and those are RFC 7643's: strict SCIM client libraries refuse anything
//! else. The validator is `scim_schema_check`; this file holds the reference
//! definitions, copied from RFC 7643 §8.7 into the compact notation described there,
//! and the conversations that exercise every response shape.
//!
//! A new resource type needs one more `Sample` (and, for its schema, one more
//! `REFERENCE` entry with the definition it follows): the test refuses a served
//! resource type or schema it has no sample or reference for.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;
use crate::on_both_engines;
use crate::scim_schema_check::{compare_definitions, definitions, Tightening, Validator};

/// RFC 7643 §8.7.1, User.
const USER: &str = "
userName string required uniq=server
name complex
  formatted string
  familyName string
  givenName string
  middleName string
  honorificPrefix string
  honorificSuffix string
displayName string
nickName string
profileUrl reference refs=external
title string
userType string
preferredLanguage string
locale string
timezone string
active boolean
password string mut=writeOnly ret=never
emails complex multi
  value string
  display string
  type string
  primary boolean
phoneNumbers complex multi
  value string
  display string
  type string
  primary boolean
ims complex multi
  value string
  display string
  type string
  primary boolean
photos complex multi
  value reference refs=external
  display string
  type string
  primary boolean
addresses complex multi
  formatted string
  streetAddress string
  locality string
  region string
  postalCode string
  country string
  type string
groups complex multi mut=readOnly
  value string mut=readOnly
  $ref reference mut=readOnly refs=User,Group
  display string mut=readOnly
  type string mut=readOnly
entitlements complex multi
  value string
  display string
  type string
  primary boolean
roles complex multi
  value string
  display string
  type string
  primary boolean
x509Certificates complex multi
  value binary
  display string
  type string
  primary boolean
";

/// RFC 7643 §8.7.1, Enterprise User.
const ENTERPRISE_USER: &str = "
employeeNumber string
costCenter string
organization string
division string
department string
manager complex
  value string
  $ref reference refs=User
  displayName string mut=readOnly
";

/// RFC 7643 §8.7.1, Group.
const GROUP: &str = "
displayName string
members complex multi
  value string mut=immutable
  $ref reference mut=immutable refs=User,Group
  type string mut=immutable
";

/// RFC 7643 §8.7.2, Service Provider Configuration; `authenticationSchemes.type` is
/// from §5, which makes it REQUIRED (the §8.7.2 representation leaves it out).
const SERVICE_PROVIDER_CONFIG: &str = "
documentationUri reference mut=readOnly refs=external
patch complex required mut=readOnly
  supported boolean required mut=readOnly
bulk complex required mut=readOnly
  supported boolean required mut=readOnly
  maxOperations integer required mut=readOnly
  maxPayloadSize integer required mut=readOnly
filter complex required mut=readOnly
  supported boolean required mut=readOnly
  maxResults integer required mut=readOnly
changePassword complex required mut=readOnly
  supported boolean required mut=readOnly
sort complex required mut=readOnly
  supported boolean required mut=readOnly
etag complex required mut=readOnly
  supported boolean required mut=readOnly
authenticationSchemes complex multi required mut=readOnly
  type string required mut=readOnly
  name string required mut=readOnly
  description string required mut=readOnly
  specUri reference mut=readOnly refs=external
  documentationUri reference mut=readOnly refs=external
";

/// draft-abbey-scim-agent-extension-00 §4 (the Agent schema JSON), plus
/// draft-wzdk-scim-agent-resource's `agentUserName` for the same handle. `protocols`
/// and `parent` are not served.
const AGENT: &str = "
name string required uniq=server
agentUserName string uniq=server
displayName string
description string
active boolean
agentType string
subject string mut=readOnly
owners complex multi mut=readOnly
  value string mut=readOnly
  $ref reference mut=readOnly refs=User,Group
  display string mut=readOnly
entitlements complex multi
  value string
  display string
  type string
  primary boolean
roles complex multi
  value string
  display string
  type string
  primary boolean
x509Certificates complex multi
  value binary
  display string
  type string
  primary boolean
groups complex multi mut=readOnly
  value string mut=readOnly
  $ref reference mut=readOnly refs=User,Group
  display string mut=readOnly
  type string mut=readOnly
applications complex multi mut=readOnly
  value string mut=readOnly
  $ref reference mut=readOnly refs=AgenticApplication
  display string mut=readOnly
";

/// draft-abbey-scim-agent-extension §5.2.4 (HEAD; -00 has no JSON for it, so this is
/// the prose: every attribute readWrite but `lastAccessed`, a timestamp the service
/// provider keeps; the prose's `ref` is the `$ref` of its example).
const AGENTIC_APPLICATION: &str = "
name string required uniq=server
displayName string
description string
active boolean
applicationUrls complex multi
  value string
  type string
  primary boolean
  description string
lastAccessed dateTime mut=readOnly
oAuthConfiguration complex multi
  clientId string
  description string
  audienceUri string
  issuerUri string
  redirectUri string multi
agents complex multi
  value string
  $ref reference refs=Agent
  display string
  type string
externalIdentifiers complex multi
  value string
  type string
  system string
";

/// draft-abbey-scim-agent-extension-00 §3: what the ServiceProviderConfig gains with
/// `[scim] advertise_agent_extension`.
const AGENT_EXTENSION_OF_CONFIG: &str = "
agentExtension complex mut=readOnly
  supported boolean required mut=readOnly
  agentsSupported boolean required mut=readOnly
  agenticApplicationsSupported boolean required mut=readOnly
";

/// RFC 7643 §8.7.2, Resource Type.
const RESOURCE_TYPE: &str = "
id string mut=readOnly
name string required mut=readOnly
description string mut=readOnly
endpoint reference required mut=readOnly refs=uri
schema reference required caseExact mut=readOnly refs=uri
schemaExtensions complex multi required mut=readOnly
  schema reference required caseExact mut=readOnly refs=uri
  required boolean required mut=readOnly
";

/// RFC 7643 §8.7.2, Schema (`attributes.subAttributes` has the characteristics of
/// `attributes`, without `subAttributes`).
const SCHEMA: &str = "
id string required mut=readOnly
name string required mut=readOnly
description string mut=readOnly
attributes complex multi required mut=readOnly
  name string required caseExact mut=readOnly
  type string required mut=readOnly
  multiValued boolean required mut=readOnly
  description string caseExact mut=readOnly
  required boolean mut=readOnly
  canonicalValues string multi caseExact mut=readOnly
  caseExact boolean mut=readOnly
  mutability string caseExact mut=readOnly
  returned string caseExact mut=readOnly
  uniqueness string caseExact mut=readOnly
  referenceTypes string multi caseExact mut=readOnly
  subAttributes complex multi mut=readOnly
    name string required caseExact mut=readOnly
    type string required mut=readOnly
    multiValued boolean required mut=readOnly
    description string caseExact mut=readOnly
    required boolean mut=readOnly
    canonicalValues string multi caseExact mut=readOnly
    caseExact boolean mut=readOnly
    mutability string caseExact mut=readOnly
    returned string caseExact mut=readOnly
    uniqueness string caseExact mut=readOnly
    referenceTypes string multi caseExact mut=readOnly
";

/// The definition each served schema must follow, by schema id, in parts (a draft
/// may add attributes to an RFC schema).
const REFERENCE: &[(&str, &[&str])] = &[
    ("urn:ietf:params:scim:schemas:core:2.0:User", &[USER]),
    (
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        &[ENTERPRISE_USER],
    ),
    ("urn:ietf:params:scim:schemas:core:2.0:Group", &[GROUP]),
    ("urn:ietf:params:scim:schemas:core:2.0:Agent", &[AGENT]),
    (
        "urn:ietf:params:scim:schemas:core:2.0:AgenticApplication",
        &[AGENTIC_APPLICATION],
    ),
    (
        "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig",
        &[SERVICE_PROVIDER_CONFIG],
    ),
    (
        "urn:ietf:params:scim:schemas:core:2.0:ResourceType",
        &[RESOURCE_TYPE],
    ),
    ("urn:ietf:params:scim:schemas:core:2.0:Schema", &[SCHEMA]),
];

/// Where ownerbound is stricter than RFC 7643's schema representation, on purpose.
fn tightened() -> Vec<Tightening> {
    vec![
        Tightening {
            path: "Group.displayName",
            characteristic: "required",
            served: json!(true),
            why: "RFC 7643 §4.2 says REQUIRED (its §8.7.1 representation disagrees)",
        },
        Tightening {
            path: "Group.members.value",
            characteristic: "required",
            served: json!(true),
            why: "RFC 7643 §4.2 lets a service provider require it; a member is a user's id",
        },
        Tightening {
            path: "Group.displayName",
            characteristic: "uniqueness",
            served: json!("server"),
            why: "a second group of the same name is refused with 409 uniqueness",
        },
        Tightening {
            path: "Agent.owners",
            characteristic: "mutability",
            served: json!("readWrite"),
            why: "identity providers must be able to write an agent's owners; the draft marks them \
                  read-only though its own flows set them",
        },
        Tightening {
            path: "Agent.owners.value",
            characteristic: "mutability",
            served: json!("readWrite"),
            why: "as owners",
        },
        Tightening {
            path: "Agent.owners.value",
            characteristic: "required",
            served: json!(true),
            why: "an owner is a User or Group named by id",
        },
        Tightening {
            path: "AgenticApplication.agents.$ref",
            characteristic: "mutability",
            served: json!("readOnly"),
            why: "the agent's location, filled in by ownerbound from value",
        },
        Tightening {
            path: "Group.members.$ref",
            characteristic: "mutability",
            served: json!("readOnly"),
            why: "the member's location, filled in by ownerbound from value",
        },
        Tightening {
            path: "Group.members.display",
            characteristic: "mutability",
            served: json!("readOnly"),
            why: "the member's display name, filled in by ownerbound",
        },
        Tightening {
            path: "Group.members.type",
            characteristic: "mutability",
            served: json!("readOnly"),
            why: "always User: groups are not members",
        },
        Tightening {
            path: "AgenticApplication.agents.value",
            characteristic: "required",
            served: json!(true),
            why: "an application's agent is an Agent named by id",
        },
        Tightening {
            path: "AgenticApplication.agents.display",
            characteristic: "mutability",
            served: json!("readOnly"),
            why: "the agent's name, filled in by ownerbound",
        },
        Tightening {
            path: "Agent.subject",
            characteristic: "mutability",
            served: json!("immutable"),
            why: "the draft's prose lets the client set it to an OIDC sub on creation; it cannot change",
        },
    ]
}

/// Ids created so far, by resource type.
type Ids = BTreeMap<String, String>;

/// How to exercise one resource type: a body to create (and replace) it with, and
/// PATCH operations.
struct Sample {
    resource_type: &'static str,
    body: fn(&Ids) -> Value,
    patch: fn(&Ids) -> Value,
}

const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

const SAMPLES: &[Sample] = &[
    Sample {
        resource_type: "User",
        body: |_| {
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_URN],
                "userName": "conformance@example.com", "externalId": "ext-1", "active": true,
                "password": "never-returned",
                "name": {"givenName": "Con", "familyName": "Formance", "formatted": "Con Formance"},
                "displayName": "Con Formance", "nickName": "Con", "title": "Tester",
                "profileUrl": "https://example.com/con", "userType": "Employee",
                "preferredLanguage": "en-US", "locale": "en-US", "timezone": "Europe/Paris",
                "emails": [{"value": "conformance@example.com", "type": "work", "primary": true}],
                "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
                "ims": [{"value": "con", "type": "xmpp"}],
                "photos": [{"value": "https://example.com/con.png", "type": "photo"}],
                "addresses": [{"streetAddress": "1 Main St", "locality": "Springfield",
                               "country": "US", "type": "work", "primary": true}],
                "entitlements": [{"value": "deploy"}], "roles": [{"value": "qa"}],
                "x509Certificates": [{"value": "MIIBAAAA"}],
                ENTERPRISE_URN: {"employeeNumber": "42", "department": "QA", "costCenter": "7"}
            })
        },
        patch: |_| {
            json!([
                {"op": "replace", "path": "title", "value": "Lead"},
                {"op": "add", "path": format!("{ENTERPRISE_URN}:organization"), "value": "Org"}
            ])
        },
    },
    Sample {
        resource_type: "Group",
        body: |ids| {
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                   "displayName": "Testers", "externalId": "g-1",
                   "members": [{"value": ids["User"]}]})
        },
        patch: |_| json!([{"op": "replace", "path": "displayName", "value": "Testers 2"}]),
    },
    Sample {
        resource_type: "Agent",
        body: |ids| {
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Agent"],
                   "name": "conformance-agent", "externalId": "ag-1", "active": true,
                   "displayName": "Conformance agent", "description": "Checks documents",
                   "agentType": "Assistant", "subject": "sub-1",
                   "owners": [{"value": ids["User"], "type": "User"}, {"value": ids["Group"], "type": "Group"}],
                   "entitlements": [{"value": "invoices:read"}], "roles": [{"value": "reader"}],
                   "x509Certificates": [{"value": "MIIBAAAA"}]})
        },
        patch: |ids| {
            json!([
                {"op": "remove", "path": format!("owners[value eq \"{}\"]", ids["Group"])},
                {"op": "replace", "path": "description", "value": "Checks more"}
            ])
        },
    },
    Sample {
        resource_type: "AgenticApplication",
        body: |ids| {
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:AgenticApplication"],
                   "name": "Conformance Platform", "externalId": "app-1", "active": true,
                   "displayName": "Conformance Platform", "description": "Hosts the agent",
                   "applicationUrls": [{"type": "homepage", "primary": true,
                                        "value": "https://conformance.example.com",
                                        "description": "Home"}],
                   "oAuthConfiguration": [{"clientId": "0oa1", "description": "Production",
                                           "audienceUri": "https://conformance.example.com/api",
                                           "issuerUri": "https://idp.example.com",
                                           "redirectUri": ["https://conformance.example.com/cb"]}],
                   "agents": [{"value": ids["Agent"], "type": "owned"}],
                   "externalIdentifiers": [{"type": "ssoTenantId", "value": "00abc",
                                            "system": "https://idp.example.com"}],
                   "lastAccessed": "2024-06-20T17:45:00Z"})
        },
        patch: |_| {
            json!([
                {"op": "add", "path": "applicationUrls",
                 "value": [{"type": "api", "value": "https://api.conformance.example.com"}]},
                {"op": "replace", "path": "description", "value": "Hosts more"}
            ])
        },
    },
];

async fn validator(app: &TestApp, token: &str) -> Validator {
    let (_, _, schemas) = app.scim(token, Method::GET, "/Schemas", None).await;
    let (_, _, types) = app.scim(token, Method::GET, "/ResourceTypes", None).await;
    Validator::new(&schemas, &types)
}

async fn the_served_schemas_are_rfc_7643s(app: TestApp) {
    let token = app.scim_token().await;
    let (status, _, schemas) = app.scim(&token, Method::GET, "/Schemas", None).await;
    assert_eq!(status, 200, "{schemas}");
    let mut out = Vec::new();
    let mut compared = Vec::new();
    for schema in schemas["Resources"].as_array().unwrap() {
        let id = schema["id"].as_str().unwrap();
        let name = schema["name"].as_str().unwrap();
        let served = schema["attributes"].as_array().unwrap();
        if id.contains(":ownerbound:") {
            // ownerbound's own extensions have no reference; they are validated as
            // Schema resources by the other test.
            continue;
        }
        match REFERENCE.iter().find(|(urn, _)| *urn == id) {
            Some((_, parts)) => {
                compare_definitions(
                    name,
                    served,
                    &definitions(&parts.concat()),
                    false,
                    &tightened(),
                    &mut out,
                );
                compared.push(id);
            }
            None => out.push(format!(
                "{id}: served, but no reference definition to check it against"
            )),
        }
    }
    assert!(
        out.is_empty(),
        "served schemas differ from RFC 7643:\n{}",
        out.join("\n")
    );
    assert_eq!(compared.len(), REFERENCE.len(), "{compared:?}");
}

const SERVICE_PROVIDER_CONFIG_URN: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

/// A strict model of RFC 7643 §5, as typed client libraries hold it: the attribute
/// table and nothing else.
fn strict_service_provider_config() -> Validator {
    Validator::new(
        &json!({"Resources": [{
            "id": SERVICE_PROVIDER_CONFIG_URN,
            "attributes": definitions(SERVICE_PROVIDER_CONFIG)
        }]}),
        &json!({"Resources": []}),
    )
}

async fn the_service_provider_config_holds_only_rfc_7643_attributes(app: TestApp) {
    let token = app.scim_token().await;
    let (status, _, config) = app
        .scim(&token, Method::GET, "/ServiceProviderConfig", None)
        .await;
    assert_eq!(status, 200);
    let strict = strict_service_provider_config();
    let problems = strict.check("ServiceProviderConfig", &config, true);
    assert!(problems.is_empty(), "{problems:#?}\n{config}");
    // The model is strict: the draft's block, or an extension, is refused.
    for (key, value) in [
        ("agentExtension", json!({"supported": true})),
        ("maxPatchOperations", json!(1000)),
    ] {
        let mut extended = config.clone();
        extended[key] = value;
        assert!(
            !strict
                .check("ServiceProviderConfig", &extended, true)
                .is_empty(),
            "the strict model took {key}"
        );
    }
    // Agents are announced the RFC way.
    let (_, _, types) = app.scim(&token, Method::GET, "/ResourceTypes", None).await;
    let names: Vec<&str> = types["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Agent") && names.contains(&"AgenticApplication"));
}

async fn the_agent_extension_block_is_served_and_declared_when_turned_on(
    engine: crate::helpers::Engine,
) {
    let Some(app) = crate::helpers::spawn_app_with(engine, |s| {
        s.scim.advertise_agent_extension = true;
    })
    .await
    else {
        return;
    };
    let token = app.scim_token().await;
    let (_, _, config) = app
        .scim(&token, Method::GET, "/ServiceProviderConfig", None)
        .await;
    assert_eq!(
        config["agentExtension"],
        json!({"supported": true, "agentsSupported": true, "agenticApplicationsSupported": true})
    );
    let validator = validator(&app, &token).await;
    let problems = validator.check("ServiceProviderConfig", &config, true);
    assert!(problems.is_empty(), "{problems:#?}");
    let (_, _, schema) = app
        .scim(
            &token,
            Method::GET,
            &format!("/Schemas/{SERVICE_PROVIDER_CONFIG_URN}"),
            None,
        )
        .await;
    let mut out = Vec::new();
    compare_definitions(
        "ServiceProviderConfig",
        schema["attributes"].as_array().unwrap(),
        &definitions(&[SERVICE_PROVIDER_CONFIG, AGENT_EXTENSION_OF_CONFIG].concat()),
        false,
        &tightened(),
        &mut out,
    );
    assert!(out.is_empty(), "{}", out.join("\n"));
}

crate::on_each_engine!(the_agent_extension_block_is_served_and_declared_when_turned_on);

async fn every_scim_response_validates_against_the_served_schemas(app: TestApp) {
    let token = app.scim_token().await;
    let validator = validator(&app, &token).await;
    let mut out = Vec::new();
    let mut check = |what: String, status: u16, expected: u16, body: &Value, full: bool| {
        assert_eq!(status, expected, "{what}: {body}");
        out.extend(validator.check(&what, body, full));
    };

    for path in ["/ServiceProviderConfig", "/ResourceTypes", "/Schemas"] {
        let (status, _, body) = app.scim(&token, Method::GET, path, None).await;
        check(format!("GET {path}"), status, 200, &body, true);
    }
    for id in validator.schema_ids() {
        let (status, _, body) = app
            .scim(&token, Method::GET, &format!("/Schemas/{id}"), None)
            .await;
        check(format!("GET /Schemas/{id}"), status, 200, &body, true);
    }

    let mut ids = Ids::new();
    let mut locations = Vec::new();
    for resource_type in validator.resource_types() {
        let name = resource_type["name"].as_str().unwrap();
        let endpoint = resource_type["endpoint"].as_str().unwrap();
        let (status, _, body) = app
            .scim(&token, Method::GET, &format!("/ResourceTypes/{name}"), None)
            .await;
        check(
            format!("GET /ResourceTypes/{name}"),
            status,
            200,
            &body,
            true,
        );
        let sample = SAMPLES
            .iter()
            .find(|s| s.resource_type == name)
            .unwrap_or_else(|| panic!("resource type {name} is served but has no Sample here"));

        let (status, _, created) = app
            .scim(&token, Method::POST, endpoint, Some(&(sample.body)(&ids)))
            .await;
        check(format!("POST {endpoint}"), status, 201, &created, true);
        let id = created["id"].as_str().unwrap().to_string();
        ids.insert(name.to_string(), id.clone());
        let one = format!("{endpoint}/{id}");
        locations.push(one.clone());

        let (status, _, body) = app.scim(&token, Method::GET, &one, None).await;
        check(format!("GET {one}"), status, 200, &body, true);
        let (status, _, body) = app
            .scim(
                &token,
                Method::GET,
                &format!("{one}?attributes=externalId"),
                None,
            )
            .await;
        check(format!("GET {one}?attributes"), status, 200, &body, false);
        let (status, _, body) = app
            .scim(&token, Method::PUT, &one, Some(&(sample.body)(&ids)))
            .await;
        check(format!("PUT {one}"), status, 200, &body, true);
        let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                           "Operations": (sample.patch)(&ids)});
        let (status, _, body) = app.scim(&token, Method::PATCH, &one, Some(&patch)).await;
        check(format!("PATCH {one}"), status, 200, &body, true);
        let (status, _, body) = app.scim(&token, Method::GET, endpoint, None).await;
        check(format!("GET {endpoint}"), status, 200, &body, true);
        let (status, _, body) = app
            .scim(
                &token,
                Method::GET,
                &format!("{endpoint}?excludedAttributes=meta&count=1"),
                None,
            )
            .await;
        check(
            format!("GET {endpoint}?excludedAttributes"),
            status,
            200,
            &body,
            false,
        );
        let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                            "filter": format!("id eq \"{id}\""), "startIndex": 1, "count": 10});
        let (status, _, body) = app
            .scim(
                &token,
                Method::POST,
                &format!("{endpoint}/.search"),
                Some(&search),
            )
            .await;
        assert_eq!(body["totalResults"], 1, "{body}");
        check(format!("POST {endpoint}/.search"), status, 200, &body, true);
    }
    // Again, now that every resource exists (a user's `groups`, say).
    for location in &locations {
        let (status, _, body) = app.scim(&token, Method::GET, location, None).await;
        check(
            format!("GET {location} at the end"),
            status,
            200,
            &body,
            true,
        );
    }
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]});
    let (status, _, body) = app
        .scim(&token, Method::POST, "/.search", Some(&search))
        .await;
    assert_eq!(body["totalResults"], locations.len(), "{body}");
    check("POST /.search".into(), status, 200, &body, true);

    // RFC 7644 §3.12 errors.
    let user = &locations[0];
    let stale = app
        .client
        .delete(format!("{}/scim/v2{user}", app.address))
        .bearer_auth(&token)
        .header("If-Match", "W/\"999\"")
        .send()
        .await
        .unwrap();
    let status = stale.status().as_u16();
    check(
        "DELETE with a stale If-Match".into(),
        status,
        412,
        &stale.json().await.unwrap(),
        true,
    );
    for (method, path, body, expected) in [
        (Method::GET, "/Users/does-not-exist".to_string(), None, 404),
        (
            Method::GET,
            "/Users?filter=userName%20zz%20x".to_string(),
            None,
            400,
        ),
        (
            Method::POST,
            "/Users".to_string(),
            Some(json!({"schemas": [USER_URN]})),
            400,
        ),
        (
            Method::POST,
            "/Users".to_string(),
            Some((SAMPLES[0].body)(&ids)),
            409,
        ),
        (
            Method::POST,
            "/.search".to_string(),
            Some(json!({"filter": "userName pr"})),
            400,
        ),
        (
            Method::DELETE,
            "/ServiceProviderConfig".to_string(),
            None,
            405,
        ),
        (Method::GET, "/Nothing".to_string(), None, 404),
    ] {
        let (status, _, error) = app.scim(&token, method.clone(), &path, body.as_ref()).await;
        check(format!("{method} {path}"), status, expected, &error, true);
    }
    let (status, _, error) = app.scim("not-a-token", Method::GET, "/Users", None).await;
    check(
        "GET /Users unauthenticated".into(),
        status,
        401,
        &error,
        true,
    );
    assert!(
        out.is_empty(),
        "responses that do not validate against the served schemas:\n{}",
        out.join("\n")
    );
}

const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

on_both_engines!(
    the_served_schemas_are_rfc_7643s,
    the_service_provider_config_holds_only_rfc_7643_attributes,
    every_scim_response_validates_against_the_served_schemas
);
