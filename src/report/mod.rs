//! The weekly orphaned-agent report: the findings of a period arranged in sections
//! by urgency (needs action now → orphaned → revoked and verified → risky
//! credentials), rendered as text and HTML, stored once per scheduled period and
//! delivered by email through the job queue.
//!
//! A report lists at most [`ROWS_PER_KIND`] findings of each kind, with the total and
//! a link to the complete list in the API: it is read in two minutes, not scrolled.
//! Its size therefore does not grow with the inventory; only the counts do (SQL).

pub mod delivery;
pub mod discovery;
mod html;
pub mod schedule;
mod text;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::findings::{Catalogue, Counts, Finding, FindingFilter, FindingKind, Findings, Period};
use crate::store::{Store, StoreResult};

pub use html::render_html;
pub use text::render_text;

/// Findings shown per kind; the rest are counted and linked.
pub const ROWS_PER_KIND: u32 = 20;

/// The sections, most urgent first, with the kinds each one shows in order.
pub const SECTIONS: &[(&str, &str, &[FindingKind])] = &[
    (
        "Needs action now",
        "Credentials a departed person's agents still hold, revocations that failed or wait for a human, and agents that break.",
        &[
            FindingKind::RevocationStillAlive,
            FindingKind::RevocationFailed,
            FindingKind::ManualTaskOpen,
            FindingKind::RevocationHeld,
            FindingKind::Collateral,
            FindingKind::RevocationUnverified,
            FindingKind::JobDead,
            FindingKind::UnmatchedHrTermination,
        ],
    ),
    (
        "Orphaned agents",
        "Agents with no active owner left: their owners are inactive, deleted, removed, or unknown to the directory (shadow agents). Give each one an owner or decommission it. Below them, agents that lost an owner this period and keep another.",
        &[FindingKind::OrphanedAgent, FindingKind::AgentLostOwner],
    ),
    (
        "Revoked and verified",
        "Credentials revoked in this period and proven dead, with how.",
        &[FindingKind::RevocationVerified],
    ),
    (
        "Risky credentials",
        "Risks before anyone leaves: shared credentials, broad or unused scopes, overdue rotation, no expiry.",
        &[
            FindingKind::SharedCredential,
            FindingKind::BroadScope,
            FindingKind::UnusedScope,
            FindingKind::RotationOverdue,
            FindingKind::NoExpiry,
        ],
    ),
];

/// A human title for each kind.
pub fn title(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::RevocationStillAlive => "Still alive after revocation",
        FindingKind::OrphanedAgent => "Orphaned agents",
        FindingKind::AgentLostOwner => "Agents that lost an owner",
        FindingKind::RevocationFailed => "Revocations that failed",
        FindingKind::RevocationHeld => "Shared credentials held, not revoked",
        FindingKind::RevocationUnverified => "Revocations not yet proven",
        FindingKind::ManualTaskOpen => "Manual revocations not confirmed",
        FindingKind::JobDead => "Background jobs that gave up",
        FindingKind::Collateral => "Collateral: agents of active people that break",
        FindingKind::SharedCredential => "Shared credentials",
        FindingKind::BroadScope => "Broad scopes",
        FindingKind::UnusedScope => "Granted but unused scopes",
        FindingKind::RotationOverdue => "Rotation overdue",
        FindingKind::NoExpiry => "Credentials that never expire",
        FindingKind::UnmatchedHrTermination => "HR terminations that matched nobody",
        FindingKind::RevocationVerified => "Revoked and proven dead",
        FindingKind::DeactivatedWithoutAgents => "People deactivated without agents",
    }
}

/// One kind's findings in a section: the first rows and the total.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub kind: FindingKind,
    pub title: &'static str,
    pub total: i64,
    pub rows: Vec<Finding>,
    /// The complete list in the API, when `OWNERBOUND_PUBLIC_URL` is set.
    pub link: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub title: &'static str,
    pub intro: &'static str,
    pub total: i64,
    pub groups: Vec<Group>,
}

/// A report, ready to render.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub period: Period,
    pub generated_at: DateTime<Utc>,
    pub subject: String,
    pub counts: Counts,
    pub sections: Vec<Section>,
    /// What discovery found: departed people's credentials, shadow credentials,
    /// coverage per provider.
    pub discovery: Vec<discovery::Block>,
    /// People deactivated in the period who owned no agent: counted for completeness.
    pub deactivated_without_agents: i64,
    pub public_url: Option<String>,
    /// The time zone of the schedule, in which the report shows its times.
    #[serde(serialize_with = "zone_name")]
    pub time_zone: chrono_tz::Tz,
}

fn zone_name<S: serde::Serializer>(zone: &chrono_tz::Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(zone.name())
}

impl Report {
    /// A time as the report shows it: in its time zone, with the zone's abbreviation.
    pub fn local(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.time_zone)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    }
}

