//! `/scim/v2/AgenticApplications`: the applications that host or give access to agents
//! (draft-abbey-scim-agent-extension §5.2), pushed by identity providers.
//!
//! An application's `agents` name agents pushed to `/Agents`; they are kept in their
//! own table (an agent's read-only `applications` is rendered from it), the stored
//! document holds the other attributes, and `applicationUrls` are projected into a
//! table of their own so that filtering on them is indexed.
//!
//! Deactivating or deleting an application revokes nothing by itself: what can act is
//! the agents, and they have their own lifecycle at `/Agents` (`active: false` or a
//! DELETE there revokes an agent's credentials).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::list::{list_response, project, ListParams, SearchRequest};
use super::patch::{self, PatchRequest};
use super::resource::{canonicalize, render, Meta};
use super::schema::APPLICATION;
use super::sql::{self, Resource};
use super::{as_object, base_url, check_if_match, resource, respond, with_etag, ScimJson};
use crate::access::Caller;
use crate::audit::AuditEntry;
use crate::domain::AgentSource;
use crate::startup::AppState;
use crate::store::applications::{
    AgentLink, Application, ApplicationAgent, ApplicationFields, ApplicationUrl,
};
use crate::store::{StoreError, Tx};

/// At most this many agents per application: the link table is rewritten on each write.
const MAX_AGENTS: usize = 1000;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/AgenticApplications/.search").route(web::post().to(search)))
        .service(
            resource("/AgenticApplications")
                .route(web::get().to(list))
                .route(web::post().to(create)),
        )
        .service(
            resource("/AgenticApplications/{id}")
                .route(web::get().to(get))
                .route(web::put().to(replace))
                .route(web::patch().to(patch_application))
                .route(web::delete().to(delete)),
        );
}

async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ScimError> {
    let params = SearchRequest::from_query(&query)?.validate(Resource::Application)?;
    list_applications(&state, &req, params).await
}

async fn search(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ScimJson<SearchRequest>,
) -> Result<HttpResponse, ScimError> {
    let params = body.0.checked()?.validate(Resource::Application)?;
    list_applications(&state, &req, params).await
}

async fn list_applications(
    state: &AppState,
    req: &HttpRequest,
    params: ListParams,
) -> Result<HttpResponse, ScimError> {
    let (total, resources) = applications_page(state, req, &params).await?;
    Ok(respond(
        StatusCode::OK,
        &list_response(total, params.start_index, resources),
    ))
}

