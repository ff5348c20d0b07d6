//! `/api/v1/people`

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::error::ApiError;
use super::json::ApiJson;
use super::page_request;
use crate::access::Caller;
use crate::directory::{Directory, PersonPatch, PersonSpec};
use crate::domain::PersonSource;
use crate::startup::AppState;
use crate::store::lifecycle::LifecycleFilter;
use crate::store::people::PeopleFilter;
use crate::store::StoreError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/people")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        super::resource("/people/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update)),
    )
    .service(super::resource("/lifecycle-events").route(web::get().to(lifecycle_events)));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventQuery {
    person_id: Option<String>,
    kind: Option<String>,
    pending: Option<bool>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// Person-deactivated and person-reactivated events, oldest first.
async fn lifecycle_events(
    state: web::Data<AppState>,
    query: web::Query<EventQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = page_request(query.limit, query.cursor)?;
    let filter = LifecycleFilter {
        person_id: query.person_id,
        kind: query.kind,
        pending: query.pending,
    };
    Ok(HttpResponse::Ok().json(state.store.list_lifecycle_events(&filter, &page).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    active: Option<bool>,
    email: Option<String>,
    q: Option<String>,
    source: Option<PersonSource>,
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = page_request(query.limit, query.cursor)?;
    let filter = PeopleFilter {
        active: query.active,
        email: query.email,
        query: query.q,
        source: query.source,
    };
    Ok(HttpResponse::Ok().json(state.store.list_people(&filter, &page).await?))
}

async fn get(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let person = state.store.get_person(&id).await.map_err(person_error)?;
    if person.deleted_at.is_some() {
        return Err(ApiError::not_found("person"));
    }
    Ok(HttpResponse::Ok().json(person))
}

async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    spec: ApiJson<PersonSpec>,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.actor();
    let directory = Directory {
        store: &state.store,
        actor: &actor,
    };
    let id = directory.create_person(&spec).await?;
    let person = state.store.get_person(&id).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/people/{id}")))
        .json(person))
}

async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    patch: ApiJson<PersonPatch>,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.actor();
    let directory = Directory {
        store: &state.store,
        actor: &actor,
    };
    directory.update_person(&id, &patch).await?;
    Ok(HttpResponse::Ok().json(state.store.get_person(&id).await?))
}

fn person_error(err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::not_found("person"),
        other => other.into(),
    }
}