impl Report {
    /// Computes the report of `period` (counts in SQL, a few rows per kind).
    pub async fn build(
        store: &Store,
        catalogue: &Catalogue,
        period: Period,
        public_url: Option<&str>,
        time_zone: chrono_tz::Tz,
    ) -> StoreResult<Self> {
        let findings = Findings::new(store, catalogue, period);
        let counts = findings.counts(&FindingFilter::default()).await?;
        let public_url = public_url.map(|u| u.trim_end_matches('/').to_string());
        let mut sections = Vec::new();
        for (title, intro, kinds) in SECTIONS {
            let mut groups = Vec::new();
            for kind in *kinds {
                let total = counts.by_kind.get(kind).copied().unwrap_or(0);
                if total == 0 {
                    continue;
                }
                let filter = FindingFilter {
                    kinds: vec![*kind],
                    ..FindingFilter::default()
                };
                let rows = findings.page(&filter, None, ROWS_PER_KIND).await?.items;
                groups.push(Group {
                    kind: *kind,
                    title: self::title(*kind),
                    total,
                    rows,
                    link: public_url
                        .as_ref()
                        .map(|u| format!("{u}/api/v1/findings?kind={}", kind.as_str())),
                });
            }
            sections.push(Section {
                title,
                intro,
                total: groups.iter().map(|g| g.total).sum(),
                groups,
            });
        }
        let deactivated_without_agents = counts
            .by_kind
            .get(&FindingKind::DeactivatedWithoutAgents)
            .copied()
            .unwrap_or(0);
        let subject = format!(
            "[ownerbound] {} → {}: {} need action, {} orphaned agents, {} revoked and verified",
            period.from.with_timezone(&time_zone).format("%Y-%m-%d"),
            period.to.with_timezone(&time_zone).format("%Y-%m-%d"),
            sections[0].total,
            sections[1].total,
            sections[2].total,
        );
        let local = |at: DateTime<Utc>| {
            at.with_timezone(&time_zone)
                .format("%Y-%m-%d %H:%M %Z")
                .to_string()
        };
        let discovery = discovery::blocks(store, period.from, local).await?;
        Ok(Self {
            period,
            discovery,
            generated_at: findings.now(),
            subject,
            counts,
            sections,
            deactivated_without_agents,
            public_url,
            time_zone,
        })
    }
}

/// Who a finding is about, in one line: agent, owner (and manager), provider,
/// credential (id and fingerprint prefix only); for findings about no agent, what
/// they are about (a job, an HR record).
pub fn subject_line(finding: &Finding) -> String {
    let mut parts = Vec::new();
    if let Some(agent) = &finding.agent {
        match &agent.source {
            Some(source) => parts.push(format!("agent {} (source {source})", agent.name)),
            None => parts.push(format!("agent {}", agent.name)),
        }
    }
    if let Some(owner) = &finding.owner {
        let name = owner
            .display_name
            .clone()
            .or_else(|| owner.email.clone())
            .unwrap_or_else(|| "unknown".into());
        let mut text = match (&owner.display_name, &owner.email) {
            (Some(_), Some(email)) => format!("owner {name} <{email}>"),
            _ => format!("owner {name}"),
        };
        if owner.id.is_none() {
            text.push_str(" (not in the directory)");
        }
        if let Some(manager) = &owner.manager_name {
            text.push_str(&format!(", manager {manager}"));
        }
        parts.push(text);
    }
    if let Some(provider) = &finding.provider {
        parts.push(format!("provider {provider}"));
    }
    if let Some(credential) = &finding.credential_id {
        match &finding.fingerprint_prefix {
            Some(prefix) => parts.push(format!("credential {credential} ({prefix}…)")),
            None => parts.push(format!("credential {credential}")),
        }
    }
    let fact = |key: &str| finding.facts.get(key).and_then(|v| v.as_str());
    if parts.is_empty() {
        if let (Some(kind), Some(id)) = (fact("job_kind"), fact("job_id")) {
            parts.push(format!("{kind} job {id}"));
        }
        if let (Some(source), Some(employee)) = (fact("source"), fact("employee_id")) {
            parts.push(format!("HR source {source}, employee {employee}"));
        }
        if let Some(email) = fact("email") {
            parts.push(email.to_string());
        }
    }
    parts.join(" · ")
}

/// Facts that only identify (shown elsewhere, or reachable through the API) and
/// would make the line unreadable.
fn is_noise(key: &str, facts: &serde_json::Map<String, serde_json::Value>) -> bool {
    key.ends_with("_id")
        || key.ends_with("_ids")
        || key.ends_with("_at")
            && facts.contains_key(&format!("hours_since_{}", &key[..key.len() - 3]))
        || matches!(
            key,
            "job"
                | "agents"
                | "item_action"
                | "status_since"
                | "case_opened_at"
                | "dead_since"
                | "registered_owner_email"
                | "email"
                | "source"
        )
        || key == "detail" && facts.contains_key("how")
}

/// The facts behind a finding as `key: value` pairs, for the detail line.
pub fn facts_line(finding: &Finding) -> String {
    use serde_json::Value;
    let Some(facts) = finding.facts.as_object() else {
        return String::new();
    };
    facts
        .iter()
        .filter(|(k, v)| !v.is_null() && !is_noise(k, facts))
        .filter_map(|(k, v)| {
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Array(items) => items
                    .iter()
                    .filter_map(|i| match i {
                        Value::String(s) => Some(s.clone()),
                        Value::Object(o) => o
                            .get("scope")
                            .or_else(|| o.get("name"))
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        other => Some(other.to_string()),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                Value::Object(_) => return None,
                other => other.to_string(),
            };
            Some(format!("{}: {value}", k.replace('_', " ")))
        })
        .collect::<Vec<_>>()
        .join("; ")
}
