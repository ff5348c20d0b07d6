//! `/scim/v2/Groups`. Membership is kept in its own table; the stored document holds
//! the other attributes.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::list::{list_response, project, ListParams, SearchRequest};
use super::patch::{self, PatchRequest};
use super::resource::{canonicalize, render, Meta};
use super::schema::GROUP;
use super::sql::{self, Resource};
use super::{
    as_object, base_url, check_if_match, resource, respond, respond_resource, with_etag, ScimJson,
};
use crate::access::Caller;
use crate::audit::AuditEntry;
use crate::startup::AppState;
use crate::store::groups::{Group, GroupFields, Member};
use crate::store::{StoreError, Tx};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/Groups/.search").route(web::post().to(search)))
        .service(
            resource("/Groups")
                .route(web::get().to(list))
                .route(web::post().to(create)),
        )
        .service(
            resource("/Groups/{id}")
                .route(web::get().to(get))
                .route(web::put().to(replace))
                .route(web::patch().to(patch_group))
                .route(web::delete().to(delete)),
        );
}

async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ScimError> {
    let params = SearchRequest::from_query(&query)?.validate(Resource::Group)?;
    list_groups(&state, &req, params).await
}

async fn search(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ScimJson<SearchRequest>,
) -> Result<HttpResponse, ScimError> {
    let params = body.0.checked()?.validate(Resource::Group)?;
    list_groups(&state, &req, params).await
}

async fn list_groups(
    state: &AppState,
    req: &HttpRequest,
    params: ListParams,
) -> Result<HttpResponse, ScimError> {
    let (total, resources) = groups_page(state, req, &params).await?;
    Ok(respond(
        StatusCode::OK,
        &list_response(total, params.start_index, resources),
    ))
}

/// The groups matching `params`, in total, and the page of them it asks for.
pub(super) async fn groups_page(
    state: &AppState,
    req: &HttpRequest,
    params: &ListParams,
) -> Result<(i64, Vec<Value>), ScimError> {
    let condition = match &params.filter {
        Some(filter) => sql::to_sql(Resource::Group, filter)?,
        None => sql::all(),
    };
    let (total, groups) = state
        .store
        .query_groups(
            &condition,
            &params.order_by("g.id"),
            params.offset(),
            params.count,
        )
        .await?;
    // `excludedAttributes=members` (Entra ID) spares loading them at all.
    let members = if params.wants("members") {
        let ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
        state.store.group_members(&ids).await?
    } else {
        Vec::new()
    };
    let base = base_url(req, state.settings.public_url.as_deref());
    let resources = groups
        .iter()
        .map(|g| {
            project(
                &GROUP,
                render_group(g, &members, &base),
                &params.attributes,
                &params.excluded,
            )
        })
        .collect();
    Ok((total, resources))
}

async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ScimError> {
    let params = SearchRequest::from_query(&query)?.validate(Resource::Group)?;
    let group = state.store.get_group(&id).await.map_err(group_not_found)?;
    let members = if params.wants("members") {
        state
            .store
            .group_members(std::slice::from_ref(&group.id))
            .await?
    } else {
        Vec::new()
    };
    let base = base_url(&req, state.settings.public_url.as_deref());
    let body = project(
        &GROUP,
        render_group(&group, &members, &base),
        &params.attributes,
        &params.excluded,
    );
    Ok(with_etag(respond(StatusCode::OK, &body), group.version))
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: ScimJson<Value>,
) -> Result<HttpResponse, ScimError> {
    let mut doc = canonicalize(&GROUP, as_object(&body.0)?)?;
    let actor = caller.actor();
    let mut tx = state.store.begin().await?;
    let requested = take_members(&mut doc)?;
    check_members(&mut tx, &requested).await?;
    let display_name = doc["displayName"].as_str().unwrap_or_default().to_string();
    let document = Value::Object(doc.clone()).to_string();
    let id = tx
        .insert_group(&GroupFields {
            display_name: &display_name,
            external_id: doc.get("externalId").and_then(Value::as_str),
            document: &document,
        })
        .await?;
    tx.replace_members(&id, &requested).await?;
    audit(&mut tx, &actor, "scim.group.created", &id, &[]).await?;
    tx.commit().await?;
    let response = group_response(&state, &req, &id, StatusCode::CREATED).await?;
    Ok(response)
}

async fn replace(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    id: web::Path<String>,
    body: ScimJson<Value>,
) -> Result<HttpResponse, ScimError> {
    let mut doc = canonicalize(&GROUP, as_object(&body.0)?)?;
    let actor = caller.actor();
    let mut tx = state.store.begin().await?;
    let current = tx.get_group(&id).await.map_err(group_not_found)?;
    check_if_match(&req, current.version)?;
    let requested = take_members(&mut doc)?;
    check_members(&mut tx, &requested).await?;
    write(&mut tx, &current.id, &doc).await?;
    tx.replace_members(&current.id, &requested).await?;
    audit(&mut tx, &actor, "scim.group.replaced", &current.id, &[]).await?;
    tx.commit().await?;
    group_response(&state, &req, &id, StatusCode::OK).await
}

