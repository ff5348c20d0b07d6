//! Discovery in the admin API: start a run of a provider, the runs with their counts,
//! what was found, and people's identities at providers (how found credentials are
//! attributed).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::json::ApiJson;
use crate::access::Caller;
use crate::audit::AuditEntry;
use crate::startup::AppState;
use crate::store::discovery::DiscoveredFilter;
use crate::store::StoreError;
use crate::tasks::{Schedule, Task};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/providers/{name}/discover").route(web::post().to(start)))
        .service(super::resource("/discoveries").route(web::get().to(runs)))
        .service(super::resource("/discoveries/{id}").route(web::get().to(run)))
        .service(super::resource("/discovered-credentials").route(web::get().to(found)))
        .service(super::resource("/people/{id}/identities").route(web::get().to(identities)))
        .service(
            super::resource("/people/{id}/identities/{provider}")
                .route(web::put().to(set_identity))
                .route(web::delete().to(remove_identity)),
        );
}

/// Queues a run of the provider's discovery now; 202 with the job that runs it.
async fn start(
    state: web::Data<AppState>,
    caller: Caller,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    let providers = &state.providers;
    if !providers.contains_key(&name) {
        return Err(ApiError::not_found("provider"));
    }
    if !crate::discovery::schedule::discovering(providers)
        .iter()
        .any(|(provider, _)| *provider == name)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "discovery_not_enabled",
            "this provider does not discover: set discover = true on it (aws_iam and vault can)",
        ));
    }
    let key = format!("discover:{name}:api:{}", uuid::Uuid::new_v4().simple());
    let mut tx = state.store.begin().await?;
    let task = Task::Discover {
        provider: name.clone(),
        trigger: "api".into(),
    };
    crate::tasks::enqueue(&mut tx, &task, &Schedule::now(&key)).await?;
    tx.append_audit(
        &AuditEntry::new(
            &caller.actor(),
            "discovery.requested",
            "provider",
            Some(&name),
        )
        .with_details(json!({"job_key": key})),
    )
    .await?;
    tx.commit().await?;
    let job = state.store.job_by_key(&key).await?;
    Ok(HttpResponse::Accepted().json(json!({
        "provider": name,
        "job_id": job.map(|j| j.id),
        "runs": format!("/api/v1/discoveries?provider={name}"),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunsQuery {
    provider: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// Runs, newest first.
async fn runs(
    state: web::Data<AppState>,
    query: web::Query<RunsQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = super::page_request(query.limit, query.cursor)?;
    let runs = state
        .store
        .list_discovery_runs(query.provider.as_deref(), &page)
        .await?;
    Ok(HttpResponse::Ok().json(runs))
}

async fn run(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    match state.store.get_discovery_run(&id).await {
        Ok(run) => Ok(HttpResponse::Ok().json(run)),
        Err(StoreError::NotFound) => Err(ApiError::not_found("discovery run")),
        Err(other) => Err(other.into()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FoundQuery {
    provider: Option<String>,
    person_id: Option<String>,
    shadow: Option<bool>,
    gone: Option<bool>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// What discovery found, with each credential's owner and inventory links.
async fn found(
    state: web::Data<AppState>,
    query: web::Query<FoundQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = super::page_request(query.limit, query.cursor)?;
    let filter = DiscoveredFilter {
        provider: query.provider,
        person_id: query.person_id,
        shadow: query.shadow,
        gone: query.gone,
    };
    let found = state.store.list_discovered(&filter, &page).await?;
    let items: Vec<Value> = found
        .items
        .iter()
        .map(|c| {
            let mut view = serde_json::to_value(c).expect("serialises");
            view["scopes"] = json!(c.scope_list());
            view["shadow"] = json!(c.person_id.is_none());
            view
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"items": items, "next_cursor": found.next_cursor})))
}

/// A live person, or 404.
async fn live_person(state: &AppState, id: &str) -> Result<(), ApiError> {
    match state.store.get_person(id).await {
        Ok(person) if person.deleted_at.is_none() => Ok(()),
        Ok(_) | Err(StoreError::NotFound) => Err(ApiError::not_found("person")),
        Err(other) => Err(other.into()),
    }
}

/// `{"aws": {"identity": "ada", "source": "api"}, …}`
async fn identities_view(state: &AppState, id: &str) -> Result<Value, ApiError> {
    let mut map = Map::new();
    for (provider, identity, source) in state.store.identities_of(id).await? {
        map.insert(provider, json!({"identity": identity, "source": source}));
    }
    Ok(Value::Object(map))
}

async fn identities(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    live_person(&state, &id).await?;
    Ok(HttpResponse::Ok().json(identities_view(&state, &id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentitySpec {
    identity: String,
}

/// The longest identity accepted (an Okta id, an email, a GitHub login, an ARN).
const MAX_IDENTITY: usize = 512;

async fn set_identity(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    spec: ApiJson<IdentitySpec>,
) -> Result<HttpResponse, ApiError> {
    let (id, provider) = path.into_inner();
    let identity = spec.identity.trim();
    if identity.is_empty()
        || identity.len() > MAX_IDENTITY
        || identity.chars().any(char::is_control)
    {
        // A field of the body, answered like the API's other body validations.
        return Err(crate::inventory::InventoryError::Invalid {
            field: "identity".into(),
            message: format!("must be 1 to {MAX_IDENTITY} characters, without control characters"),
        }
        .into());
    }
    if provider.is_empty() || provider.len() > 100 {
        return Err(ApiError::bad_param(
            "provider",
            "must be 1 to 100 characters",
        ));
    }
    live_person(&state, &id).await?;
    let mut tx = state.store.begin().await?;
    tx.set_identity(&id, &provider, identity, "api").await?;
    tx.append_audit(
        &AuditEntry::new(&caller.actor(), "person.identity_set", "person", Some(&id))
            .with_details(json!({"provider": provider, "identity": identity})),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(identities_view(&state, &id).await?))
}

async fn remove_identity(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, provider) = path.into_inner();
    live_person(&state, &id).await?;
    let mut tx = state.store.begin().await?;
    if !tx.remove_identity(&id, &provider).await? {
        return Err(ApiError::not_found("identity"));
    }
    tx.append_audit(
        &AuditEntry::new(
            &caller.actor(),
            "person.identity_removed",
            "person",
            Some(&id),
        )
        .with_details(json!({"provider": provider})),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
