//! `/scim/v2/Users`: SCIM users are the people of the directory.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::list::{list_response, project, ListParams, SearchRequest};
use super::patch::{self, PatchRequest};
use super::resource::{canonicalize, render, Meta};
use super::schema::{ENTERPRISE_SCHEMA, USER};
use super::sql::{self, Resource};
use super::{as_object, base_url, check_if_match, resource, respond, with_etag, ScimJson, SOURCE};
use crate::access::Caller;
use crate::audit::AuditEntry;
use crate::directory::resolve_agents;
use crate::domain::PersonSource;
use crate::lifecycle::{record_transition, refuse_idp_reactivation, Cause};
use crate::startup::AppState;
use crate::store::people::{Person, PersonEmail, PersonFields};
use crate::store::{StoreError, Tx};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/Users/.search").route(web::post().to(search)))
        .service(
            resource("/Users")
                .route(web::get().to(list))
                .route(web::post().to(create)),
        )
        .service(
            resource("/Users/{id}")
                .route(web::get().to(get))
                .route(web::put().to(replace))
                .route(web::patch().to(patch_user))
                .route(web::delete().to(delete)),
        );
}

async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ScimError> {
    let params = SearchRequest::from_query(&query)?.validate(Resource::User)?;
    list_users(&state, &req, params).await
}

async fn search(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ScimJson<SearchRequest>,
) -> Result<HttpResponse, ScimError> {
    let params = body.0.checked()?.validate(Resource::User)?;
    list_users(&state, &req, params).await
}

async fn list_users(
    state: &AppState,
    req: &HttpRequest,
    params: ListParams,
) -> Result<HttpResponse, ScimError> {
    let (total, resources) = users_page(state, req, &params).await?;
    Ok(respond(
        StatusCode::OK,
        &list_response(total, params.start_index, resources),
    ))
}

