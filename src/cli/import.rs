//! `ownerbound agents import FILE`: bulk registration from JSON or CSV.
//!
//! Good rows are imported even when others are rejected; every rejection is reported
//! with its row and reason. Agents are matched by name, so importing the same file
//! again changes nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Deserialize;

use super::{ImportFormat, CLI_ACTOR};
use crate::config::Settings;
use crate::domain::AgentSource;
use crate::inventory::{
    AgentSpec, CredentialOutcome, CredentialSpec, Inventory, OnExisting, OwnerSpec,
};
use crate::startup::{open_keys, open_store};

/// One agent to import and where it came from in the file.
#[derive(Debug)]
pub struct ImportItem {
    /// "row 3", "rows 3, 4", "element 2".
    pub origin: String,
    pub spec: Result<AgentSpec, String>,
}

/// Totals of an import.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub agents_created: usize,
    pub agents_updated: usize,
    pub credentials_created: usize,
    pub credentials_linked: usize,
    /// (origin, reason) of every rejected item.
    pub rejected: Vec<(String, String)>,
}

pub async fn run(
    settings: &Settings,
    file: &Path,
    format: Option<ImportFormat>,
) -> anyhow::Result<ExitCode> {
    let format = match format {
        Some(format) => format,
        None => match file
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("json") => ImportFormat::Json,
            Some("csv") => ImportFormat::Csv,
            _ => anyhow::bail!(
                "cannot tell the format of {}: use --format json|csv",
                file.display()
            ),
        },
    };
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("while reading {}", file.display()))?;
    let items = match format {
        ImportFormat::Json => parse_json(&text)?,
        ImportFormat::Csv => parse_csv(&text)?,
    };
    let store = open_store(settings).await?;
    let keys = open_keys(settings, &store).await?;
    let inventory = Inventory {
        store: &store,
        keys: &keys,
        actor: CLI_ACTOR,
    };
    let progress =
        ProgressBar::with_draw_target(Some(items.len() as u64), ProgressDrawTarget::stderr());
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} agents ({eta} left)")
            .expect("valid template"),
    );
    let report = import(&inventory, items, || progress.inc(1)).await;
    progress.finish_and_clear();

    println!(
        "imported: {} agents created, {} updated; {} credentials created, {} linked to an existing one",
        report.agents_created, report.agents_updated, report.credentials_created, report.credentials_linked
    );
    if report.rejected.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("rejected {} item(s):", report.rejected.len());
    for (origin, reason) in &report.rejected {
        eprintln!("  {origin}: {reason}");
    }
    Ok(ExitCode::from(2))
}

/// Registers each item, collecting outcomes; never stops at a bad item.
pub async fn import(
    inventory: &Inventory<'_>,
    items: Vec<ImportItem>,
    mut on_item: impl FnMut(),
) -> ImportReport {
    let mut report = ImportReport::default();
    for item in items {
        match item.spec {
            Err(reason) => report.rejected.push((item.origin, reason)),
            Ok(spec) => match inventory
                .register_agent(&spec, OnExisting::Update, AgentSource::Import)
                .await
            {
                Ok(registration) => {
                    if registration.created {
                        report.agents_created += 1;
                    } else if registration.changed {
                        report.agents_updated += 1;
                    }
                    for (_, outcome) in registration.credentials {
                        match outcome {
                            CredentialOutcome::Created => report.credentials_created += 1,
                            CredentialOutcome::LinkedExisting => report.credentials_linked += 1,
                            CredentialOutcome::AlreadyLinked => {}
                        }
                    }
                }
                Err(err) => report.rejected.push((
                    format!("{} (agent {:?})", item.origin, spec.name),
                    err.to_string(),
                )),
            },
        }
        on_item();
    }
    report
}

/// A JSON array of agents, or `{"agents": [...]}`.
pub fn parse_json(text: &str) -> anyhow::Result<Vec<ImportItem>> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Document {
        List(Vec<serde_json::Value>),
        Wrapped { agents: Vec<serde_json::Value> },
    }
    let document: Document = serde_json::from_str(text).map_err(|e| {
        anyhow::anyhow!(
            "not a JSON array of agents nor {{\"agents\": [...]}}: {}",
            crate::api::error::redact_serde_message(&e.to_string())
        )
    })?;
    let values = match document {
        Document::List(values) | Document::Wrapped { agents: values } => values,
    };
    Ok(values
        .into_iter()
        .enumerate()
        .map(|(i, value)| ImportItem {
            origin: format!("element {}", i + 1),
            spec: serde_json::from_value(value)
                .map_err(|e| crate::api::error::redact_serde_message(&e.to_string())),
        })
        .collect())
}

