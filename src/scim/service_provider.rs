//! `/ServiceProviderConfig`, `/Schemas`, `/ResourceTypes` (RFC 7644 §4): read-only
//! descriptions of exactly what this service provider supports.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::error::ScimError;
use super::list::{list_response, MAX_COUNT};
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

/// Exactly RFC 7643 §5's attributes (strict clients accept nothing else there):
/// Agents and AgenticApplications are announced through `/ResourceTypes` and
/// `/Schemas`. The PATCH limit (`patch::MAX_OPERATIONS`) has no attribute here; over
/// it is a 413 `tooMany`. The abbey draft's `agentExtension` block only with
/// `[scim] advertise_agent_extension`.
async fn service_provider_config(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let base = base_url(&req, state.settings.public_url.as_deref());
    let mut config = json!({
            "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
            "documentationUri": "https://github.com/ownerbound/ownerbound#scim",
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": MAX_COUNT},
            "changePassword": {"supported": false},
            "sort": {"supported": true},
            "etag": {"supported": true},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A static token of scope scim, created with `ownerbound token create --scope scim`"
            }],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": format!("{base}/ServiceProviderConfig")
            }
    });
    if state.settings.scim.advertise_agent_extension {
        // draft-abbey-scim-agent-extension §3, for identity providers that look for it.
        config["agentExtension"] = json!({
            "supported": true,
            "agentsSupported": true,
            "agenticApplicationsSupported": true
        });
    }
    respond(StatusCode::OK, &config)
}

pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

/// `{"supported": …}` of the ServiceProviderConfig.
const SUPPORTED: &[Attr] = &[Attr::boolean("supported").required().read_only()];

/// RFC 7643 §5 and §8.7.2, and nothing else (strict clients model exactly §5's
/// table). `authenticationSchemes.type` is REQUIRED by §5 (the §8.7.2 representation
/// leaves it out); `primary`, which §8.5's example shows, is not in §5's table and is
/// not served (there is one scheme).
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
    Attr::complex(
        "authenticationSchemes",
        &[
            Attr::string("type").required().read_only(),
            Attr::string("name").required().read_only(),
            Attr::string("description").required().read_only(),
            Attr::reference("specUri", &["external"]).read_only(),
            Attr::reference("documentationUri", &["external"]).read_only(),
        ],
    )
    .multi()
    .required()
    .read_only(),
];

/// Added to the ServiceProviderConfig by draft-abbey-scim-agent-extension §3, when
/// `[scim] advertise_agent_extension` serves it.
const AGENT_EXTENSION_ATTR: Attr = Attr::complex(
    "agentExtension",
    &[
        Attr::boolean("supported").required().read_only(),
        Attr::boolean("agentsSupported").required().read_only(),
        Attr::boolean("agenticApplicationsSupported")
            .required()
            .read_only(),
    ],
)
.read_only();

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

fn all_schemas(base: &str, advertise_agent_extension: bool) -> Vec<Value> {
    let mut config_attrs = SERVICE_PROVIDER_CONFIG_ATTRS.to_vec();
    if advertise_agent_extension {
        config_attrs.push(AGENT_EXTENSION_ATTR);
    }
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
            &config_attrs,
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
    let all = all_schemas(
        &base_url(&req, state.settings.public_url.as_deref()),
        state.settings.scim.advertise_agent_extension,
    );
    respond(StatusCode::OK, &list_response(all.len() as i64, 1, all))
}

async fn schema(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    all_schemas(
        &base_url(&req, state.settings.public_url.as_deref()),
        state.settings.scim.advertise_agent_extension,
    )
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
