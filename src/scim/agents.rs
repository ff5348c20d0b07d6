//! `/scim/v2/Agents`: AI agents pushed by identity providers, as
//! draft-abbey-scim-agent-extension and draft-wzdk-scim-agent-resource define them.
//!
//! A pushed agent *is* an agent of the inventory (same id, listed in
//! `/api/v1/agents`, findings and reports) with source `scim`: the identity provider
//! owns its attributes and its owners, the admin API only attaches credentials. Its
//! owners are Users or Groups. `active: false` or a DELETE opens an offboarding case
//! whose subject is the agent, revoking and verifying its credentials like a
//! departure does.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::list::{list_response, project, ListParams, SearchRequest};
use super::patch::{self, PatchRequest};
use super::resource::{canonicalize, render, Meta};
use super::schema::AGENT;
use super::sql::{self, Resource};
use super::{
    as_object, base_url, check_if_match, resource, respond, respond_resource, with_etag, ScimJson,
};
use crate::access::Caller;
use crate::audit::AuditEntry;
use crate::domain::{AgentSource, AgentStatus};
use crate::offboarding::enqueue_agent_case;
use crate::startup::AppState;
use crate::store::agents::{
    Agent, AgentFields, AgentOwner, OwnerRef, AGENT_DEACTIVATED, AGENT_DELETED,
};
use crate::store::applications::AgentApplication;
use crate::store::{StoreError, Tx};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/Agents/.search").route(web::post().to(search)))
        .service(
            resource("/Agents")
                .route(web::get().to(list))
                .route(web::post().to(create)),
        )
        .service(
            resource("/Agents/{id}")
                .route(web::get().to(get))
                .route(web::put().to(replace))
                .route(web::patch().to(patch_agent))
                .route(web::delete().to(delete)),
        );
}

async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ScimError> {
    let params = SearchRequest::from_query(&query)?.validate(Resource::Agent)?;
    list_agents(&state, &req, params).await
}

async fn search(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ScimJson<SearchRequest>,
) -> Result<HttpResponse, ScimError> {
    let params = body.0.checked()?.validate(Resource::Agent)?;
    list_agents(&state, &req, params).await
}

async fn list_agents(
    state: &AppState,
    req: &HttpRequest,
    params: ListParams,
) -> Result<HttpResponse, ScimError> {
    let (total, resources) = agents_page(state, req, &params).await?;
    Ok(respond(
        StatusCode::OK,
        &list_response(total, params.start_index, resources),
    ))
}