/// One CSV row: an agent and at most one credential. Rows sharing a name are one
/// agent with several credentials.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CsvRow {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    platform: Option<String>,
    /// One owner email, or several separated by `;`.
    #[serde(default)]
    owner_email: Option<String>,
    #[serde(default)]
    owner_id: Option<String>,
    /// Ids of owner groups, separated by `;`.
    #[serde(default)]
    owner_group_id: Option<String>,
    /// The identity provider's id of an agent pushed over SCIM, to add credentials to it.
    #[serde(default)]
    agent_external_id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    /// Space-separated scopes the agent uses; empty: not declared.
    #[serde(default)]
    used_scopes: Option<String>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    secret: Option<String>,
    /// Space-separated.
    #[serde(default)]
    scopes: Option<String>,
    #[serde(default)]
    issued_at: Option<String>,
    #[serde(default)]
    rotated_at: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
}

pub fn parse_csv(text: &str) -> anyhow::Result<Vec<ImportItem>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    reader.headers().context("while reading the CSV header")?;
    // name (lower-cased) → (rows, spec or first error)
    let mut agents: BTreeMap<String, (Vec<u64>, Result<AgentSpec, String>)> = BTreeMap::new();
    let mut order = Vec::new();
    let mut items = Vec::new();
    for (index, record) in reader.deserialize::<CsvRow>().enumerate() {
        // Row 1 is the header.
        let row_number = index as u64 + 2;
        let row = match record {
            Ok(row) => row,
            Err(err) => {
                items.push(ImportItem {
                    origin: format!("row {row_number}"),
                    spec: Err(crate::api::error::redact_serde_message(&err.to_string())),
                });
                continue;
            }
        };
        let key = row.name.to_lowercase();
        let parsed = row_to_spec(row);
        match agents.get_mut(&key) {
            None => {
                order.push(key.clone());
                agents.insert(key, (vec![row_number], parsed));
            }
            Some((rows, existing)) => {
                rows.push(row_number);
                match (existing, parsed) {
                    (Ok(spec), Ok(more)) => {
                        spec.credentials.extend(more.credentials);
                        // Any row of the agent may declare its scopes.
                        if spec.used_scopes.is_none() {
                            spec.used_scopes = more.used_scopes;
                        }
                    }
                    (existing @ Ok(_), Err(reason)) => {
                        *existing = Err(format!("row {row_number}: {reason}"));
                    }
                    (Err(_), _) => {}
                }
            }
        }
    }
    for key in order {
        let (rows, spec) = agents.remove(&key).expect("key from order");
        let rows: Vec<String> = rows.iter().map(u64::to_string).collect();
        let label = if rows.len() == 1 { "row" } else { "rows" };
        items.push(ImportItem {
            origin: format!("{label} {}", rows.join(", ")),
            spec,
        });
    }
    Ok(items)
}

