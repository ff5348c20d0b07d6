//! `/api/v1/agents` and `/api/v1/credentials`

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::error::ApiError;
use super::json::ApiJson;
use super::page_request;
use super::views::{map_page, AgentView, CredentialView};
use crate::access::Caller;
use crate::domain::{AgentSource, AgentStatus, CredentialKind, CredentialStatus};
use crate::inventory::{
    AgentPatch, AgentSpec, CredentialOutcome, CredentialSpec, Inventory, OnExisting,
};
use crate::startup::AppState;
use crate::store::agents::AgentFilter;
use crate::store::credentials::CredentialFilter;
use crate::store::{PageRequest, StoreError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/agents")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        super::resource("/agents/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .service(
        super::resource("/agents/{id}/credentials")
            .route(web::get().to(list_agent_credentials))
            .route(web::post().to(add_credential)),
    )
    .service(
        super::resource("/agents/{id}/credentials/{credential_id}")
            .route(web::put().to(link_credential))
            .route(web::delete().to(unlink_credential)),
    );
}

pub fn credential_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/credentials").route(web::get().to(list_credentials)))
        .service(super::resource("/credentials/{id}").route(web::get().to(get_credential)));
}

fn inventory<'a>(state: &'a AppState, actor: &'a str) -> Inventory<'a> {
    Inventory {
        store: &state.store,
        keys: &state.keys,
        actor,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    owner: Option<String>,
    status: Option<AgentStatus>,
    orphaned: Option<bool>,
    platform: Option<String>,
    name: Option<String>,
    source: Option<AgentSource>,
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = page_request(query.limit, query.cursor)?;
    let filter = AgentFilter {
        owner: query.owner,
        status: query.status,
        orphaned: query.orphaned,
        platform: query.platform,
        name: query.name,
        source: query.source.map(|s| s.as_str().to_string()),
    };
    let agents = state.store.list_agents(&filter, &page).await?;
    Ok(HttpResponse::Ok().json(map_page(agents, |a| AgentView::new(a, None))))
}

async fn agent_view(state: &AppState, id: &str) -> Result<AgentView, ApiError> {
    let agent = state
        .store
        .get_agent(id)
        .await
        .map_err(not_found("agent"))?;
    let credentials = all_credentials_of(state, id).await?;
    let mut view = AgentView::new(agent, Some(credentials));
    view.events = Some(state.store.agent_events(id).await?);
    Ok(view)
}

async fn all_credentials_of(
    state: &AppState,
    agent_id: &str,
) -> Result<Vec<CredentialView>, ApiError> {
    let filter = CredentialFilter {
        agent_id: Some(agent_id.to_string()),
        ..Default::default()
    };
    let mut page = PageRequest {
        limit: PageRequest::MAX_LIMIT,
        after: None,
    };
    let mut views = Vec::new();
    loop {
        let batch = state.store.list_credentials(&filter, &page).await?;
        views.extend(batch.items.into_iter().map(CredentialView::from));
        match batch.next_cursor {
            Some(cursor) => page.after = Some(cursor),
            None => return Ok(views),
        }
    }
}

async fn get(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(agent_view(&state, &id).await?))
}

async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    spec: ApiJson<AgentSpec>,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.actor();
    let registration = inventory(&state, &actor)
        .register_agent(&spec, OnExisting::Conflict, AgentSource::Api)
        .await?;
    let mut view = agent_view(&state, &registration.agent_id).await?;
    if let Some(credentials) = view.credentials.as_mut() {
        for credential in credentials.iter_mut() {
            credential.outcome = registration
                .credentials
                .iter()
                .find(|(id, _)| *id == credential.id)
                .map(|(_, outcome)| *outcome);
        }
    }
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/agents/{}", view.id)))
        .json(view))
}

async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    patch: ApiJson<AgentPatch>,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.actor();
    inventory(&state, &actor).update_agent(&id, &patch).await?;
    Ok(HttpResponse::Ok().json(agent_view(&state, &id).await?))
}

async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.actor();
    inventory(&state, &actor).delete_agent(&id).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn list_agent_credentials(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state
        .store
        .get_agent(&id)
        .await
        .map_err(not_found("agent"))?;
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "items": all_credentials_of(&state, &id).await? })))
}

async fn add_credential(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    spec: ApiJson<CredentialSpec>,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.actor();
    let (credential_id, outcome) = inventory(&state, &actor).add_credential(&id, &spec).await?;
    credential_response(&state, &credential_id, outcome).await
}

async fn link_credential(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (agent_id, credential_id) = path.into_inner();
    let actor = caller.actor();
    let outcome = inventory(&state, &actor)
        .link_credential(&agent_id, &credential_id)
        .await?;
    credential_response(&state, &credential_id, outcome).await
}

async fn credential_response(
    state: &AppState,
    credential_id: &str,
    outcome: CredentialOutcome,
) -> Result<HttpResponse, ApiError> {
    let mut view = CredentialView::from(state.store.get_credential(credential_id).await?);
    view.outcome = Some(outcome);
    let mut response = match outcome {
        CredentialOutcome::Created => HttpResponse::Created(),
        _ => HttpResponse::Ok(),
    };
    Ok(response
        .insert_header(("Location", format!("/api/v1/credentials/{credential_id}")))
        .json(view))
}

async fn unlink_credential(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (agent_id, credential_id) = path.into_inner();
    let actor = caller.actor();
    inventory(&state, &actor)
        .unlink_credential(&agent_id, &credential_id)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialQuery {
    provider: Option<String>,
    kind: Option<CredentialKind>,
    status: Option<CredentialStatus>,
    agent_id: Option<String>,
    shared: Option<bool>,
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn list_credentials(
    state: web::Data<AppState>,
    query: web::Query<CredentialQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = page_request(query.limit, query.cursor)?;
    let filter = CredentialFilter {
        provider: query.provider,
        kind: query.kind,
        status: query.status,
        agent_id: query.agent_id,
        shared: query.shared,
    };
    let credentials = state.store.list_credentials(&filter, &page).await?;
    Ok(HttpResponse::Ok().json(map_page(credentials, CredentialView::from)))
}

async fn get_credential(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let credential = state
        .store
        .get_credential(&id)
        .await
        .map_err(not_found("credential"))?;
    Ok(HttpResponse::Ok().json(CredentialView::from(credential)))
}

fn not_found(what: &'static str) -> impl Fn(StoreError) -> ApiError {
    move |err| match err {
        StoreError::NotFound => ApiError::not_found(what),
        other => other.into(),
    }
}
