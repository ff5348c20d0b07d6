//! Findings: the risks the weekly orphaned-agent report lists.
//!
//! The interface for report builders and the API:
//!
//! ```text
//! let catalogue = Catalogue::from_config(&settings.findings)?;
//! let findings = Findings::new(&store, &catalogue, Period::last_days(7));
//! let counts = findings.counts(&FindingFilter::default()).await?;      // summary table
//! let mut scan = findings.scan(&FindingFilter::default());             // streaming
//! while let Some(batch) = scan.next_batch().await? { /* render */ }
//! let page = findings.page(&filter, cursor.as_ref(), 100).await?;      // the API
//! ```
//!
//! Every finding is computed in SQL by one of the rules of `store::findings` (see
//! [`FindingKind`] for the list); nothing is joined in memory, and both a scan and a
//! page read in keyset order, so a report over 100,000 agents holds one batch at a
//! time. Findings are ordered by kind (the order of [`FindingKind::ALL`]), then by a
//! key that is stable within the kind (mostly the subject's id).
//!
//! The period `[from, to)` limits the kinds that are events (verified revocations,
//! deactivations without agents); open problems (orphans, failed or unverified
//! revocations, risky credentials, unmatched terminations, dead jobs) are listed
//! whenever they began, as long as they are open.

pub mod catalogue;
pub mod cursor;
pub mod model;
pub mod rules;

use chrono::{DateTime, Utc};

pub use catalogue::{Catalogue, FindingsConfig};
pub use cursor::{FindingCursor, InvalidCursor};
pub use model::{Counts, Finding, FindingFilter, FindingKind, Period, Severity};

use crate::store::findings::{RowRequest, Rule, RuleParams};
use crate::store::{Page, Store, StoreResult};

/// A "before" bound for SQL, clamped to 1970: an "off" or huge duration means
/// "never", and PostgreSQL's timestamps do not reach chrono's minimum.
fn earliest_bound(at: Option<DateTime<Utc>>) -> DateTime<Utc> {
    at.filter(|t| *t > DateTime::UNIX_EPOCH)
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// Rows read per query while scanning.
pub const SCAN_BATCH: i64 = 500;

/// The findings of one period, evaluated at one instant (ages are as of `now`).
pub struct Findings<'a> {
    store: &'a Store,
    catalogue: &'a Catalogue,
    params: RuleParams,
    now: DateTime<Utc>,
}

impl<'a> Findings<'a> {
    pub fn new(store: &'a Store, catalogue: &'a Catalogue, period: Period) -> Self {
        let now = crate::store::now();
        let rotation = catalogue
            .cadences
            .iter()
            .map(|(kind, cadence)| {
                let before = |d: chrono::Duration| earliest_bound(now.checked_sub_signed(d));
                (
                    kind.as_str().to_string(),
                    before(*cadence),
                    before(*cadence + *cadence),
                )
            })
            .collect();
        let params = RuleParams {
            from: period.from,
            to: period.to,
            broad_like: catalogue
                .broad_scopes
                .iter()
                .map(|p| p.like_pattern())
                .collect(),
            rotation,
            manual_stale_before: earliest_bound(
                now.checked_sub_signed(catalogue.manual_task_stale_after),
            ),
        };
        Self {
            store,
            catalogue,
            params,
            now,
        }
    }

    /// The instant ages are measured from.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Numbers of findings by kind and severity.
    pub async fn counts(&self, filter: &FindingFilter) -> StoreResult<Counts> {
        let mut counts = Counts::default();
        for rule in rules::RULES {
            if !FindingKind::ALL
                .iter()
                .any(|k| rules::rule_of(*k) == *rule && filter.wants_kind(*k))
            {
                continue;
            }
            for (kind, severity, n) in self.store.finding_counts(*rule, &self.params).await? {
                let (Ok(kind), Ok(severity)) = (kind.parse(), severity.parse::<Severity>()) else {
                    continue;
                };
                if filter.wants_kind(kind) && filter.severity_list().contains(&severity) {
                    counts.add(kind, severity, n);
                }
            }
        }
        Ok(counts)
    }

