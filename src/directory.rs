//! The directory of people, as maintained through the admin API.
//!
//! SCIM-pushed people are owned by the identity provider: the API may only link
//! HR employee ids to them. Whenever a person gains an email, agents registered
//! earlier with that owner email resolve to them.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;

use crate::audit::AuditEntry;
use crate::domain::{case_key, Email, PersonSource};
use crate::inventory::{check_len, invalid, InventoryError};
use crate::lifecycle::{record_transition, Cause};
use crate::store::people::{HrId, PersonEmail, PersonFields};
use crate::store::{Store, StoreError, StoreResult, Tx};

/// A person as created through the API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonSpec {
    pub user_name: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// Emails; the first is the primary one.
    #[serde(default)]
    pub emails: Vec<String>,
    pub employee_number: Option<String>,
    pub external_id: Option<String>,
    pub manager_id: Option<String>,
    pub active: Option<bool>,
    /// Employee id per HR source name.
    #[serde(default)]
    pub hr_ids: BTreeMap<String, String>,
}

/// A partial update; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonPatch {
    pub user_name: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub emails: Option<Vec<String>>,
    pub employee_number: Option<String>,
    pub external_id: Option<String>,
    pub manager_id: Option<String>,
    pub active: Option<bool>,
    /// HR employee ids to link (existing links stay).
    pub hr_ids: Option<BTreeMap<String, String>>,
}

/// Length limits of person attributes (see [`check_len`]).
fn check_lengths(fields: &PersonFields) -> Result<(), InventoryError> {
    check_len("user_name", fields.user_name.as_deref(), 256)?;
    check_len("external_id", fields.external_id.as_deref(), 256)?;
    check_len("display_name", fields.display_name.as_deref(), 256)?;
    check_len("given_name", fields.given_name.as_deref(), 256)?;
    check_len("family_name", fields.family_name.as_deref(), 256)?;
    check_len("employee_number", fields.employee_number.as_deref(), 100)
}

impl PersonPatch {
    /// True when the patch touches anything besides HR ids.
    fn touches_attributes(&self) -> bool {
        self.user_name.is_some()
            || self.display_name.is_some()
            || self.given_name.is_some()
            || self.family_name.is_some()
            || self.emails.is_some()
            || self.employee_number.is_some()
            || self.external_id.is_some()
            || self.manager_id.is_some()
            || self.active.is_some()
    }
}

/// Directory operations on behalf of an actor.
pub struct Directory<'a> {
    pub store: &'a Store,
    pub actor: &'a str,
}