async fn patch_group(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    id: web::Path<String>,
    body: ScimJson<PatchRequest>,
) -> Result<HttpResponse, ScimError> {
    let actor = caller.actor();
    let mut tx = state.store.begin().await?;
    let current = tx.get_group(&id).await.map_err(group_not_found)?;
    check_if_match(&req, current.version)?;
    let mut doc: Map<String, Value> =
        serde_json::from_str(&current.scim_resource).unwrap_or_default();
    let members: Vec<Value> = tx
        .member_ids(&current.id)
        .await?
        .into_iter()
        .map(|id| json!({"value": id}))
        .collect();
    if !members.is_empty() {
        doc.insert("members".into(), Value::Array(members));
    }
    let ignored = patch::apply(&GROUP, &mut doc, &current.id, &body.0.operations)?;
    if doc
        .get("displayName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(ScimError::invalid_value(
            "displayName is required and cannot be removed",
        ));
    }
    let requested = take_members(&mut doc)?;
    check_members(&mut tx, &requested).await?;
    write(&mut tx, &current.id, &doc).await?;
    tx.replace_members(&current.id, &requested).await?;
    audit(&mut tx, &actor, "scim.group.patched", &current.id, &ignored).await?;
    tx.commit().await?;
    group_response(&state, &req, &id, StatusCode::OK).await
}

async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let actor = caller.actor();
    let mut tx = state.store.begin().await?;
    let current = tx.get_group(&id).await.map_err(group_not_found)?;
    check_if_match(&req, current.version)?;
    tx.delete_group(&current.id).await?;
    tx.append_audit(
        &AuditEntry::new(&actor, "scim.group.deleted", "group", Some(&current.id))
            .with_details(json!({"display_name": current.display_name})),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes `members` from the document and returns the member ids it listed. A
/// member without a value references nothing, and is refused.
fn take_members(doc: &mut Map<String, Value>) -> Result<Vec<String>, ScimError> {
    let Some(Value::Array(members)) = doc.remove("members") else {
        return Ok(Vec::new());
    };
    let mut ids = members
        .iter()
        .map(|m| {
            m.get("value")
                .and_then(Value::as_str)
                .filter(|v| !v.trim().is_empty())
                .map(str::to_string)
                .ok_or_else(|| ScimError::invalid_value("members: each member needs a value"))
        })
        .collect::<Result<Vec<String>, ScimError>>()?;
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Refuses members that are no live user, before anything is written: a member
/// dropped while answering 200 would leave the identity provider believing someone is
/// in a group that ownerbound never recorded. Groups are not members (no nesting).
async fn check_members(tx: &mut Tx, requested: &[String]) -> Result<(), ScimError> {
    let mut unknown = Vec::new();
    for id in requested {
        if !tx.person_is_live(id).await? {
            let is_group = match tx.get_group(id).await {
                Ok(_) => true,
                Err(StoreError::NotFound) => false,
                Err(other) => return Err(other.into()),
            };
            unknown.push(if is_group {
                format!("{id:?} (a Group: groups cannot be members)")
            } else {
                format!("{id:?}")
            });
        }
    }
    if unknown.is_empty() {
        return Ok(());
    }
    let shown = unknown.len().min(10);
    let more = match unknown.len() - shown {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    Err(ScimError::invalid_value(format!(
        "members: no User has the value {}{more}",
        unknown[..shown].join(", ")
    )))
}

async fn write(tx: &mut Tx, id: &str, doc: &Map<String, Value>) -> Result<(), ScimError> {
    let document = Value::Object(doc.clone()).to_string();
    tx.update_group(
        id,
        &GroupFields {
            display_name: doc["displayName"].as_str().unwrap_or_default(),
            external_id: doc.get("externalId").and_then(Value::as_str),
            document: &document,
        },
    )
    .await?;
    Ok(())
}

async fn audit(
    tx: &mut Tx,
    actor: &str,
    action: &str,
    id: &str,
    ignored_paths: &[String],
) -> Result<(), ScimError> {
    let mut details = json!({});
    if !ignored_paths.is_empty() {
        details["ignored_paths"] = json!(ignored_paths);
    }
    tx.append_audit(&AuditEntry::new(actor, action, "group", Some(id)).with_details(details))
        .await?;
    Ok(())
}

fn render_group(group: &Group, members: &[Member], base: &str) -> Value {
    let doc: Map<String, Value> = serde_json::from_str(&group.scim_resource).unwrap_or_default();
    let mut extra = Map::new();
    let mine: Vec<Value> = members
        .iter()
        .filter(|m| m.group_id == group.id)
        .map(|m| {
            let mut member = json!({"value": m.person_id, "$ref": format!("{base}/Users/{}", m.person_id), "type": "User"});
            if let Some(display) = &m.display {
                member["display"] = json!(display);
            }
            member
        })
        .collect();
    if !mine.is_empty() {
        extra.insert("members".into(), Value::Array(mine));
    }
    render(
        &GROUP,
        &group.id,
        &doc,
        extra,
        Meta {
            resource_type: "Group",
            created: group.created_at,
            last_modified: group.updated_at,
            location: format!("{base}/Groups/{}", group.id),
            version: group.version,
        },
    )
}

async fn group_response(
    state: &AppState,
    req: &HttpRequest,
    id: &str,
    status: StatusCode,
) -> Result<HttpResponse, ScimError> {
    let group = state.store.get_group(id).await.map_err(group_not_found)?;
    let members = state
        .store
        .group_members(std::slice::from_ref(&group.id))
        .await?;
    let base = base_url(req, state.settings.public_url.as_deref());
    let body = render_group(&group, &members, &base);
    Ok(respond_resource(status, &body, group.version))
}

fn group_not_found(err: StoreError) -> ScimError {
    match err {
        StoreError::NotFound => ScimError::not_found("Group"),
        other => other.into(),
    }
}
