//! `/api/v1/people/{id}/impact`, `/people/{id}/offboard`, `/offboardings`, `/jobs`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::json::optional_body;
use super::page_request;
use crate::access::Caller;
use crate::lifecycle::{deactivate, Cause};
use crate::offboarding::impact;
use crate::startup::AppState;
use crate::store::offboarding::CaseFilter;
use crate::store::StoreError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/people/{id}/impact").route(web::get().to(preview)))
        .service(super::resource("/people/{id}/offboard").route(web::post().to(offboard)))
        .service(super::resource("/offboardings").route(web::get().to(list)))
        .service(super::resource("/offboardings/{id}").route(web::get().to(get)))
        .service(super::resource("/offboardings/items/{id}/confirm").route(web::post().to(confirm)))
        .service(super::resource("/jobs").route(web::get().to(jobs)))
        .service(super::resource("/jobs/{id}/retry").route(web::post().to(retry)))
        .service(super::resource("/providers/health").route(web::get().to(provider_health)))
        .service(super::resource("/instances").route(web::get().to(instances)));
}

/// What offboarding the person would do, without doing it.
async fn preview(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let mut tx = state.store.begin().await?;
    let person = tx.get_person(&id).await.map_err(person_not_found)?;
    if person.deleted_at.is_some() {
        return Err(ApiError::not_found("person"));
    }
    let impact = impact(&mut tx, &id, state.settings.shared_credentials).await?;
    // Nothing was written: the transaction rolls back as it is dropped.
    drop(tx);
    Ok(HttpResponse::Ok().json(impact))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OffboardRequest {
    reason: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

/// Offboards a person now: deactivates them, which opens the case.
async fn offboard(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: OffboardRequest = optional_body(&body)?;
    if request.dry_run {
        return preview(state, id).await;
    }
    let actor = caller.actor();
    let outcome =
        offboard_person(&state.store, &id, &actor, "api", request.reason.as_deref()).await?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED).json(outcome))
}

/// Deactivates a person on behalf of `actor`; the case opens through the queue.
pub async fn offboard_person(
    store: &crate::store::Store,
    person_id: &str,
    actor: &str,
    source: &str,
    reason: Option<&str>,
) -> Result<serde_json::Value, ApiError> {
    let mut tx = store.begin().await?;
    let person = tx.get_person(person_id).await.map_err(person_not_found)?;
    if person.deleted_at.is_some() {
        return Err(ApiError::not_found("person"));
    }
    let cause = Cause {
        source,
        actor,
        reason: Some(reason.unwrap_or("offboarded manually")),
    };
    if !deactivate(&mut tx, person_id, cause).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_inactive",
            "this person is already inactive; their case is at /api/v1/offboardings?person_id=…",
        ));
    }
    tx.commit().await?;
    Ok(json!({"status": "offboarding", "person_id": person_id}))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    person_id: Option<String>,
    agent_id: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = page_request(query.limit, query.cursor)?;
    Ok(HttpResponse::Ok().json(
        state
            .store
            .list_cases(
                &CaseFilter {
                    person_id: query.person_id,
                    agent_id: query.agent_id,
                },
                &page,
            )
            .await?,
    ))
}

/// A case with its items and its timeline (the audit entries about it).
async fn get(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (case, items) = state.store.get_case(&id).await.map_err(|err| match err {
        StoreError::NotFound => ApiError::not_found("offboarding"),
        other => other.into(),
    })?;
    let keys: Vec<String> = items
        .iter()
        .map(|item| crate::offboarding::revoke_key(&item.credential_id, &item.case_id))
        .collect();
    let jobs = state.store.jobs_by_keys(&keys).await?;
    let live: std::collections::BTreeSet<String> = state
        .store
        .live_instances()
        .await?
        .into_iter()
        .map(|instance| instance.id)
        .collect();
    let items: Vec<serde_json::Value> = items
        .into_iter()
        .map(|item| {
            let mut value = serde_json::to_value(&item).expect("item serialises");
            value["agent_ids"] = serde_json::from_str(&item.agent_ids).unwrap_or_default();
            value["collateral"] = serde_json::from_str(&item.collateral).unwrap_or_default();
            let key = crate::offboarding::revoke_key(&item.credential_id, &item.case_id);
            if let Some(job) = jobs.iter().find(|job| job.dedupe_key == key) {
                let deadline = job.deadline_at.unwrap_or(
                    job.created_at
                        + chrono::Duration::seconds(state.settings.retry_deadline_seconds as i64),
                );
                value["revocation"] = revocation_view(job, deadline, &live);
            }
            value
        })
        .collect();
    let timeline = state
        .store
        .audit_for_subject("offboarding_case", &id)
        .await?;
    Ok(HttpResponse::Ok().json(json!({"case": case, "items": items, "timeline": timeline})))
}