    /// A page of findings after `cursor` (the `next_cursor` of the previous page).
    pub async fn page(
        &self,
        filter: &FindingFilter,
        cursor: Option<&FindingCursor>,
        limit: u32,
    ) -> StoreResult<Page<Finding>> {
        let kinds = wanted_kinds(filter);
        let (mut start, mut after) = (0, None);
        if let Some(cursor) = cursor {
            // A kind no longer asked for resumes at the next one that is.
            start = kinds
                .iter()
                .position(|k| *k >= cursor.kind)
                .unwrap_or(kinds.len());
            if kinds.get(start) == Some(&cursor.kind) {
                after = Some(cursor.key.clone());
            }
        }
        let wanted = i64::from(limit) + 1;
        let mut items = Vec::new();
        for kind in &kinds[start..] {
            let batch = self
                .fetch(
                    *kind,
                    filter,
                    after.take().as_deref(),
                    wanted - items.len() as i64,
                )
                .await?;
            items.extend(batch);
            if items.len() as i64 >= wanted {
                break;
            }
        }
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = if more {
            items.last().map(|f| {
                FindingCursor {
                    kind: f.kind,
                    key: f.key.clone(),
                }
                .to_string()
            })
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Every finding matching the filter, batch by batch.
    pub fn scan(&self, filter: &FindingFilter) -> Scan<'_, 'a> {
        Scan {
            findings: self,
            filter: filter.clone(),
            kinds: wanted_kinds(filter),
            position: 0,
            after: None,
        }
    }

    /// Calls `visit` with every finding matching the filter, in order.
    pub async fn for_each(
        &self,
        filter: &FindingFilter,
        mut visit: impl FnMut(Finding),
    ) -> StoreResult<()> {
        let mut scan = self.scan(filter);
        while let Some(batch) = scan.next_batch().await? {
            batch.into_iter().for_each(&mut visit);
        }
        Ok(())
    }

    /// Up to `limit` findings of one kind after `after`.
    async fn fetch(
        &self,
        kind: FindingKind,
        filter: &FindingFilter,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<Finding>> {
        let severities: Vec<&str> = filter.severity_list().iter().map(|s| s.as_str()).collect();
        let request = RowRequest {
            kind: kind.as_str(),
            severities: &severities,
            after,
            limit,
        };
        let (store, params, now, catalogue) = (self.store, &self.params, self.now, self.catalogue);
        let rule = rules::rule_of(kind);
        Ok(match rule {
            Rule::Orphans => map(store.finding_rows(rule, params, &request).await?, |r| {
                rules::orphan(r, now)
            }),
            Rule::LostOwner => map(store.finding_rows(rule, params, &request).await?, |r| {
                rules::lost_owner(r, now)
            }),
            Rule::Revocations => map(store.finding_rows(rule, params, &request).await?, |r| {
                rules::revocation(r, now)
            }),
            Rule::DeadJobs => map(store.finding_rows(rule, params, &request).await?, |r| {
                rules::dead_job(r, now)
            }),
            Rule::Collateral => map(
                store.finding_rows(rule, params, &request).await?,
                rules::collateral,
            ),
            Rule::Shared => {
                let rows: Vec<crate::store::findings::CredentialRow> =
                    store.finding_rows(rule, params, &request).await?;
                let ids: Vec<String> = rows
                    .iter()
                    .filter_map(|r| r.subject.credential_id.clone())
                    .collect();
                let agents = store.sharing_agents(&ids).await?;
                map(rows, |row| {
                    let of_this: Vec<_> = agents
                        .iter()
                        .filter(|a| Some(&a.0) == row.subject.credential_id.as_ref())
                        .map(|a| (a.1.clone(), a.2.clone(), a.3.clone(), a.4.clone()))
                        .collect();
                    rules::shared(row, &of_this)
                })
            }
            Rule::BroadScope => map(store.finding_rows(rule, params, &request).await?, |r| {
                rules::broad_scope(r, catalogue)
            }),
            Rule::UnusedScope => {
                let rows: Vec<crate::store::findings::CredentialRow> =
                    store.finding_rows(rule, params, &request).await?;
                let ids: Vec<String> = rows
                    .iter()
                    .filter_map(|r| r.subject.credential_id.clone())
                    .collect();
                let declared = store.declared_scopes(&ids).await?;
                map(rows, |row| {
                    let of_this: Vec<Option<String>> = declared
                        .iter()
                        .filter(|d| Some(&d.0) == row.subject.credential_id.as_ref())
                        .map(|d| d.1.clone())
                        .collect();
                    rules::unused_scope(row, &of_this)
                })
            }
            Rule::Rotation => map(store.finding_rows(rule, params, &request).await?, |r| {
                rules::rotation(r, catalogue, now)
            }),
            Rule::NoExpiry => map(
                store.finding_rows(rule, params, &request).await?,
                rules::no_expiry,
            ),
            Rule::UnmatchedHr => map(store.finding_rows(rule, params, &request).await?, |r| {
                rules::termination(r, now)
            }),
            Rule::DeactivatedWithoutAgents => map(
                store.finding_rows(rule, params, &request).await?,
                rules::deactivation,
            ),
        })
    }
}

fn map<R>(rows: Vec<R>, f: impl FnMut(R) -> Finding) -> Vec<Finding> {
    rows.into_iter().map(f).collect()
}

fn wanted_kinds(filter: &FindingFilter) -> Vec<FindingKind> {
    FindingKind::ALL
        .iter()
        .copied()
        .filter(|k| filter.wants_kind(*k))
        .collect()
}

/// A scan in progress: pulls findings batch by batch, so a report never holds more
/// than [`SCAN_BATCH`] rows. Holds no transaction or connection between batches.
pub struct Scan<'s, 'a> {
    findings: &'s Findings<'a>,
    filter: FindingFilter,
    kinds: Vec<FindingKind>,
    position: usize,
    after: Option<String>,
}

impl Scan<'_, '_> {
    /// The next batch, or None when every finding was returned.
    pub async fn next_batch(&mut self) -> StoreResult<Option<Vec<Finding>>> {
        while let Some(kind) = self.kinds.get(self.position).copied() {
            let batch = self
                .findings
                .fetch(kind, &self.filter, self.after.as_deref(), SCAN_BATCH)
                .await?;
            if (batch.len() as i64) < SCAN_BATCH {
                self.position += 1;
                self.after = None;
            } else {
                self.after = batch.last().map(|f| f.key.clone());
            }
            if !batch.is_empty() {
                return Ok(Some(batch));
            }
        }
        Ok(None)
    }
}