/// The users matching `params`, in total, and the page of them it asks for.
pub(super) async fn users_page(
    state: &AppState,
    req: &HttpRequest,
    params: &ListParams,
) -> Result<(i64, Vec<Value>), ScimError> {
    let condition = match &params.filter {
        Some(filter) => sql::to_sql(Resource::User, filter)?,
        None => sql::all(),
    };
    let (total, people) = state
        .store
        .query_people(
            &condition,
            &params.order_by("p.id"),
            params.offset(),
            params.count,
        )
        .await?;
    let base = base_url(req, state.settings.public_url.as_deref());
    let resources = people
        .iter()
        .map(|person| {
            let rendered = render_user(person, &base);
            project(&USER, rendered, &params.attributes, &params.excluded)
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
    let params = SearchRequest::from_query(&query)?.validate(Resource::User)?;
    let person = live_person(&state, &id).await?;
    let rendered = project(
        &USER,
        user_json(&state, &req, &person),
        &params.attributes,
        &params.excluded,
    );
    Ok(with_etag(
        respond(StatusCode::OK, &rendered),
        person.version,
    ))
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: ScimJson<Value>,
) -> Result<HttpResponse, ScimError> {
    let doc = canonicalize(&USER, as_object(&body.0)?)?;
    let actor = caller.actor();
    let projection = Projection::of(&doc);
    projection.check_lengths()?;
    let mut tx = state.store.begin().await?;
    let adopted = find_adoptable(&mut tx, &projection).await?;
    let (id, was_active) = match &adopted {
        Some(id) => {
            let current = tx.get_person(id).await?;
            (id.clone(), Some(current.active))
        }
        None => (String::new(), None),
    };
    let (mut fields, not_indexed) = projection.fields(&mut tx, adopted.as_deref()).await?;
    fields.active = doc.get("active").and_then(Value::as_bool).unwrap_or(true);
    let mut held = false;
    if let Some(was_active) = was_active {
        held = refuse_idp_reactivation(&mut tx, &id, was_active, fields.active, &actor).await?;
        fields.active &= !held;
    }
    let id = match was_active {
        Some(_) => {
            tx.update_person(&id, &fields).await?;
            id
        }
        None => tx.insert_person(PersonSource::Scim, &fields).await?,
    };
    let action = if adopted.is_some() {
        "scim.user.adopted"
    } else {
        "scim.user.created"
    };
    let mut skipped = persist(&mut tx, &id, &as_held(&doc, held), &projection, &actor).await?;
    skipped.extend(not_indexed.iter().map(|c| c.to_string()));
    audit(&mut tx, &actor, action, &id, &skipped, &[]).await?;
    if let Some(was_active) = was_active {
        record_transition(&mut tx, &id, was_active, fields.active, cause(&actor, None)).await?;
    }
    tx.commit().await?;
    let person = live_person(&state, &id).await?;
    let body = user_json(&state, &req, &person);
    let location = body["meta"]["location"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok(with_etag(
        HttpResponse::Created()
            .insert_header(("Content-Type", super::error::SCIM_JSON))
            .insert_header(("Location", location))
            .body(body.to_string()),
        person.version,
    ))
}

async fn replace(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    id: web::Path<String>,
    body: ScimJson<Value>,
) -> Result<HttpResponse, ScimError> {
    let actor = caller.actor();
    let result = replace_user(&state, &req, &actor, &id, &body.0).await;
    if let Err(err) = &result {
        if body
            .0
            .as_object()
            .is_some_and(|o| is_false(field(o, "active")))
        {
            deactivate_despite(&state, &actor, &id, err).await?;
        }
    }
    result
}

async fn replace_user(
    state: &AppState,
    req: &HttpRequest,
    actor: &str,
    id: &str,
    body: &Value,
) -> Result<HttpResponse, ScimError> {
    let mut doc = canonicalize(&USER, as_object(body)?)?;
    let mut tx = state.store.begin().await?;
    let current = live_person_in(&mut tx, id).await?;
    check_if_match(req, current.version)?;
    // A PUT that leaves out `active` must not silently reactivate anyone.
    if !doc.contains_key("active") {
        doc.insert("active".into(), Value::Bool(current.active));
    }
    write_update(&mut tx, &current, &doc, actor, "scim.user.replaced", &[]).await?;
    tx.commit().await?;
    respond_user(state, req, id).await
}

async fn patch_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    id: web::Path<String>,
    body: ScimJson<PatchRequest>,
) -> Result<HttpResponse, ScimError> {
    let actor = caller.actor();
    let result = apply_patch(&state, &req, &actor, &id, &body.0).await;
    if let Err(err) = &result {
        if asks_to_deactivate(&body.0.operations) {
            deactivate_despite(&state, &actor, &id, err).await?;
        }
    }
    result
}

async fn apply_patch(
    state: &AppState,
    req: &HttpRequest,
    actor: &str,
    id: &str,
    body: &PatchRequest,
) -> Result<HttpResponse, ScimError> {
    let mut tx = state.store.begin().await?;
    let current = live_person_in(&mut tx, id).await?;
    check_if_match(req, current.version)?;
    let mut doc = document_of(&current);
    doc.insert("active".into(), Value::Bool(current.active));
    let ignored = patch::apply(&USER, &mut doc, &current.id, &body.operations)?;
    // Removing `active`, or setting it to null (the same thing, RFC 7643 §2.5), leaves
    // the person without an administrative status, which ownerbound reads as not
    // active: a deactivation, as `active: false` would be. A missing value never reads
    // as "active": it cannot bring an offboarded person back.
    if !doc.contains_key("active") {
        doc.insert("active".into(), Value::Bool(false));
    }
    if doc
        .get("userName")
        .and_then(Value::as_str)
        .is_none_or(|u| u.trim().is_empty())
    {
        return Err(ScimError::invalid_value(
            "userName is required and cannot be removed",
        ));
    }
    write_update(
        &mut tx,
        &current,
        &doc,
        actor,
        "scim.user.patched",
        &ignored,
    )
    .await?;
    tx.commit().await?;
    respond_user(state, req, id).await
}

/// A request the identity provider sent to deactivate someone was refused (a bad
/// value elsewhere in it, a clashing userName, …). The identity provider will report
/// the error, but the person has left: apply the deactivation alone, record why, and
/// still answer the error. Failing open here would leave their agents running.
async fn deactivate_despite(
    state: &AppState,
    actor: &str,
    id: &str,
    refusal: &ScimError,
) -> Result<(), ScimError> {
    // Not for a missing user, and not past a failed If-Match: that client holds a stale
    // version and will retry with a fresh one.
    let applies = refusal.status.is_client_error()
        && !matches!(
            refusal.status,
            StatusCode::NOT_FOUND | StatusCode::PRECONDITION_FAILED
        );
    if !applies {
        return Ok(());
    }
    let mut tx = state.store.begin().await?;
    let Ok(current) = live_person_in(&mut tx, id).await else {
        return Ok(());
    };
    let reason = format!(
        "deactivated although the request was refused: {}",
        refusal.detail
    );
    if !crate::lifecycle::deactivate(&mut tx, &current.id, cause(actor, Some(&reason))).await? {
        return Ok(());
    }
    tx.append_audit(
        &AuditEntry::new(
            actor,
            "scim.user.deactivated_despite_error",
            "person",
            Some(&current.id),
        )
        .with_details(json!({"refusal": refusal.detail, "status": refusal.status.as_u16()})),
    )
    .await?;
    tx.commit().await?;
    tracing::warn!(person = %current.id, refusal = %refusal.detail, "applied a deactivation from a refused SCIM request");
    Ok(())
}

/// Whether PATCH operations set `active` to false, remove it or set it to null, in
/// any dialect.
fn asks_to_deactivate(operations: &[patch::PatchOperation]) -> bool {
    let names_active = |path: &str| {
        let local = path.rsplit(':').next().unwrap_or(path);
        local.eq_ignore_ascii_case("active")
    };
    let clears = |value: Option<&Value>| value.is_none_or(Value::is_null) || is_false(value);
    operations.iter().any(|op| {
        let value = op.value.as_ref();
        match (
            op.op.to_ascii_lowercase().as_str(),
            op.path.as_deref().map(str::trim),
        ) {
            ("remove", Some(path)) => names_active(path),
            ("add" | "replace", Some(path)) => names_active(path) && clears(value),
            ("add" | "replace", None) => value
                .and_then(Value::as_object)
                .and_then(|o| field(o, "active"))
                .is_some_and(|v| clears(Some(v))),
            _ => false,
        }
    })
}

/// A key of a JSON object, case-insensitively.
fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn is_false(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => !b,
        Some(Value::String(s)) => s.trim().eq_ignore_ascii_case("false"),
        _ => false,
    }
}

async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let actor = caller.actor();
    let mut tx = state.store.begin().await?;
    let current = live_person_in(&mut tx, &id).await?;
    check_if_match(&req, current.version)?;
    record_transition(
        &mut tx,
        &current.id,
        current.active,
        false,
        cause(&actor, Some("deleted by the identity provider")),
    )
    .await?;
    tx.delete_person(&current.id).await?;
    tx.append_audit(&AuditEntry::new(
        &actor,
        "scim.user.deleted",
        "person",
        Some(&current.id),
    ))
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Writes a new document over an existing person, recording a lifecycle transition
/// when `active` flips.
async fn write_update(
    tx: &mut Tx,
    current: &Person,
    doc: &Map<String, Value>,
    actor: &str,
    action: &str,
    ignored: &[String],
) -> Result<(), ScimError> {
    let user_name = doc["userName"].as_str().unwrap_or_default();
    if let Some(other) = tx.find_person_id_by_user_name(user_name).await? {
        if other != current.id {
            return Err(ScimError::uniqueness("userName is already taken"));
        }
    }
    let projection = Projection::of(doc);
    projection.check_lengths()?;
    let (mut fields, not_indexed) = projection.fields(tx, Some(&current.id)).await?;
    let held =
        refuse_idp_reactivation(tx, &current.id, current.active, fields.active, actor).await?;
    fields.active &= !held;
    tx.update_person(&current.id, &fields).await?;
    let mut skipped = persist(tx, &current.id, &as_held(doc, held), &projection, actor).await?;
    skipped.extend(not_indexed.iter().map(|c| c.to_string()));
    audit(tx, actor, action, &current.id, &skipped, ignored).await?;
    record_transition(
        tx,
        &current.id,
        current.active,
        fields.active,
        cause(actor, None),
    )
    .await?;
    Ok(())
}

fn cause<'a>(actor: &'a str, reason: Option<&'a str>) -> Cause<'a> {
    Cause {
        source: SOURCE,
        actor,
        reason,
    }
}

/// Stores the document and emails, and resolves agents registered with those emails.
/// Returns the emails that were not indexed because another person has them.
/// The document to store: as sent, but `active: false` when an HR hold refused the
/// identity provider's `active: true`, so the stored document says what is true.
fn as_held(doc: &Map<String, Value>, held: bool) -> std::borrow::Cow<'_, Map<String, Value>> {
    if held {
        let mut doc = doc.clone();
        doc.insert("active".into(), Value::Bool(false));
        std::borrow::Cow::Owned(doc)
    } else {
        std::borrow::Cow::Borrowed(doc)
    }
}