/// Each provider seen by the job queue: `up` or `down` since when, with the last
/// transient error (an outage in progress is here within one failed call).
async fn provider_health(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(json!({"items": state.store.provider_health().await?})))
}

/// The live instances running jobs, with their last heartbeat.
async fn instances(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(json!({"items": state.store.live_instances().await?})))
}

/// Where an item's revocation job stands: a call in flight (since when, on which
/// instance, whether that instance is alive), waiting for its next attempt after
/// failures (until its deadline), dead, or done.
fn revocation_view(
    job: &crate::store::jobs::Job,
    deadline: chrono::DateTime<chrono::Utc>,
    live: &std::collections::BTreeSet<String>,
) -> serde_json::Value {
    let state = match job.status.as_str() {
        "running" => "in_flight",
        "ready" if job.failing_since.is_some() => "retrying",
        "ready" => "queued",
        other => other,
    };
    let mut view = json!({
        "job_id": job.id,
        "state": state,
        "attempts": job.attempts,
        "last_error": job.last_error,
    });
    if job.status == "running" {
        view["in_flight"] = json!({
            "since": job.claimed_at,
            "instance": job.lease_instance,
            "instance_alive": job.lease_instance.as_ref().is_some_and(|i| live.contains(i)),
        });
    }
    if job.failing_since.is_some() {
        view["failing_since"] = json!(job.failing_since);
        view["deadline_at"] = json!(deadline);
    }
    if job.status == "ready" {
        view["next_attempt_at"] = json!(job.run_after);
    }
    if job.status == "dead" {
        view["dead_reason"] = json!(job.dead_reason);
    }
    view
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmRequest {
    /// How it was revoked, for the record.
    note: Option<String>,
}

/// Someone revoked a credential by hand (a manual task, or an item that needed a
/// human): record it, with who and how.
async fn confirm(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: ConfirmRequest = optional_body(&body)?;
    use crate::offboarding::{confirm_by_hand, ConfirmError};
    match confirm_by_hand(&state.store, &id, &caller.actor(), request.note.as_deref()).await {
        Ok(item) => Ok(HttpResponse::Ok().json(item)),
        Err(ConfirmError::NotFound) => Err(ApiError::not_found("offboarding item")),
        Err(err @ ConfirmError::NotAwaiting(_)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_awaiting_a_human",
            err.to_string(),
        )),
        Err(ConfirmError::Store(err)) => Err(err.into()),
    }
}

async fn jobs(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let page = page_request(query.limit, query.cursor)?;
    Ok(HttpResponse::Ok().json(
        state
            .store
            .list_jobs(query.status.as_deref(), &page)
            .await?,
    ))
}

/// Runs a dead job again now, retried until a fresh deadline.
async fn retry(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let deadline = crate::store::now()
        + chrono::Duration::seconds(state.settings.retry_deadline_seconds as i64);
    let job = state
        .store
        .retry_job(&id, deadline)
        .await?
        .ok_or_else(|| ApiError::not_found("dead job"))?;
    let mut tx = state.store.begin().await?;
    tx.append_audit(&crate::audit::AuditEntry::new(
        &caller.actor(),
        "job.retried",
        "job",
        Some(&job.id),
    ))
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(job))
}

fn person_not_found(err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::not_found("person"),
        other => other.into(),
    }
}
