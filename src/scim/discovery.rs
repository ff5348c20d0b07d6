//! `/ServiceProviderConfig`, `/Schemas`, `/ResourceTypes` (RFC 7644 §4): read-only
//! descriptions of exactly what this service provider supports.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::error::ScimError;
use super::list::{list_response, MAX_COUNT};
use super::patch::MAX_OPERATIONS;
use super::schema::{
    schema_json, Attr, AGENT_ATTRS, AGENT_SCHEMA, APPLICATION_ATTRS, APPLICATION_SCHEMA,
    ENTERPRISE_ATTRS, ENTERPRISE_SCHEMA, GROUP_ATTRS, GROUP_SCHEMA, SCHEMA_DEFINITION, USER_ATTRS,
    USER_SCHEMA,
};
use super::{base_url, resource, respond};
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/ServiceProviderConfig").route(web::get().to(service_provider_config)))
        .service(resource("/Schemas").route(web::get().to(schemas)))
        .service(resource("/Schemas/{id}").route(web::get().to(schema)))
        .service(resource("/ResourceTypes").route(web::get().to(resource_types)))
        .service(resource("/ResourceTypes/{name}").route(web::get().to(resource_type)));
}

async fn service_provider_config(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let base = base_url(&req, state.settings.public_url.as_deref());
    respond(
        StatusCode::OK,
        &json!({
            "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA, OWNERBOUND_CONFIG_EXTENSION],
            "documentationUri": "https://github.com/ownerbound/ownerbound#scim",
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": MAX_COUNT},
            "changePassword": {"supported": false},
            "sort": {"supported": true},
            "etag": {"supported": true},
            // draft-abbey-scim-agent-extension §3: how a client learns that Agents
            // and AgenticApplications can be pushed here.
            "agentExtension": {
                "supported": true,
                "agentsSupported": true,
                "agenticApplicationsSupported": true
            },
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A static token of scope scim, created with `ownerbound token create --scope scim`",
                "primary": true
            }],
            // RFC 7643 §5 defines no PATCH limit; ours sits in an extension of our
            // own (strict clients refuse unknown attributes in core objects).
            OWNERBOUND_CONFIG_EXTENSION: {"maxPatchOperations": MAX_OPERATIONS},
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": format!("{base}/ServiceProviderConfig")
            }
        }),
    )
}

/// ownerbound's extension of the ServiceProviderConfig: limits RFC 7643 has no
/// attribute for.
pub const OWNERBOUND_CONFIG_EXTENSION: &str =
    "urn:ietf:params:scim:schemas:extension:ownerbound:2.0:ServiceProviderConfig";

pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

/// `{"supported": …}` of the ServiceProviderConfig.
const SUPPORTED: &[Attr] = &[Attr::boolean("supported").required().read_only()];

/// RFC 7643 §5 and §8.7.2. `authenticationSchemes.type` is REQUIRED by §5 (the §8.7.2
/// representation leaves it out) and `primary` is the §2.4 sub-attribute of every
/// multi-valued attribute; ownerbound serves both.
const SERVICE_PROVIDER_CONFIG_ATTRS: &[Attr] = &[
    Attr::reference("documentationUri", &["external"]).read_only(),
    Attr::complex("patch", SUPPORTED).required().read_only(),
    Attr::complex(
        "bulk",
        &[
            Attr::boolean("supported").required().read_only(),
            Attr::integer("maxOperations").required().read_only(),
            Attr::integer("maxPayloadSize").required().read_only(),
        ],
    )
    .required()
    .read_only(),
    Attr::complex(
        "filter",
        &[
            Attr::boolean("supported").required().read_only(),
            Attr::integer("maxResults").required().read_only(),
        ],
    )
    .required()
    .read_only(),
    Attr::complex("changePassword", SUPPORTED)
        .required()
        .read_only(),
    Attr::complex("sort", SUPPORTED).required().read_only(),
    Attr::complex("etag", SUPPORTED).required().read_only(),
    // Added to the ServiceProviderConfig by draft-abbey-scim-agent-extension §3.
    Attr::complex(
        "agentExtension",
        &[
            Attr::boolean("supported").required().read_only(),
            Attr::boolean("agentsSupported").required().read_only(),
            Attr::boolean("agenticApplicationsSupported")
                .required()
                .read_only(),
        ],
    )
    .read_only(),
    Attr::complex(
        "authenticationSchemes",
        &[
            Attr::string("type").required().read_only(),
            Attr::string("name").required().read_only(),
            Attr::string("description").required().read_only(),
            Attr::reference("specUri", &["external"]).read_only(),
            Attr::reference("documentationUri", &["external"]).read_only(),
            Attr::boolean("primary").read_only(),
        ],
    )
    .multi()
    .required()
    .read_only(),
];

/// RFC 7643 §6 and §8.7.2.
const RESOURCE_TYPE_ATTRS: &[Attr] = &[
    Attr::string("id").read_only(),
    Attr::string("name").required().read_only(),
    Attr::string("description").read_only(),
    Attr::reference("endpoint", &["uri"]).required().read_only(),
    Attr::reference("schema", &["uri"])
        .required()
        .exact()
        .read_only(),
    Attr::complex(
        "schemaExtensions",
        &[
            Attr::reference("schema", &["uri"])
                .required()
                .exact()
                .read_only(),
            Attr::boolean("required").required().read_only(),
        ],
    )
    .multi()
    .required()
    .read_only(),
];