async fn persist(
    tx: &mut Tx,
    id: &str,
    doc: &Map<String, Value>,
    projection: &Projection,
    actor: &str,
) -> Result<Vec<String>, ScimError> {
    let skipped = tx.replace_emails_lenient(id, &projection.emails).await?;
    let document = Value::Object(doc.clone()).to_string();
    tx.set_scim_resource(id, &document).await?;
    resolve_agents(tx, actor, id, &projection.emails).await?;
    Ok(skipped)
}

async fn audit(
    tx: &mut Tx,
    actor: &str,
    action: &str,
    id: &str,
    not_indexed: &[String],
    ignored_paths: &[String],
) -> Result<(), ScimError> {
    let mut details = json!({});
    if !not_indexed.is_empty() {
        // Emails as values, other identifiers by column name.
        details["identifiers_not_indexed"] = json!(not_indexed);
        tracing::warn!(person = %id, count = not_indexed.len(), "identifiers pushed by SCIM already belong to another person; not indexed");
    }
    if !ignored_paths.is_empty() {
        details["ignored_paths"] = json!(ignored_paths);
    }
    tx.append_audit(&AuditEntry::new(actor, action, "person", Some(id)).with_details(details))
        .await?;
    Ok(())
}

/// A person registered through the admin API (say, as an agent owner) is the same
/// person when the identity provider pushes them: they are adopted rather than
/// duplicated, matched by userName, email, externalId or employee number. A userName
/// held by a person the identity provider already manages is a uniqueness error.
async fn find_adoptable(tx: &mut Tx, projection: &Projection) -> Result<Option<String>, ScimError> {
    let user_name = projection.user_name.as_deref().unwrap_or_default();
    if let Some(holder) = tx.find_person_id_by_user_name(user_name).await? {
        let holder = tx.get_person(&holder).await?;
        if holder.source != PersonSource::Api.as_str() {
            return Err(ScimError::uniqueness("userName is already taken"));
        }
        return Ok(Some(holder.id));
    }
    if let Some(id) = tx.find_api_person_by_emails(&projection.emails).await? {
        return Ok(Some(id));
    }
    for (column, value) in [
        ("external_id", &projection.external_id),
        ("employee_number", &projection.employee_number),
    ] {
        if let Some(value) = value {
            if let Some(id) = tx.identifier_holder(column, value, None).await? {
                if tx.get_person(&id).await?.source == PersonSource::Api.as_str() {
                    return Ok(Some(id));
                }
            }
        }
    }
    Ok(None)
}

