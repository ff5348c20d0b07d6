//! `/ServiceProviderConfig`, `/Schemas`, `/ResourceTypes` (RFC 7644 §4): read-only
//! descriptions of exactly what this service provider supports.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::error::ScimError;
use super::list::{list_response, MAX_COUNT};
use super::patch::MAX_OPERATIONS;
use super::schema::{
    schema_json, ENTERPRISE_ATTRS, ENTERPRISE_SCHEMA, GROUP_ATTRS, GROUP_SCHEMA, USER_ATTRS,
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
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig",
                OWNERBOUND_CONFIG_EXTENSION
            ],
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

fn all_schemas(base: &str) -> Vec<Value> {
    vec![
        schema_json(USER_SCHEMA, "User", USER_ATTRS, base),
        schema_json(ENTERPRISE_SCHEMA, "EnterpriseUser", ENTERPRISE_ATTRS, base),
        schema_json(GROUP_SCHEMA, "Group", GROUP_ATTRS, base),
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
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users",
            "description": "People of the directory; deactivating one offboards their agents",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{"schema": ENTERPRISE_SCHEMA, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")}
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups",
            "description": "Groups of people",
            "schema": GROUP_SCHEMA,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")}
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