/// The characteristics of an attribute definition (RFC 7643 §7, §8.7.2), then `$more`.
macro_rules! attribute_characteristics {
    ($($more:expr),*) => {
        &[
            Attr::string("name").required().exact().read_only(),
            Attr::string("type").required().read_only(),
            Attr::boolean("multiValued").required().read_only(),
            Attr::string("description").exact().read_only(),
            Attr::boolean("required").read_only(),
            Attr::string("canonicalValues").multi().exact().read_only(),
            Attr::boolean("caseExact").read_only(),
            Attr::string("mutability").exact().read_only(),
            Attr::string("returned").exact().read_only(),
            Attr::string("uniqueness").exact().read_only(),
            Attr::string("referenceTypes").multi().exact().read_only(),
            $($more),*
        ]
    };
}

const SUB_ATTRIBUTE: &[Attr] = attribute_characteristics!();

const ATTRIBUTE: &[Attr] =
    attribute_characteristics!(Attr::complex("subAttributes", SUB_ATTRIBUTE)
        .multi()
        .read_only());

/// RFC 7643 §7 and §8.7.2.
const SCHEMA_ATTRS: &[Attr] = &[
    Attr::string("id").required().read_only(),
    Attr::string("name").required().read_only(),
    Attr::string("description").read_only(),
    Attr::complex("attributes", ATTRIBUTE)
        .multi()
        .required()
        .read_only(),
];

const OWNERBOUND_CONFIG_ATTRS: &[Attr] = &[Attr::integer("maxPatchOperations").read_only()];

fn all_schemas(base: &str) -> Vec<Value> {
    vec![
        schema_json(USER_SCHEMA, "User", USER_ATTRS, base),
        schema_json(ENTERPRISE_SCHEMA, "EnterpriseUser", ENTERPRISE_ATTRS, base),
        schema_json(GROUP_SCHEMA, "Group", GROUP_ATTRS, base),
        schema_json(AGENT_SCHEMA, "Agent", AGENT_ATTRS, base),
        schema_json(
            APPLICATION_SCHEMA,
            "AgenticApplication",
            APPLICATION_ATTRS,
            base,
        ),
        schema_json(
            SERVICE_PROVIDER_CONFIG_SCHEMA,
            "Service Provider Configuration",
            SERVICE_PROVIDER_CONFIG_ATTRS,
            base,
        ),
        schema_json(
            OWNERBOUND_CONFIG_EXTENSION,
            "ownerbound Service Provider Configuration",
            OWNERBOUND_CONFIG_ATTRS,
            base,
        ),
        schema_json(
            RESOURCE_TYPE_SCHEMA,
            "ResourceType",
            RESOURCE_TYPE_ATTRS,
            base,
        ),
        schema_json(SCHEMA_DEFINITION, "Schema", SCHEMA_ATTRS, base),
    ]
}

async fn schemas(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let all = all_schemas(&base_url(&req, state.settings.public_url.as_deref()));
    respond(StatusCode::OK, &list_response(all.len() as i64, 1, all))
}

async fn schema(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    all_schemas(&base_url(&req, state.settings.public_url.as_deref()))
        .into_iter()
        .find(|s| {
            s["id"]
                .as_str()
                .is_some_and(|sid| sid.eq_ignore_ascii_case(&id))
        })
        .map(|s| respond(StatusCode::OK, &s))
        .ok_or_else(|| ScimError::not_found("Schema"))
}

fn all_resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "User", "name": "User", "endpoint": "/Users",
            "description": "People of the directory; deactivating one offboards their agents",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{"schema": ENTERPRISE_SCHEMA, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")}
        }),
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "Group", "name": "Group", "endpoint": "/Groups",
            "description": "Groups of people",
            "schema": GROUP_SCHEMA,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")}
        }),
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "Agent", "name": "Agent", "endpoint": "/Agents",
            "description": "AI agents with their owners (draft-abbey-scim-agent-extension); deactivating or deleting one revokes its credentials",
            "schema": AGENT_SCHEMA,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Agent")}
        }),
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "AgenticApplication", "name": "AgenticApplication", "endpoint": "/AgenticApplications",
            "description": "Applications that host or provide access to agents (draft-abbey-scim-agent-extension); deactivating or deleting one revokes nothing",
            "schema": APPLICATION_SCHEMA,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/AgenticApplication")}
        }),
    ]
}

async fn resource_types(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let all = all_resource_types(&base_url(&req, state.settings.public_url.as_deref()));
    respond(StatusCode::OK, &list_response(all.len() as i64, 1, all))
}

async fn resource_type(
    state: web::Data<AppState>,
    req: HttpRequest,
    name: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    all_resource_types(&base_url(&req, state.settings.public_url.as_deref()))
        .into_iter()
        .find(|t| {
            t["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(&name))
        })
        .map(|t| respond(StatusCode::OK, &t))
        .ok_or_else(|| ScimError::not_found("ResourceType"))
}