/// What a SCIM user document contributes to the indexed columns of `people`.
struct Projection {
    user_name: Option<String>,
    external_id: Option<String>,
    display_name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    employee_number: Option<String>,
    manager_ref: Option<String>,
    active: bool,
    emails: Vec<PersonEmail>,
}

impl Projection {
    fn of(doc: &Map<String, Value>) -> Self {
        let text = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .map(str::to_string)
                .filter(|s| !s.is_empty())
        };
        let name = doc.get("name");
        let given_name = text(name.and_then(|n| n.get("givenName")));
        let family_name = text(name.and_then(|n| n.get("familyName")));
        let display_name = text(doc.get("displayName"))
            .or_else(|| text(name.and_then(|n| n.get("formatted"))))
            .or_else(|| match (&given_name, &family_name) {
                (Some(g), Some(f)) => Some(format!("{g} {f}")),
                (Some(one), None) | (None, Some(one)) => Some(one.clone()),
                (None, None) => None,
            });
        let enterprise = doc.get(ENTERPRISE_SCHEMA);
        let mut emails: Vec<PersonEmail> = Vec::new();
        for email in doc
            .get("emails")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(value) = text(email.get("value")) else {
                continue;
            };
            if emails
                .iter()
                .any(|e| crate::domain::case_key(&e.value) == crate::domain::case_key(&value))
            {
                continue;
            }
            emails.push(PersonEmail {
                value,
                kind: text(email.get("type")),
                is_primary: email
                    .get("primary")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            });
        }
        // The primary email first: it is what reports and agent owners show.
        emails.sort_by_key(|e| !e.is_primary);
        Self {
            user_name: text(doc.get("userName")),
            external_id: text(doc.get("externalId")),
            display_name,
            given_name,
            family_name,
            employee_number: text(enterprise.and_then(|e| e.get("employeeNumber"))),
            manager_ref: text(
                enterprise
                    .and_then(|e| e.get("manager"))
                    .and_then(|m| m.get("value")),
            ),
            active: doc.get("active").and_then(Value::as_bool).unwrap_or(true),
            emails,
        }
    }

    /// Indexed values must stay short: long ones are mistakes, and PostgreSQL cannot
    /// index values of a few kilobytes.
    fn check_lengths(&self) -> Result<(), ScimError> {
        let fields = [
            ("userName", &self.user_name, 256),
            ("externalId", &self.external_id, 256),
            ("displayName", &self.display_name, 256),
            ("name.givenName", &self.given_name, 256),
            ("name.familyName", &self.family_name, 256),
            ("employeeNumber", &self.employee_number, 100),
        ];
        for (name, value, max) in fields {
            if value.as_deref().is_some_and(|v| v.chars().count() > max) {
                return Err(ScimError::invalid_value(format!(
                    "{name} must be at most {max} characters"
                )));
            }
        }
        if self.emails.iter().any(|e| e.value.chars().count() > 254) {
            return Err(ScimError::invalid_value(
                "emails.value must be at most 254 characters",
            ));
        }
        Ok(())
    }

    /// The column values for person `id` (None when new). The manager is linked only
    /// when they are a known person. An externalId or employee number another person
    /// already holds stays in the document but is not indexed (and is reported), so
    /// that such a clash never makes an update, perhaps a deactivation, fail.
    async fn fields(
        &self,
        tx: &mut Tx,
        id: Option<&str>,
    ) -> Result<(PersonFields, Vec<&'static str>), ScimError> {
        let manager_id = match &self.manager_ref {
            Some(manager) if tx.person_is_live(manager).await? => Some(manager.clone()),
            _ => None,
        };
        let mut not_indexed = Vec::new();
        let mut kept = Vec::new();
        for (column, value) in [
            ("external_id", &self.external_id),
            ("employee_number", &self.employee_number),
        ] {
            match value {
                Some(v) if tx.identifier_holder(column, v, id).await?.is_some() => {
                    not_indexed.push(column);
                    kept.push(None);
                }
                other => kept.push(other.clone()),
            }
        }
        let employee_number = kept.pop().flatten();
        let external_id = kept.pop().flatten();
        Ok((
            PersonFields {
                user_name: self.user_name.clone(),
                external_id,
                display_name: self.display_name.clone(),
                given_name: self.given_name.clone(),
                family_name: self.family_name.clone(),
                employee_number,
                manager_id,
                active: self.active,
            },
            not_indexed,
        ))
    }
}