fn row_to_spec(row: CsvRow) -> Result<AgentSpec, String> {
    let some = |v: Option<String>| v.filter(|s| !s.is_empty());
    let mut credentials = Vec::new();
    if let Some(provider) = some(row.provider) {
        let kind = some(row.kind)
            .ok_or("kind: required when provider is given")?
            .parse()
            .map_err(|e: crate::domain::Invalid| format!("kind: {e}"))?;
        let time = |field: &str, value: Option<String>| -> Result<_, String> {
            some(value)
                .map(|v| {
                    chrono::DateTime::parse_from_rfc3339(&v)
                        .map(|d| d.with_timezone(&chrono::Utc))
                        .map_err(|_| format!("{field}: not an RFC 3339 time"))
                })
                .transpose()
        };
        credentials.push(CredentialSpec {
            provider,
            kind,
            external_id: some(row.external_id),
            secret: some(row.secret).map(secrecy::SecretString::from),
            scopes: some(row.scopes)
                .map(|s| s.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
            issued_at: time("issued_at", row.issued_at)?,
            rotated_at: time("rotated_at", row.rotated_at)?,
            expires_at: time("expires_at", row.expires_at)?,
        });
    }
    let status = some(row.status)
        .map(|s| {
            s.parse()
                .map_err(|e: crate::domain::Invalid| format!("status: {e}"))
        })
        .transpose()?;
    let (owner_email, owner_id, owners) = csv_owners(
        some(row.owner_email),
        some(row.owner_id),
        some(row.owner_group_id),
    );
    Ok(AgentSpec {
        name: row.name,
        description: some(row.description),
        platform: some(row.platform),
        owner_email,
        owner_id,
        owners,
        external_id: some(row.agent_external_id),
        status,
        used_scopes: some(row.used_scopes)
            .map(|s| s.split_whitespace().map(str::to_string).collect()),
        credentials,
    })
}

/// The owner columns of a row: one email or id stays the `owner_*` shorthand; several
/// emails (`;`-separated) or any group make an `owners` list.
fn csv_owners(
    emails: Option<String>,
    person_id: Option<String>,
    groups: Option<String>,
) -> (Option<String>, Option<String>, Option<Vec<OwnerSpec>>) {
    let split = |v: &Option<String>| -> Vec<String> {
        v.as_deref()
            .unwrap_or_default()
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (email_list, group_list) = (split(&emails), split(&groups));
    if email_list.len() <= 1 && group_list.is_empty() {
        return (email_list.into_iter().next(), person_id, None);
    }
    let mut owners: Vec<OwnerSpec> = person_id
        .map(|id| OwnerSpec {
            person_id: Some(id),
            ..Default::default()
        })
        .into_iter()
        .collect();
    owners.extend(email_list.into_iter().map(|email| OwnerSpec {
        email: Some(email),
        ..Default::default()
    }));
    owners.extend(group_list.into_iter().map(|id| OwnerSpec {
        group_id: Some(id),
        ..Default::default()
    }));
    (None, None, Some(owners))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_with_the_same_name_become_one_agent() {
        let csv = "name,owner_email,provider,kind,secret,scopes\n\
                   bot,a@x.com,slack,api_key,s1,chat:write files:read\n\
                   Bot,a@x.com,github,api_key,s2,\n\
                   other,b@x.com,,,,\n";
        let items = parse_csv(csv).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].origin, "rows 2, 3");
        let spec = items[0].spec.as_ref().unwrap();
        assert_eq!(spec.credentials.len(), 2);
        assert_eq!(spec.credentials[0].scopes, vec!["chat:write", "files:read"]);
        assert!(items[1].spec.as_ref().unwrap().credentials.is_empty());
    }

    #[test]
    fn csv_owner_columns_with_several_owners_become_an_owner_list() {
        let csv = "name,owner_email,owner_group_id,agent_external_id\n\
                   bot,a@x.com; b@x.com,g-1,okta-7\n\
                   solo,c@x.com,,\n";
        let items = parse_csv(csv).unwrap();
        let spec = items[0].spec.as_ref().unwrap();
        let owners = spec.owners.as_ref().unwrap();
        assert_eq!(owners.len(), 3);
        assert_eq!(owners[1].email.as_deref(), Some("b@x.com"));
        assert_eq!(owners[2].group_id.as_deref(), Some("g-1"));
        assert_eq!(spec.owner_email, None);
        assert_eq!(spec.external_id.as_deref(), Some("okta-7"));
        let solo = items[1].spec.as_ref().unwrap();
        assert_eq!(solo.owner_email.as_deref(), Some("c@x.com"));
        assert!(solo.owners.is_none());
    }

    #[test]
    fn a_bad_csv_row_is_rejected_with_its_number() {
        let csv = "name,owner_email,provider,kind\nbot,a@x.com,slack,banana\nok,b@x.com,,\n";
        let items = parse_csv(csv).unwrap();
        assert_eq!(items[0].origin, "row 2");
        assert!(items[0].spec.as_ref().unwrap_err().contains("kind"));
        assert!(items[1].spec.is_ok());
    }

    #[test]
    fn json_accepts_a_list_or_a_wrapped_list_and_rejects_per_element() {
        let items = parse_json(r#"[{"name":"a","owner_email":"a@x.com"},{"nme":"b"}]"#).unwrap();
        assert!(items[0].spec.is_ok());
        assert!(items[1]
            .spec
            .as_ref()
            .unwrap_err()
            .contains("unknown field"));
        let items = parse_json(r#"{"agents":[{"name":"a","owner_email":"a@x.com"}]}"#).unwrap();
        assert_eq!(items.len(), 1);
        assert!(parse_json("{").is_err());
    }
}
