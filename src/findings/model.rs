//! What a finding is: its kind, severity, subject and the facts behind it.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::Invalid;

/// How urgent a finding is, most urgent first (`Ord`: `Critical < … < Info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Info,
}

impl Severity {
    /// Most urgent first.
    pub const ALL: [Severity; 5] = [
        Self::Critical,
        Self::High,
        Self::Medium,
        Self::Low,
        Self::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
            Self::Info => "info",
        }
    }

    /// This severity and every more urgent one.
    pub fn at_least(self) -> Vec<Severity> {
        Self::ALL.into_iter().filter(|s| *s <= self).collect()
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| Invalid("must be one of critical, high, medium, low, info".into()))
    }
}

/// Declares the finding kinds once: enum, text form, and catalogue order.
macro_rules! kinds {
    ($($(#[$meta:meta])* $variant:ident = $text:literal),+ $(,)?) => {
        /// What a finding is about. The order of declaration is the order of the
        /// report and of the paged list.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum FindingKind {
            $($(#[$meta])* #[serde(rename = $text)] $variant),+
        }

        impl FindingKind {
            /// Every kind, in report order.
            pub const ALL: &'static [FindingKind] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }
    };
}

kinds! {
    /// A credential still active after its revocation (critical).
    RevocationStillAlive = "revocation_still_alive",
    /// An agent with no active owner left: its owners are inactive, deleted, unknown
    /// to the directory, or gone.
    OrphanedAgent = "orphaned_agent",
    /// An agent that lost one of its owners in the period and keeps another: nothing
    /// was revoked, but someone should confirm who answers for it now.
    AgentLostOwner = "agent_lost_owner",
    /// A revocation that needs a human: no connector, a configuration error, or
    /// its job gave up.
    RevocationFailed = "revocation_failed",
    /// A shared credential held (policy `hold`) instead of revoked.
    RevocationHeld = "revocation_held",
    /// A revocation not (yet) proven: in progress or verification unknown.
    RevocationUnverified = "revocation_unverified",
    /// A manual revocation task nobody has confirmed yet.
    ManualTaskOpen = "manual_task_open",
    /// A job of the queue that gave up (other than revocations, reported above).
    JobDead = "job_dead",
    /// An agent of an active person that breaks because a departed owner's
    /// credential it shared was revoked (or held).
    Collateral = "collateral",
    /// One credential used by several agents.
    SharedCredential = "shared_credential",
    /// A credential granted a scope from the broad-scope catalogue.
    BroadScope = "broad_scope",
    /// Granted scopes that none of the credential's agents declares using.
    UnusedScope = "unused_scope",
    /// A credential older than its rotation cadence.
    RotationOverdue = "rotation_overdue",
    /// A credential that never expires.
    NoExpiry = "no_expiry",
    /// An HR termination that matched nobody in the directory.
    UnmatchedHrTermination = "unmatched_hr_termination",
    /// A revocation proven dead in the period (for the record).
    RevocationVerified = "revocation_verified",
    /// A person deactivated in the period who owned no agent (for completeness).
    DeactivatedWithoutAgents = "deactivated_without_agents",
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FindingKind {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = Self::ALL.iter().map(|k| k.as_str()).collect();
                Invalid(format!("must be one of {}", all.join(", ")))
            })
    }
}

/// The agent a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentRef {
    pub id: String,
    pub name: String,
    /// Where it comes from: `api`, `import` or `scim`.
    pub source: Option<String>,
}

/// The accountable person (or, for an unresolved owner, only the registered email).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnerRef {
    /// Null when the owner is unresolved (a shadow agent).
    pub id: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    /// The owner's manager, when the directory knows one: who to ask when the owner
    /// is gone.
    pub manager_name: Option<String>,
}

/// One risk for the report. Never carries a secret; of the fingerprint only an
/// 8-character prefix, enough to tell credentials apart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: Severity,
    /// Stable within a kind; with the kind, identifies the finding across runs.
    pub key: String,
    pub agent: Option<AgentRef>,
    pub owner: Option<OwnerRef>,
    pub provider: Option<String>,
    pub credential_id: Option<String>,
    pub fingerprint_prefix: Option<String>,
    /// The facts behind the finding (ages, scopes, counts, statuses …).
    pub facts: serde_json::Value,
    /// One sentence: what to do about it.
    pub action: String,
}

/// The period of a report: `[from, to)`. Kinds about events (verified revocations,
/// deactivations) are limited to it; open problems are reported until they are
/// resolved, whenever they began (before `to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Period {
    /// The `days` days up to now.
    pub fn last_days(days: i64) -> Self {
        let to = crate::store::now();
        Self {
            from: to - chrono::Duration::days(days),
            to,
        }
    }
}

/// Which findings to list; empty lists mean "all".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingFilter {
    pub kinds: Vec<FindingKind>,
    pub severities: Vec<Severity>,
}

impl FindingFilter {
    pub fn wants_kind(&self, kind: FindingKind) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }

    /// The severities to keep, in a fixed order (all when none is given).
    pub fn severity_list(&self) -> Vec<Severity> {
        if self.severities.is_empty() {
            Severity::ALL.to_vec()
        } else {
            Severity::ALL
                .into_iter()
                .filter(|s| self.severities.contains(s))
                .collect()
        }
    }
}

/// Numbers of findings by kind and by severity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub total: i64,
    pub by_kind: BTreeMap<FindingKind, i64>,
    pub by_severity: BTreeMap<Severity, i64>,
    /// Kind → severity → count, for the report's summary table.
    pub by_kind_and_severity: BTreeMap<FindingKind, BTreeMap<Severity, i64>>,
}

impl Counts {
    pub fn add(&mut self, kind: FindingKind, severity: Severity, n: i64) {
        if n == 0 {
            return;
        }
        self.total += n;
        *self.by_kind.entry(kind).or_default() += n;
        *self.by_severity.entry(severity).or_default() += n;
        *self
            .by_kind_and_severity
            .entry(kind)
            .or_default()
            .entry(severity)
            .or_default() += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_order_from_most_urgent_and_at_least_includes_the_more_urgent() {
        assert!(Severity::Critical < Severity::Info);
        assert_eq!(
            Severity::High.at_least(),
            vec![Severity::Critical, Severity::High]
        );
        assert_eq!("medium".parse::<Severity>().unwrap(), Severity::Medium);
        assert!("urgent".parse::<Severity>().is_err());
    }

    #[test]
    fn kinds_round_trip_through_their_text() {
        for kind in FindingKind::ALL {
            assert_eq!(kind.as_str().parse::<FindingKind>().unwrap(), *kind);
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
        assert!("orphan".parse::<FindingKind>().is_err());
    }
}