/// The pushed agents matching `params`, in total, and the page of them it asks for.
pub(super) async fn agents_page(
    state: &AppState,
    req: &HttpRequest,
    params: &ListParams,
) -> Result<(i64, Vec<Value>), ScimError> {
    let condition = match &params.filter {
        Some(filter) => sql::to_sql(Resource::Agent, filter)?,
        None => sql::all(),
    };
    let (total, agents) = state
        .store
        .query_scim_agents(
            &condition,
            &params.order_by("a.id"),
            params.offset(),
            params.count,
        )
        .await?;
    let applications = if params.wants("applications") {
        let ids: Vec<String> = agents.iter().map(|a| a.id.clone()).collect();
        state.store.applications_of_agents(&ids).await?
    } else {
        Vec::new()
    };
    let base = base_url(req, state.settings.public_url.as_deref());
    let resources = agents
        .iter()
        .map(|a| {
            project(
                &AGENT,
                render_agent(a, &applications, &base),
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
    let params = SearchRequest::from_query(&query)?.validate(Resource::Agent)?;
    let agent = pushed(state.store.get_agent(&id).await)?;
    let applications = state
        .store
        .applications_of_agents(std::slice::from_ref(&agent.id))
        .await?;
    let base = base_url(&req, state.settings.public_url.as_deref());
    let body = project(
        &AGENT,
        render_agent(&agent, &applications, &base),
        &params.attributes,
        &params.excluded,
    );
    Ok(with_etag(respond(StatusCode::OK, &body), agent.version))
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: ScimJson<Value>,
) -> Result<HttpResponse, ScimError> {
    let mut doc = document_of(as_object(&body.0)?)?;
    let actor = caller.actor();
    let mut tx = state.store.begin().await?;
    let owners = resolve_owners(&mut tx, take_owners(&mut doc)).await?;
    let fields = fields_of(&doc, owners);
    // An agent registered through the API under this name is the same agent: the
    // identity provider takes it over (as SCIM adopts people the API created).
    let adopted = match tx.find_agent_by_name(&fields.name).await? {
        Some(id) => {
            let existing = tx.get_agent(&id).await?;
            if existing.source == AgentSource::Scim.as_str() {
                return Err(ScimError::uniqueness(
                    "an agent with this name already exists",
                ));
            }
            Some(id)
        }
        None => None,
    };
    let action = if adopted.is_some() {
        "scim.agent.adopted"
    } else {
        "scim.agent.created"
    };
    let id = match adopted {
        Some(id) => {
            tx.update_agent(&id, &fields).await?;
            tx.set_agent_source(&id, AgentSource::Scim).await?;
            id
        }
        None => tx.insert_agent(&fields, AgentSource::Scim).await?,
    };
    audit(&mut tx, &actor, action, &id, &fields).await?;
    tx.commit().await?;
    agent_response(&state, &req, &id, StatusCode::CREATED).await
}

async fn replace(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    id: web::Path<String>,
    body: ScimJson<Value>,
) -> Result<HttpResponse, ScimError> {
    let mut doc = document_of(as_object(&body.0)?)?;
    let actor = caller.actor();
    let mut tx = state.store.begin().await?;
    let current = pushed(tx.get_agent(&id).await)?;
    check_if_match(&req, current.version)?;
    keep_subject(&current, &mut doc)?;
    // As for Users: a PUT that leaves out `active` changes nothing about it.
    doc.entry("active")
        .or_insert(json!(current.status == AgentStatus::Active.as_str()));
    let owners = resolve_owners(&mut tx, take_owners(&mut doc)).await?;
    write(
        &mut tx,
        &actor,
        &current,
        &doc,
        owners,
        "scim.agent.replaced",
    )
    .await?;
    tx.commit().await?;
    agent_response(&state, &req, &id, StatusCode::OK).await
}

async fn patch_agent(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    id: web::Path<String>,
    body: ScimJson<PatchRequest>,
) -> Result<HttpResponse, ScimError> {
    let actor = caller.actor();
    let mut tx = state.store.begin().await?;
    let current = pushed(tx.get_agent(&id).await)?;
    check_if_match(&req, current.version)?;
    let mut doc = stored_document(&current);
    let owners: Vec<Value> = current.owners.iter().filter_map(owner_input).collect();
    if !owners.is_empty() {
        doc.insert("owners".into(), Value::Array(owners));
    }
    // The column is authoritative for `active`: it is what revocation acted on.
    doc.insert(
        "active".into(),
        json!(current.status == AgentStatus::Active.as_str()),
    );
    let before = doc.clone();
    let ignored = patch::apply(&AGENT, &mut doc, &current.id, &body.0.operations)?;
    if ignored.iter().any(|p| !p.is_empty()) {
        tracing::debug!(paths = ?ignored, "ignoring PATCH paths outside the Agent schema");
    }
    fill_in_handles(&before, &mut doc)?;
    keep_subject(&current, &mut doc)?;
    // As for Users: removing `active` (or setting it to null) deactivates; a missing
    // value never reads as "active", so it cannot bring a disabled agent back.
    doc.entry("active").or_insert(json!(false));
    let owners = resolve_owners(&mut tx, take_owners(&mut doc)).await?;
    write(
        &mut tx,
        &actor,
        &current,
        &doc,
        owners,
        "scim.agent.patched",
    )
    .await?;
    tx.commit().await?;
    agent_response(&state, &req, &id, StatusCode::OK).await
}

async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let actor = caller.actor();
    let mut tx = state.store.begin().await?;
    let current = pushed(tx.get_agent(&id).await)?;
    check_if_match(&req, current.version)?;
    tx.delete_agent(&current.id).await?;
    // A deleted agent is no longer one of any application's agents.
    tx.unlink_agent_from_applications(&current.id).await?;
    tx.append_audit(
        &AuditEntry::new(&actor, "scim.agent.deleted", "agent", Some(&current.id))
            .with_details(json!({"name": current.name})),
    )
    .await?;
    // In the same transaction: an acknowledged deletion is never lost.
    enqueue_agent_case(&mut tx, &current.id, AGENT_DELETED, &actor).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Writes a replaced or patched agent; an agent that stops being active gets the case
/// that revokes its credentials, in the same transaction.
async fn write(
    tx: &mut Tx,
    actor: &str,
    current: &Agent,
    doc: &Map<String, Value>,
    owners: Vec<OwnerRef>,
    action: &str,
) -> Result<(), ScimError> {
    let fields = fields_of(doc, owners);
    tx.update_agent(&current.id, &fields).await?;
    audit(tx, actor, action, &current.id, &fields).await?;
    let was_active = current.status == AgentStatus::Active.as_str();
    if was_active && fields.status != AgentStatus::Active {
        tx.append_audit(&AuditEntry::new(
            actor,
            "scim.agent.deactivated",
            "agent",
            Some(&current.id),
        ))
        .await?;
        enqueue_agent_case(tx, &current.id, AGENT_DEACTIVATED, actor).await?;
    }
    Ok(())
}

/// The canonical document of a POST or PUT body, with both handles filled in (see
/// [`fill_in_handles`]).
fn document_of(input: &Map<String, Value>) -> Result<Map<String, Value>, ScimError> {
    let mut input = input.clone();
    let given = |input: &Map<String, Value>, name: &str| {
        input
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    if given(&input, "name").is_none() {
        if let Some(handle) = given(&input, "agentUserName") {
            input.insert("name".into(), handle);
        }
    }
    let mut doc = canonicalize(&AGENT, &input)?;
    fill_in_handles(&Map::new(), &mut doc)?;
    Ok(doc)
}

/// The two drafts name an agent's handle differently: draft-abbey's `name` and
/// draft-wzdk's `agentUserName`. Both are kept as the client wrote them, each unique
/// among agents; one the client leaves out takes the other's value, and one that
/// only ever held the other's value follows it when the other changes.
fn fill_in_handles(
    before: &Map<String, Value>,
    doc: &mut Map<String, Value>,
) -> Result<(), ScimError> {
    let read = |d: &Map<String, Value>, k: &str| {
        d.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let (name, handle) = (read(doc, "name"), read(doc, "agentUserName"));
    let derived_before = read(before, "name") == read(before, "agentUserName");
    let changed = |k: &str, v: &Option<String>| v.is_some() && *v != read(before, k);
    let (name, handle) = match (name, handle) {
        (Some(n), Some(h)) if derived_before && !before.is_empty() => {
            match (
                changed("name", &Some(n.clone())),
                changed("agentUserName", &Some(h.clone())),
            ) {
                (true, false) => (n.clone(), n),
                (false, true) => (h.clone(), h),
                _ => (n, h),
            }
        }
        (Some(n), Some(h)) => (n, h),
        (Some(v), None) | (None, Some(v)) => (v.clone(), v),
        (None, None) => return Err(ScimError::invalid_value("name is required")),
    };
    doc.insert("name".into(), json!(name));
    doc.insert("agentUserName".into(), json!(handle));
    Ok(())
}

/// `subject` is set on creation and immutable afterwards (draft-abbey §4).
fn keep_subject(current: &Agent, doc: &mut Map<String, Value>) -> Result<(), ScimError> {
    let stored = stored_document(current).get("subject").cloned();
    match (stored, doc.get("subject").cloned()) {
        (Some(old), Some(new)) if old != new => {
            Err(ScimError::mutability("subject cannot change once set"))
        }
        (Some(old), None) => {
            doc.insert("subject".into(), old);
            Ok(())
        }
        _ => Ok(()),
    }
}

fn take_owners(doc: &mut Map<String, Value>) -> Vec<Value> {
    match doc.remove("owners") {
        Some(Value::Array(owners)) => owners,
        _ => Vec::new(),
    }
}

/// Resolves each owner to a live User or an existing Group: by `type` when the client
/// said it, else by looking the id up in Users, then Groups (`$ref` is read-only and
/// was dropped with the rest of what the server owns). An owner that is neither, or
/// is not what its `type` says, is refused, and nothing changes.
async fn resolve_owners(tx: &mut Tx, owners: Vec<Value>) -> Result<Vec<OwnerRef>, ScimError> {
    if owners.len() > 100 {
        return Err(ScimError::invalid_value("an agent has at most 100 owners"));
    }
    let mut refs = Vec::with_capacity(owners.len());
    for owner in owners {
        let value = owner
            .get("value")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ScimError::invalid_value("owners: every owner needs a value"))?
            .to_string();
        let kind = owner.get("type").and_then(Value::as_str).unwrap_or("");
        let said_group = kind.eq_ignore_ascii_case("group");
        let said_user = kind.eq_ignore_ascii_case("user");
        if !(kind.is_empty() || said_group || said_user) {
            return Err(ScimError::invalid_value(format!(
                "owners: type is User or Group, not {kind:?}"
            )));
        }
        let is_user = !said_group && tx.person_is_live(&value).await?;
        let is_group = !said_user && !is_user && group_exists(tx, &value).await?;
        refs.push(match (is_user, is_group) {
            (true, _) => OwnerRef::Person {
                id: value,
                email: None,
            },
            (_, true) => OwnerRef::Group(value),
            _ => {
                return Err(ScimError::invalid_value(format!(
                    "owners: {value:?} is no User or Group of this service provider"
                )))
            }
        });
    }
    Ok(refs)
}

async fn group_exists(tx: &mut Tx, id: &str) -> Result<bool, ScimError> {
    match tx.get_group(id).await {
        Ok(_) => Ok(true),
        Err(StoreError::NotFound) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

fn fields_of(doc: &Map<String, Value>, owners: Vec<OwnerRef>) -> AgentFields {
    let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
    let active = doc.get("active").and_then(Value::as_bool).unwrap_or(true);
    let name = text("name").unwrap_or_default().trim().to_string();
    AgentFields {
        // Kept apart only when the client set it apart.
        user_name: text("agentUserName")
            .map(|u| u.trim().to_string())
            .filter(|u| *u != name),
        name,
        description: text("description"),
        platform: text("agentType"),
        status: if active {
            AgentStatus::Active
        } else {
            AgentStatus::Disabled
        },
        owners,
        used_scopes: None,
        external_id: text("externalId"),
        scim_resource: Some(Value::Object(doc.clone()).to_string()),
    }
}

fn stored_document(agent: &Agent) -> Map<String, Value> {
    agent
        .scim_resource
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_default()
}

/// An owner as a PATCH sees it (unresolved emails, which only the API can register,
/// are not SCIM resources).
fn owner_input(owner: &AgentOwner) -> Option<Value> {
    match (&owner.group_id, &owner.person_id) {
        (Some(group), _) => Some(json!({"value": group, "type": "Group"})),
        (None, Some(person)) => Some(json!({"value": person, "type": "User"})),
        _ => None,
    }
}

fn render_agent(agent: &Agent, applications: &[AgentApplication], base: &str) -> Value {
    let doc = stored_document(agent);
    let mut extra = Map::new();
    extra.insert("name".into(), json!(agent.name));
    let user_name = doc
        .get("agentUserName")
        .cloned()
        .unwrap_or_else(|| json!(agent.name));
    extra.insert("agentUserName".into(), user_name);
    extra.insert(
        "active".into(),
        json!(agent.status == AgentStatus::Active.as_str()),
    );
    if let Some(external_id) = &agent.external_id {
        extra.insert("externalId".into(), json!(external_id));
    }
    let owners: Vec<Value> = agent
        .owners
        .iter()
        .filter_map(|o| {
            let (id, kind, path) = match (&o.group_id, &o.person_id) {
                (Some(g), _) => (g, "Group", "Groups"),
                (None, Some(p)) => (p, "User", "Users"),
                _ => return None,
            };
            let mut owner =
                json!({"value": id, "$ref": format!("{base}/{path}/{id}"), "type": kind});
            if let Some(display) = &o.display_name {
                owner["display"] = json!(display);
            }
            Some(owner)
        })
        .collect();
    if !owners.is_empty() {
        extra.insert("owners".into(), Value::Array(owners));
    }
    // Read-only: which AgenticApplications list this agent among their `agents`.
    let applications: Vec<Value> = applications
        .iter()
        .filter(|a| a.agent_id == agent.id)
        .map(|a| {
            json!({
                "value": a.application_id,
                "$ref": format!("{base}/AgenticApplications/{}", a.application_id),
                "display": a.display,
            })
        })
        .collect();
    if !applications.is_empty() {
        extra.insert("applications".into(), Value::Array(applications));
    }
    render(
        &AGENT,
        &agent.id,
        &doc,
        extra,
        Meta {
            resource_type: "Agent",
            created: agent.created_at,
            last_modified: agent.updated_at,
            location: format!("{base}/Agents/{}", agent.id),
            version: agent.version,
        },
    )
}

async fn agent_response(
    state: &AppState,
    req: &HttpRequest,
    id: &str,
    status: StatusCode,
) -> Result<HttpResponse, ScimError> {
    let agent = pushed(state.store.get_agent(id).await)?;
    let applications = state
        .store
        .applications_of_agents(std::slice::from_ref(&agent.id))
        .await?;
    let base = base_url(req, state.settings.public_url.as_deref());
    let body = render_agent(&agent, &applications, &base);
    Ok(respond_resource(status, &body, agent.version))
}

async fn audit(
    tx: &mut Tx,
    actor: &str,
    action: &str,
    id: &str,
    fields: &AgentFields,
) -> Result<(), ScimError> {
    let owners: Vec<Value> = fields
        .owners
        .iter()
        .map(|o| match o {
            OwnerRef::Person { id, .. } => json!({"user": id}),
            OwnerRef::Group(id) => json!({"group": id}),
            OwnerRef::Email(_) => json!({"unresolved": true}),
        })
        .collect();
    tx.append_audit(
        &AuditEntry::new(actor, action, "agent", Some(id)).with_details(json!({
            "name": fields.name,
            "status": fields.status,
            "owners": owners,
        })),
    )
    .await?;
    Ok(())
}

/// A live agent pushed over SCIM; agents registered through the API are not SCIM
/// resources (an identity provider that listed them might delete them).
fn pushed(found: Result<Agent, StoreError>) -> Result<Agent, ScimError> {
    match found {
        Ok(agent) if agent.source == AgentSource::Scim.as_str() => Ok(agent),
        Ok(_) | Err(StoreError::NotFound) => Err(ScimError::not_found("Agent")),
        Err(other) => Err(other.into()),
    }
}