/// The SCIM document of a person: as last pushed, or built from the columns for
/// people created through the admin API.
fn document_of(person: &Person) -> Map<String, Value> {
    if let Some(Ok(Value::Object(doc))) = person.scim_resource.as_deref().map(serde_json::from_str)
    {
        return doc;
    }
    let mut doc = Map::new();
    let user_name = person
        .user_name
        .clone()
        .or_else(|| person.emails.first().map(|e| e.value.clone()))
        .unwrap_or_else(|| person.id.clone());
    doc.insert("userName".into(), json!(user_name));
    if let Some(v) = &person.external_id {
        doc.insert("externalId".into(), json!(v));
    }
    if let Some(v) = &person.display_name {
        doc.insert("displayName".into(), json!(v));
    }
    let mut name = Map::new();
    if let Some(v) = &person.given_name {
        name.insert("givenName".into(), json!(v));
    }
    if let Some(v) = &person.family_name {
        name.insert("familyName".into(), json!(v));
    }
    if !name.is_empty() {
        doc.insert("name".into(), Value::Object(name));
    }
    if !person.emails.is_empty() {
        let emails: Vec<Value> = person
            .emails
            .iter()
            .map(|e| {
                let mut email = json!({"value": e.value, "primary": e.is_primary});
                if let Some(kind) = &e.kind {
                    email["type"] = json!(kind);
                }
                email
            })
            .collect();
        doc.insert("emails".into(), Value::Array(emails));
    }
    let mut enterprise = Map::new();
    if let Some(v) = &person.employee_number {
        enterprise.insert("employeeNumber".into(), json!(v));
    }
    if let Some(v) = &person.manager_id {
        enterprise.insert("manager".into(), json!({"value": v}));
    }
    if !enterprise.is_empty() {
        doc.insert(ENTERPRISE_SCHEMA.into(), Value::Object(enterprise));
    }
    doc
}