/// The applications matching `params`, in total, and the page of them it asks for.
pub(super) async fn applications_page(
    state: &AppState,
    req: &HttpRequest,
    params: &ListParams,
) -> Result<(i64, Vec<Value>), ScimError> {
    let condition = match &params.filter {
        Some(filter) => sql::to_sql(Resource::Application, filter)?,
        None => sql::all(),
    };
    let (total, applications) = state
        .store
        .query_applications(
            &condition,
            &params.order_by("ap.id"),
            params.offset(),
            params.count,
        )
        .await?;
    let agents = if params.wants("agents") {
        let ids: Vec<String> = applications.iter().map(|a| a.id.clone()).collect();
        state.store.application_agents(&ids).await?
    } else {
        Vec::new()
    };
    let base = base_url(req, state.settings.public_url.as_deref());
    let resources = applications
        .iter()
        .map(|a| {
            project(
                &APPLICATION,
                render_application(a, &agents, &base),
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
    let params = SearchRequest::from_query(&query)?.validate(Resource::Application)?;
    let application = state.store.get_application(&id).await.map_err(not_found)?;
    let agents = state
        .store
        .application_agents(std::slice::from_ref(&application.id))
        .await?;
    let base = base_url(&req, state.settings.public_url.as_deref());
    let body = project(
        &APPLICATION,
        render_application(&application, &agents, &base),
        &params.attributes,
        &params.excluded,
    );
    Ok(with_etag(
        respond(StatusCode::OK, &body),
        application.version,
    ))
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: ScimJson<Value>,
) -> Result<HttpResponse, ScimError> {
    let mut doc = canonicalize(&APPLICATION, as_object(&body.0)?)?;
    let actor = caller.actor();
    let mut tx = state.store.begin().await?;
    let agents = take_agents(&mut doc)?;
    check_agents(&mut tx, &agents).await?;
    let id = write(&mut tx, None, &doc, &agents).await?;
    audit(
        &mut tx,
        &actor,
        "scim.application.created",
        &id,
        &doc,
        &agents,
    )
    .await?;
    tx.commit().await?;
    application_response(&state, &req, &id, StatusCode::CREATED).await
}

async fn replace(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    id: web::Path<String>,
    body: ScimJson<Value>,
) -> Result<HttpResponse, ScimError> {
    let mut doc = canonicalize(&APPLICATION, as_object(&body.0)?)?;
    let actor = caller.actor();
    let mut tx = state.store.begin().await?;
    let current = tx.get_application(&id).await.map_err(not_found)?;
    check_if_match(&req, current.version)?;
    let agents = take_agents(&mut doc)?;
    check_agents(&mut tx, &agents).await?;
    write(&mut tx, Some(&current.id), &doc, &agents).await?;
    let action = "scim.application.replaced";
    audit(&mut tx, &actor, action, &current.id, &doc, &agents).await?;
    tx.commit().await?;
    application_response(&state, &req, &id, StatusCode::OK).await
}

async fn patch_application(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    id: web::Path<String>,
    body: ScimJson<PatchRequest>,
) -> Result<HttpResponse, ScimError> {
    let actor = caller.actor();
    let mut tx = state.store.begin().await?;
    let current = tx.get_application(&id).await.map_err(not_found)?;
    check_if_match(&req, current.version)?;
    let mut doc: Map<String, Value> =
        serde_json::from_str(&current.scim_resource).unwrap_or_default();
    let links: Vec<Value> = tx
        .application_agent_links(&current.id)
        .await?
        .into_iter()
        .map(|link| match link.kind {
            Some(kind) => json!({"value": link.agent_id, "type": kind}),
            None => json!({"value": link.agent_id}),
        })
        .collect();
    if !links.is_empty() {
        doc.insert("agents".into(), Value::Array(links));
    }
    let ignored = patch::apply(&APPLICATION, &mut doc, &current.id, &body.0.operations)?;
    if ignored.iter().any(|p| !p.is_empty()) {
        tracing::debug!(paths = ?ignored, "ignoring PATCH paths outside the AgenticApplication schema");
    }
    let agents = take_agents(&mut doc)?;
    check_agents(&mut tx, &agents).await?;
    write(&mut tx, Some(&current.id), &doc, &agents).await?;
    let action = "scim.application.patched";
    audit(&mut tx, &actor, action, &current.id, &doc, &agents).await?;
    tx.commit().await?;
    application_response(&state, &req, &id, StatusCode::OK).await
}

async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let actor = caller.actor();
    let mut tx = state.store.begin().await?;
    let current = tx.get_application(&id).await.map_err(not_found)?;
    check_if_match(&req, current.version)?;
    // Revokes nothing: the application's agents keep their credentials and their own
    // lifecycle at /Agents.
    tx.delete_application(&current.id).await?;
    tx.append_audit(
        &AuditEntry::new(
            &actor,
            "scim.application.deleted",
            "application",
            Some(&current.id),
        )
        .with_details(json!({"name": current.name})),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes `agents` from the document and returns the links it listed, each agent
/// once, where it first appears; a later entry for the same agent says its type
/// (PATCH add of an agent already listed, with another type, changes the type). An
/// entry without a value references nothing, and is refused.
fn take_agents(doc: &mut Map<String, Value>) -> Result<Vec<AgentLink>, ScimError> {
    let Some(Value::Array(agents)) = doc.remove("agents") else {
        return Ok(Vec::new());
    };
    let mut links: Vec<AgentLink> = Vec::with_capacity(agents.len());
    for agent in &agents {
        let agent_id = agent
            .get("value")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ScimError::invalid_value("agents: every agent needs a value"))?
            .to_string();
        let kind = agent
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_string);
        match links.iter_mut().find(|l| l.agent_id == agent_id) {
            Some(listed) => listed.kind = kind.or(listed.kind.take()),
            None => links.push(AgentLink { agent_id, kind }),
        }
    }
    if links.len() > MAX_AGENTS {
        return Err(ScimError::invalid_value(format!(
            "an agentic application has at most {MAX_AGENTS} agents"
        )));
    }
    Ok(links)
}

/// Refuses agents that are no live agent pushed to `/Agents`, before anything is
/// written: an application that silently lost an agent would leave the identity
/// provider believing in a link ownerbound never recorded. Agents the admin API
/// registered are not SCIM resources, so they cannot be linked either. Write
/// transactions run one at a time (`Store::begin`), so no agent checked here can be
/// deleted before this transaction links it.
async fn check_agents(tx: &mut Tx, links: &[AgentLink]) -> Result<(), ScimError> {
    let mut unknown = Vec::new();
    for link in links {
        let pushed = match tx.get_agent(&link.agent_id).await {
            Ok(agent) => agent.source == AgentSource::Scim.as_str(),
            Err(StoreError::NotFound) => false,
            Err(other) => return Err(other.into()),
        };
        if !pushed {
            unknown.push(format!("{:?}", link.agent_id));
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
        "agents: no Agent has the value {}{more}",
        unknown[..shown].join(", ")
    )))
}

/// `applicationUrls` as the URL table holds them.
fn urls_of(doc: &Map<String, Value>) -> Vec<ApplicationUrl> {
    let Some(Value::Array(urls)) = doc.get("applicationUrls") else {
        return Vec::new();
    };
    urls.iter()
        .filter_map(|url| {
            Some(ApplicationUrl {
                value: url.get("value").and_then(Value::as_str)?.to_string(),
                kind: url.get("type").and_then(Value::as_str).map(str::to_string),
                primary: url.get("primary").and_then(Value::as_bool).unwrap_or(false),
            })
        })
        .collect()
}

/// Inserts (`id` None) or updates an application; returns its id. `name` is
/// required and cannot be removed; its uniqueness is the unique index's.
async fn write(
    tx: &mut Tx,
    id: Option<&str>,
    doc: &Map<String, Value>,
    agents: &[AgentLink],
) -> Result<String, ScimError> {
    let name = doc
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ScimError::invalid_value("name is required and cannot be removed"))?;
    let document = Value::Object(doc.clone()).to_string();
    let urls = urls_of(doc);
    let fields = ApplicationFields {
        name,
        external_id: doc.get("externalId").and_then(Value::as_str),
        active: doc.get("active").and_then(Value::as_bool).unwrap_or(true),
        document: &document,
        urls: &urls,
        agents,
    };
    Ok(match id {
        Some(id) => {
            tx.update_application(id, &fields).await?;
            id.to_string()
        }
        None => tx.insert_application(&fields).await?,
    })
}