impl Directory<'_> {
    /// Creates a person; returns the id.
    pub async fn create_person(&self, spec: &PersonSpec) -> Result<String, InventoryError> {
        let emails = parse_emails(&spec.emails)?;
        let hr_ids = parse_hr_ids(&spec.hr_ids)?;
        let fields = PersonFields {
            user_name: clean(&spec.user_name),
            external_id: clean(&spec.external_id),
            display_name: clean(&spec.display_name),
            given_name: clean(&spec.given_name),
            family_name: clean(&spec.family_name),
            employee_number: clean(&spec.employee_number),
            manager_id: clean(&spec.manager_id),
            active: spec.active.unwrap_or(true),
        };
        check_lengths(&fields)?;
        if fields.user_name.is_none() && emails.is_empty() {
            return Err(invalid(
                "emails",
                "a person needs at least one email or a user_name",
            ));
        }
        let mut tx = self.store.begin().await?;
        check_manager(&mut tx, fields.manager_id.as_deref(), None).await?;
        let id = tx.insert_person(PersonSource::Api, &fields).await?;
        // HR ids before emails: the order in which an HR termination resolves an
        // employee takes the same locks (see `LockKey`), so the two cannot deadlock.
        tx.link_hr_ids(&id, &hr_ids).await?;
        tx.replace_emails(&id, &emails).await?;
        tx.append_audit(
            &AuditEntry::new(self.actor, "person.created", "person", Some(&id)).with_details(
                json!({
                    "display_name": fields.display_name,
                    "active": fields.active,
                }),
            ),
        )
        .await?;
        self.resolve_agents(&mut tx, &id, &emails).await?;
        crate::hr::apply::apply_unmatched_for_person(&mut tx, &id, crate::store::now()).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Updates a person created through the API, or links HR ids to any person.
    pub async fn update_person(&self, id: &str, patch: &PersonPatch) -> Result<(), InventoryError> {
        let mut tx = self.store.begin().await?;
        let current = tx.get_person(id).await.map_err(|err| match err {
            StoreError::NotFound => InventoryError::NotFound("person"),
            other => other.into(),
        })?;
        if current.deleted_at.is_some() {
            return Err(InventoryError::NotFound("person"));
        }
        let was_active = current.active;
        if current.source == PersonSource::Scim.as_str() && patch.touches_attributes() {
            return Err(InventoryError::Conflict(
                "this person is managed by SCIM: change them in the identity provider (only hr_ids may be linked here)"
                    .into(),
            ));
        }
        let mut fields = PersonFields {
            user_name: current.user_name,
            external_id: current.external_id,
            display_name: current.display_name,
            given_name: current.given_name,
            family_name: current.family_name,
            employee_number: current.employee_number,
            manager_id: current.manager_id,
            active: current.active,
        };
        let set = |target: &mut Option<String>, value: &Option<String>| {
            if value.is_some() {
                *target = clean(value);
            }
        };
        set(&mut fields.user_name, &patch.user_name);
        set(&mut fields.external_id, &patch.external_id);
        set(&mut fields.display_name, &patch.display_name);
        set(&mut fields.given_name, &patch.given_name);
        set(&mut fields.family_name, &patch.family_name);
        set(&mut fields.employee_number, &patch.employee_number);
        set(&mut fields.manager_id, &patch.manager_id);
        if let Some(active) = patch.active {
            fields.active = active;
        }
        check_lengths(&fields)?;
        check_manager(&mut tx, fields.manager_id.as_deref(), Some(id)).await?;
        if patch.touches_attributes() {
            tx.update_person(id, &fields).await?;
        }
        // HR ids before emails, as in `create_person`.
        if let Some(hr_ids) = &patch.hr_ids {
            tx.link_hr_ids(id, &parse_hr_ids(hr_ids)?).await?;
        }
        let mut new_emails = Vec::new();
        if let Some(emails) = &patch.emails {
            new_emails = parse_emails(emails)?;
            if new_emails.is_empty() && fields.user_name.is_none() {
                return Err(invalid(
                    "emails",
                    "a person needs at least one email or a user_name",
                ));
            }
            tx.replace_emails(id, &new_emails).await?;
        }
        tx.append_audit(
            &AuditEntry::new(self.actor, "person.updated", "person", Some(id)).with_details(
                json!({
                    "active": fields.active,
                    "emails_changed": patch.emails.is_some(),
                    "hr_ids_linked": patch.hr_ids.as_ref().map(|m| m.keys().collect::<Vec<_>>()),
                }),
            ),
        )
        .await?;
        self.resolve_agents(&mut tx, id, &new_emails).await?;
        let cause = Cause {
            source: "api",
            actor: self.actor,
            reason: None,
        };
        record_transition(&mut tx, id, was_active, fields.active, cause).await?;
        // HR terminations that matched nobody apply once their employee is linked.
        crate::hr::apply::apply_unmatched_for_person(&mut tx, id, crate::store::now()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn resolve_agents(
        &self,
        tx: &mut Tx,
        person_id: &str,
        emails: &[PersonEmail],
    ) -> Result<(), InventoryError> {
        Ok(resolve_agents(tx, self.actor, person_id, emails).await?)
    }
}

/// Gives agents registered with one of these emails, and no owner yet, to the person.
pub async fn resolve_agents(
    tx: &mut Tx,
    actor: &str,
    person_id: &str,
    emails: &[PersonEmail],
) -> StoreResult<()> {
    for agent_id in tx.resolve_agents_by_email(person_id, emails).await? {
        tx.append_audit(
            &AuditEntry::new(actor, "agent.owner_resolved", "agent", Some(&agent_id))
                .with_details(json!({ "owner_id": person_id })),
        )
        .await?;
    }
    Ok(())
}

async fn check_manager(
    tx: &mut Tx,
    manager_id: Option<&str>,
    self_id: Option<&str>,
) -> Result<(), InventoryError> {
    let Some(manager_id) = manager_id else {
        return Ok(());
    };
    if Some(manager_id) == self_id {
        return Err(invalid(
            "manager_id",
            "a person cannot be their own manager",
        ));
    }
    match tx.get_person(manager_id).await {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound) => Err(invalid("manager_id", "no such person")),
        Err(other) => Err(other.into()),
    }
}

fn parse_emails(raw: &[String]) -> Result<Vec<PersonEmail>, InventoryError> {
    let mut emails: Vec<PersonEmail> = Vec::new();
    for (i, value) in raw.iter().enumerate() {
        let email = Email::parse(value).map_err(|e| invalid(format!("emails[{i}]"), e.0))?;
        if emails
            .iter()
            .any(|e| case_key(&e.value) == case_key(email.as_str()))
        {
            continue;
        }
        emails.push(PersonEmail {
            value: email.as_str().to_string(),
            kind: Some("work".into()),
            is_primary: emails.is_empty(),
        });
    }
    Ok(emails)
}

fn parse_hr_ids(raw: &BTreeMap<String, String>) -> Result<Vec<HrId>, InventoryError> {
    raw.iter()
        .map(|(source, id)| {
            let (source, id) = (source.trim(), id.trim());
            if source.is_empty() || id.is_empty() {
                Err(invalid(
                    "hr_ids",
                    "source names and employee ids must not be empty",
                ))
            } else {
                Ok(HrId {
                    source: source.to_string(),
                    employee_id: id.to_string(),
                })
            }
        })
        .collect()
}

fn clean(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}