fn render_user(person: &Person, base: &str) -> Value {
    let mut doc = document_of(person);
    // The column is authoritative for `active`: it is what offboarding acts on.
    doc.insert("active".into(), Value::Bool(person.active));
    let mut extra = Map::new();
    let mine: Vec<Value> = person
        .groups
        .iter()
        .map(|group| {
            json!({"value": group.id, "display": group.display_name,
                   "$ref": format!("{base}/Groups/{}", group.id), "type": "direct"})
        })
        .collect();
    if !mine.is_empty() {
        extra.insert("groups".into(), Value::Array(mine));
    }
    render(
        &USER,
        &person.id,
        &doc,
        extra,
        Meta {
            resource_type: "User",
            created: person.created_at,
            last_modified: person.updated_at,
            location: format!("{base}/Users/{}", person.id),
            version: person.version,
        },
    )
}

fn user_json(state: &AppState, req: &HttpRequest, person: &Person) -> Value {
    render_user(person, &base_url(req, state.settings.public_url.as_deref()))
}

async fn respond_user(
    state: &AppState,
    req: &HttpRequest,
    id: &str,
) -> Result<HttpResponse, ScimError> {
    let person = live_person(state, id).await?;
    let body = user_json(state, req, &person);
    Ok(with_etag(respond(StatusCode::OK, &body), person.version))
}

async fn live_person(state: &AppState, id: &str) -> Result<Person, ScimError> {
    match state.store.get_person(id).await {
        Ok(person) if person.deleted_at.is_none() => Ok(person),
        Ok(_) | Err(StoreError::NotFound) => Err(ScimError::not_found("User")),
        Err(other) => Err(other.into()),
    }
}

async fn live_person_in(tx: &mut Tx, id: &str) -> Result<Person, ScimError> {
    match tx.get_person(id).await {
        Ok(person) if person.deleted_at.is_none() => Ok(person),
        Ok(_) | Err(StoreError::NotFound) => Err(ScimError::not_found("User")),
        Err(other) => Err(other.into()),
    }
}