async fn audit(
    tx: &mut Tx,
    actor: &str,
    action: &str,
    id: &str,
    doc: &Map<String, Value>,
    agents: &[AgentLink],
) -> Result<(), ScimError> {
    let agents: Vec<&str> = agents.iter().map(|l| l.agent_id.as_str()).collect();
    tx.append_audit(
        &AuditEntry::new(actor, action, "application", Some(id)).with_details(json!({
            "name": doc.get("name"),
            "active": doc.get("active").and_then(Value::as_bool).unwrap_or(true),
            "agents": agents,
        })),
    )
    .await?;
    Ok(())
}

fn render_application(application: &Application, agents: &[ApplicationAgent], base: &str) -> Value {
    let doc: Map<String, Value> =
        serde_json::from_str(&application.scim_resource).unwrap_or_default();
    let mut extra = Map::new();
    extra.insert("name".into(), json!(application.name));
    extra.insert("active".into(), json!(application.active));
    let mine: Vec<Value> = agents
        .iter()
        .filter(|a| a.application_id == application.id)
        .map(|a| {
            let mut agent = json!({
                "value": a.agent_id,
                "$ref": format!("{base}/Agents/{}", a.agent_id),
                "display": a.display,
            });
            if let Some(kind) = &a.kind {
                agent["type"] = json!(kind);
            }
            agent
        })
        .collect();
    if !mine.is_empty() {
        extra.insert("agents".into(), Value::Array(mine));
    }
    render(
        &APPLICATION,
        &application.id,
        &doc,
        extra,
        Meta {
            resource_type: "AgenticApplication",
            created: application.created_at,
            last_modified: application.updated_at,
            location: format!("{base}/AgenticApplications/{}", application.id),
            version: application.version,
        },
    )
}

async fn application_response(
    state: &AppState,
    req: &HttpRequest,
    id: &str,
    status: StatusCode,
) -> Result<HttpResponse, ScimError> {
    let application = state.store.get_application(id).await.map_err(not_found)?;
    let agents = state
        .store
        .application_agents(std::slice::from_ref(&application.id))
        .await?;
    let base = base_url(req, state.settings.public_url.as_deref());
    let body = render_application(&application, &agents, &base);
    let mut response = respond(status, &body);
    if status == StatusCode::CREATED {
        if let Some(location) = body["meta"]["location"]
            .as_str()
            .and_then(|l| l.parse().ok())
        {
            response
                .headers_mut()
                .insert(actix_web::http::header::LOCATION, location);
        }
    }
    Ok(with_etag(response, application.version))
}

fn not_found(err: StoreError) -> ScimError {
    match err {
        StoreError::NotFound => ScimError::not_found("AgenticApplication"),
        other => other.into(),
    }
}
