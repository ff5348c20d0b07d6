//! The SQL of the findings rules (see `crate::findings` for what each one means).
//!
//! Each rule is one SELECT computing, per row, the finding's `kind` and `severity`
//! (so that counting is a `GROUP BY`, not a scan in Rust), a `sort_key` for keyset
//! paging, the subject columns of [`Subject`], and facts of its own. The rule is then
//! wrapped: `SELECT * FROM (rule) f WHERE f.kind = … AND f.severity IN (…) AND
//! f.sort_key > … ORDER BY f.sort_key LIMIT …` for a page, or `GROUP BY f.kind,
//! f.severity` for counts. Nothing is joined in memory, and a page reads at most
//! `limit` rows of each rule.
//!
//! Never selected: `secret_ciphertext`, and of `fingerprint` only `substr(…, 1, 8)`.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, QueryBuilder};

use super::agents::{
    first_email_sql, first_person_sql, AGENT_OWNER_LOST, ORPHANED_CONDITION, ORPHAN_REASON_SQL,
};
use super::{push_parts, with_pool, Engine, SqlPart, SqlValue, Store, StoreResult};

/// Credential statuses that mean "dead": no risk left in the credential itself.
const DEAD: &str = "('revoked', 'verified_dead')";

/// Agent and owner columns for an agent `a` with (first person) owner `p` and manager `m`.
const AGENT_OWNER: &str = concat!(
    "a.id AS agent_id, a.name AS agent_name, a.source AS agent_source, p.id AS owner_id, \
    COALESCE(p.display_name, p.user_name) AS owner_name, \
    COALESCE((SELECT e.value FROM person_emails e WHERE e.person_id = p.id \
              ORDER BY e.is_primary DESC, e.value LIMIT 1), ",
    first_email_sql!(),
    ") AS owner_email, \
    COALESCE(m.display_name, m.user_name) AS manager_name"
);
const AGENT_OWNER_JOINS: &str = concat!(
    "LEFT JOIN people p ON p.id = ",
    first_person_sql!(),
    " LEFT JOIN people m ON m.id = p.manager_id"
);
const NO_AGENT_OWNER: &str = "NULL AS agent_id, NULL AS agent_name, NULL AS agent_source, \
    NULL AS owner_id, NULL AS owner_name, NULL AS owner_email, NULL AS manager_name";
const CREDENTIAL: &str =
    "c.provider AS provider, c.id AS credential_id, substr(c.fingerprint, 1, 8) AS fingerprint_prefix";
const NO_CREDENTIAL: &str = "NULL AS provider, NULL AS credential_id, NULL AS fingerprint_prefix";
/// Joins `a` to the first live agent of credential `c` (credential rules report
/// one finding per credential, naming one agent and counting the others).
const FIRST_LIVE_AGENT: &str = "JOIN agents a ON a.id = (SELECT MIN(ac.agent_id) \
    FROM agent_credentials ac JOIN agents la ON la.id = ac.agent_id \
    WHERE ac.credential_id = c.id AND la.deleted_at IS NULL)";
const LIVE_AGENT_COUNT: &str = "(SELECT COUNT(*) FROM agent_credentials ac \
    JOIN agents la ON la.id = ac.agent_id WHERE ac.credential_id = c.id AND la.deleted_at IS NULL)";

/// The columns every rule selects.
#[derive(Debug, Clone, FromRow)]
pub struct Subject {
    pub sort_key: String,
    pub kind: String,
    pub severity: String,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    /// Where the agent comes from (`api`, `import`, `scim`).
    pub agent_source: Option<String>,
    pub owner_id: Option<String>,
    pub owner_name: Option<String>,
    pub owner_email: Option<String>,
    pub manager_name: Option<String>,
    pub provider: Option<String>,
    pub credential_id: Option<String>,
    pub fingerprint_prefix: Option<String>,
}

/// The rules, each one query. A rule may yield several kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Orphans,
    LostOwner,
    Revocations,
    DeadJobs,
    Collateral,
    Shared,
    BroadScope,
    UnusedScope,
    Rotation,
    NoExpiry,
    UnmatchedHr,
    DeactivatedWithoutAgents,
}

impl Rule {
    /// How many ids a row's `sort_key` joins with `:` (see each rule's SELECT): the
    /// offboarding item's and the agent's for collateral, the subject's alone for
    /// every other rule. A findings cursor carries that key.
    pub fn key_ids(self) -> usize {
        match self {
            Rule::Collateral => 2,
            _ => 1,
        }
    }
}

/// What the rules' SQL depends on, computed once per evaluation.
#[derive(Debug, Clone)]
pub struct RuleParams {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// `LIKE` patterns (escape `\`) of broad scopes.
    pub broad_like: Vec<String>,
    /// (credential kind, overdue before, twice overdue before).
    pub rotation: Vec<(String, DateTime<Utc>, DateTime<Utc>)>,
    /// Manual tasks opened before this are stale.
    pub manual_stale_before: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow)]
pub struct OrphanRow {
    #[sqlx(flatten)]
    pub subject: Subject,
    pub agent_status: String,
    /// `no_owner` | `owner_unresolved` | `owner_deleted` | `owner_inactive`.
    pub reason: String,
    pub registered_owner_email: Option<String>,
    /// The latest departure of one of its owners.
    pub owner_deactivated_at: Option<DateTime<Utc>>,
    pub owner_count: i64,
    /// Credentials of the agent that are not revoked or verified dead.
    pub live_credentials: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct LostOwnerRow {
    #[sqlx(flatten)]
    pub subject: Subject,
    pub lost_person_id: Option<String>,
    pub lost_person_name: Option<String>,
    pub lost_at: DateTime<Utc>,
    pub owners_left: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct RevocationRow {
    #[sqlx(flatten)]
    pub subject: Subject,
    pub item_status: String,
    pub item_action: String,
    pub item_detail: Option<String>,
    /// JSON array of the departed person's agents using the credential.
    pub item_agent_ids: String,
    pub case_id: String,
    pub case_opened_at: DateTime<Utc>,
    pub item_updated_at: DateTime<Utc>,
    pub job_status: Option<String>,
    pub job_attempts: Option<i64>,
    pub job_error: Option<String>,
    /// While a call is in flight: since when, and on which instance.
    pub job_claimed_at: Option<DateTime<Utc>>,
    pub job_instance: Option<String>,
    /// While failing: since when, the next attempt, and the retry deadline.
    pub job_failing_since: Option<DateTime<Utc>>,
    pub job_run_after: Option<DateTime<Utc>>,
    pub job_deadline_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, FromRow)]
pub struct DeadJobRow {
    #[sqlx(flatten)]
    pub subject: Subject,
    pub job_id: String,
    pub job_kind: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// The job's JSON payload (never a secret); only ids are taken from it.
    pub payload: String,
    pub dead_since: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow)]
pub struct CollateralRow {
    #[sqlx(flatten)]
    pub subject: Subject,
    pub case_id: String,
    pub case_opened_at: DateTime<Utc>,
    /// The departed person; None when the case's subject is an agent.
    pub departed_id: Option<String>,
    pub departed_name: Option<String>,
    pub item_status: String,
    pub item_action: String,
    pub credential_status: String,
}

/// Rows of the credential rules (shared, broad, unused, rotation, no expiry).
#[derive(Debug, Clone, FromRow)]
pub struct CredentialRow {
    #[sqlx(flatten)]
    pub subject: Subject,
    pub credential_kind: String,
    pub credential_status: String,
    /// JSON array of scope strings.
    pub scopes: String,
    pub issued_at: Option<DateTime<Utc>>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub live_agents: i64,
    /// Distinct owners (people, or unresolved emails) of the live agents.
    pub owners: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct TerminationRow {
    #[sqlx(flatten)]
    pub subject: Subject,
    pub source: String,
    pub employee_id: Option<String>,
    pub email: Option<String>,
    pub effective_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow)]
pub struct DeactivationRow {
    #[sqlx(flatten)]
    pub subject: Subject,
    pub event_source: String,
    pub occurred_at: DateTime<Utc>,
}

/// The elements of a JSON array column as a table `alias` with a `value` column.
fn json_elements(engine: Engine, column: &str, alias: &str) -> String {
    match engine {
        Engine::Sqlite => format!("json_each({column}) AS {alias}"),
        Engine::Postgres => format!("json_array_elements_text(({column})::json) AS {alias}(value)"),
    }
}

/// SQL text plus bound values, built without knowing the engine's placeholder style.
struct Sql(Vec<SqlPart>);

impl Sql {
    fn new(text: impl Into<String>) -> Self {
        Self(vec![SqlPart::Sql(text.into())])
    }
    fn push(&mut self, text: impl Into<String>) -> &mut Self {
        self.0.push(SqlPart::Sql(text.into()));
        self
    }
    fn time(&mut self, at: DateTime<Utc>) -> &mut Self {
        self.0.push(SqlPart::Bind(SqlValue::Time(at)));
        self
    }
    fn text(&mut self, value: &str) -> &mut Self {
        self.0
            .push(SqlPart::Bind(SqlValue::Text(value.to_string())));
        self
    }
}

/// A rule's SQL; `kind`, when only one kind is wanted, lets a rule read only its
/// rows (an index instead of every row of the table).
fn rule_sql(rule: Rule, params: &RuleParams, engine: Engine, kind: Option<&str>) -> Sql {
    match rule {
        Rule::Orphans => orphans(),
        Rule::LostOwner => lost_owner(params),
        Rule::Revocations => revocations(params, kind),
        Rule::DeadJobs => dead_jobs(),
        Rule::Collateral => collateral(params),
        Rule::Shared => credentials(params, engine, Rule::Shared),
        Rule::BroadScope => credentials(params, engine, Rule::BroadScope),
        Rule::UnusedScope => credentials(params, engine, Rule::UnusedScope),
        Rule::Rotation => credentials(params, engine, Rule::Rotation),
        Rule::NoExpiry => credentials(params, engine, Rule::NoExpiry),
        Rule::UnmatchedHr => unmatched_hr(params),
        Rule::DeactivatedWithoutAgents => deactivated_without_agents(params),
    }
}

fn orphans() -> Sql {
    let live = format!(
        "(SELECT COUNT(*) FROM agent_credentials ac JOIN credentials lc ON lc.id = ac.credential_id \
         WHERE ac.agent_id = a.id AND lc.status NOT IN {DEAD})"
    );
    // A shadow agent has nobody accountable; an agent of a departed owner with live
    // credentials still runs on their authority.
    Sql::new(format!(
        "SELECT a.id AS sort_key, 'orphaned_agent' AS kind, \
         CASE WHEN {ORPHAN_REASON_SQL} IN ('owner_unresolved', 'no_owner') THEN 'high' \
              WHEN {live} > 0 THEN 'critical' ELSE 'medium' END AS severity, \
         {AGENT_OWNER}, {NO_CREDENTIAL}, a.status AS agent_status, \
         {ORPHAN_REASON_SQL} AS reason, \
         {first_email} AS registered_owner_email, \
         (SELECT MAX(le.occurred_at) FROM lifecycle_events le JOIN agent_owners lo ON lo.person_id = le.person_id \
          WHERE lo.agent_id = a.id AND le.kind = 'person-deactivated') AS owner_deactivated_at, \
         (SELECT COUNT(*) FROM agent_owners co WHERE co.agent_id = a.id) AS owner_count, \
         {live} AS live_credentials \
         FROM agents a {AGENT_OWNER_JOINS} WHERE a.deleted_at IS NULL AND {ORPHANED_CONDITION}",
        first_email = first_email_sql!(),
    ))
}

fn lost_owner(params: &RuleParams) -> Sql {
    // Only while the agent is still owned: one that became an orphan since is reported
    // as an orphan instead. One finding per event, so two departures are two findings.
    let mut sql = Sql::new(format!(
        "SELECT ev.id AS sort_key, 'agent_lost_owner' AS kind, 'low' AS severity, \
         {AGENT_OWNER}, {NO_CREDENTIAL}, ev.person_id AS lost_person_id, \
         COALESCE(lp.display_name, lp.user_name) AS lost_person_name, ev.occurred_at AS lost_at, \
         (SELECT COUNT(*) FROM agent_owners co WHERE co.agent_id = a.id) AS owners_left \
         FROM agent_events ev JOIN agents a ON a.id = ev.agent_id {AGENT_OWNER_JOINS} \
         LEFT JOIN people lp ON lp.id = ev.person_id \
         WHERE ev.kind = '{AGENT_OWNER_LOST}' AND a.deleted_at IS NULL AND NOT {ORPHANED_CONDITION} \
           AND ev.occurred_at >= "
    ));
    sql.time(params.from)
        .push(" AND ev.occurred_at < ")
        .time(params.to);
    sql
}

/// The item statuses that can make each revocation kind (see the CASE below).
fn item_statuses(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "revocation_still_alive" => "('still_alive')",
        "revocation_verified" => "('verified_dead', 'revoked_manually')",
        "manual_task_open" => "('manual_task_open')",
        "revocation_held" => "('held')",
        "revocation_failed" | "revocation_unverified" => {
            "('pending', 'revoking', 'revoked_unverified', 'needs_attention', 'failed')"
        }
        _ => return None,
    })
}

fn revocations(params: &RuleParams, kind: Option<&str>) -> Sql {
    let failed = "(i.status IN ('needs_attention', 'failed') OR j.status = 'dead')";
    let mut sql = Sql::new(format!(
        "SELECT i.id AS sort_key, \
         CASE WHEN i.status = 'still_alive' THEN 'revocation_still_alive' \
              WHEN i.status IN ('verified_dead', 'revoked_manually') THEN 'revocation_verified' \
              WHEN i.status = 'manual_task_open' THEN 'manual_task_open' \
              WHEN i.status = 'held' THEN 'revocation_held' \
              WHEN {failed} THEN 'revocation_failed' \
              ELSE 'revocation_unverified' END AS kind, \
         CASE WHEN i.status = 'still_alive' THEN 'critical' \
              WHEN i.status IN ('verified_dead', 'revoked_manually') THEN 'info' \
              WHEN i.status = 'manual_task_open' THEN CASE WHEN i.updated_at < "
    ));
    sql.time(params.manual_stale_before).push(format!(
        " THEN 'high' ELSE 'medium' END \
              WHEN i.status = 'held' OR {failed} OR i.status = 'revoked_unverified' THEN 'high' \
              ELSE 'medium' END AS severity, \
         a.id AS agent_id, a.name AS agent_name, a.source AS agent_source, p.id AS owner_id, \
         COALESCE(p.display_name, p.user_name) AS owner_name, \
         (SELECT e.value FROM person_emails e WHERE e.person_id = p.id \
          ORDER BY e.is_primary DESC, e.value LIMIT 1) AS owner_email, \
         COALESCE(m.display_name, m.user_name) AS manager_name, {CREDENTIAL}, \
         i.status AS item_status, i.action AS item_action, i.detail AS item_detail, \
         i.agent_ids AS item_agent_ids, oc.id AS case_id, oc.opened_at AS case_opened_at, \
         i.updated_at AS item_updated_at, j.status AS job_status, j.attempts AS job_attempts, \
         j.last_error AS job_error, j.claimed_at AS job_claimed_at, j.lease_instance AS job_instance, \
         j.failing_since AS job_failing_since, j.run_after AS job_run_after, j.deadline_at AS job_deadline_at \
         FROM offboarding_items i JOIN offboarding_cases oc ON oc.id = i.case_id \
         JOIN credentials c ON c.id = i.credential_id \
         LEFT JOIN jobs j ON j.dedupe_key = ('revoke:' || i.credential_id || ':' || i.case_id) \
         LEFT JOIN agents a ON a.id = (SELECT MIN(ac.agent_id) FROM agent_credentials ac \
              WHERE ac.credential_id = i.credential_id \
              AND i.agent_ids LIKE ('%\"' || ac.agent_id || '\"%')) \
         LEFT JOIN people p ON p.id = COALESCE(oc.person_id, {first_person}) \
         LEFT JOIN people m ON m.id = p.manager_id \
         WHERE ",
        first_person = first_person_sql!(),
    ));
    if let Some(statuses) = kind.and_then(item_statuses) {
        sql.push(format!("i.status IN {statuses} AND "));
    }
    sql.push("oc.opened_at < ");
    // Settled revocations are news of their period; open ones are reported until
    // they are settled, here or because the credential died through another case.
    sql.time(params.to)
        .push(format!(
            " AND NOT (c.status IN {DEAD} AND i.status IN \
             ('pending', 'revoking', 'revoked_unverified', 'needs_attention', 'failed', 'manual_task_open', 'held'))"
        ))
        .push(" AND (i.status NOT IN ('verified_dead', 'revoked_manually') OR (i.updated_at >= ")
        .time(params.from)
        .push(" AND i.updated_at < ")
        .time(params.to)
        .push("))");
    sql
}

fn dead_jobs() -> Sql {
    // Dead revocations are reported with their item (revocation_failed).
    Sql::new(format!(
        "SELECT j.id AS sort_key, 'job_dead' AS kind, \
         CASE j.kind WHEN 'open_case' THEN 'critical' WHEN 'verify' THEN 'high' ELSE 'medium' END AS severity, \
         {NO_AGENT_OWNER}, j.provider AS provider, NULL AS credential_id, NULL AS fingerprint_prefix, \
         j.id AS job_id, j.kind AS job_kind, j.attempts AS attempts, j.last_error AS last_error, \
         j.payload AS payload, j.updated_at AS dead_since \
         FROM jobs j WHERE j.status = 'dead' AND j.kind <> 'revoke'"
    ))
}

fn collateral(params: &RuleParams) -> Sql {
    // The case records collateral as [{"agent_id":"…",…}] (serde_json, compact):
    // match the agent's id in it, and require that agent to still use the credential
    // and its owner to be active (an owner who left since makes it an orphan instead).
    let mut sql = Sql::new(format!(
        "SELECT i.id || ':' || a.id AS sort_key, 'collateral' AS kind, \
         CASE WHEN i.action = 'hold' THEN 'medium' ELSE 'high' END AS severity, \
         {AGENT_OWNER}, {CREDENTIAL}, oc.id AS case_id, oc.opened_at AS case_opened_at, \
         oc.person_id AS departed_id, COALESCE(dp.display_name, dp.user_name) AS departed_name, \
         i.status AS item_status, i.action AS item_action, c.status AS credential_status \
         FROM offboarding_items i JOIN offboarding_cases oc ON oc.id = i.case_id \
         JOIN credentials c ON c.id = i.credential_id \
         JOIN agent_credentials lk ON lk.credential_id = i.credential_id \
         JOIN agents a ON a.id = lk.agent_id AND a.deleted_at IS NULL \
         {AGENT_OWNER_JOINS} LEFT JOIN people dp ON dp.id = oc.person_id \
         WHERE i.collateral LIKE ('%\"agent_id\":\"' || a.id || '\"%') \
           AND NOT {ORPHANED_CONDITION} AND oc.opened_at < "
    ));
    sql.time(params.to);
    sql
}

fn credentials(params: &RuleParams, engine: Engine, rule: Rule) -> Sql {
    // Counted by each agent's first owner: one agent with several owners is one owner
    // set, and revoking its credential breaks nobody else.
    let owners = "(SELECT COUNT(DISTINCT COALESCE(lo.person_id, 'group:' || lo.group_id, \
                                         'email:' || lo.email_key, 'agent:' || la.id)) \
         FROM agent_credentials ac JOIN agents la ON la.id = ac.agent_id \
         LEFT JOIN agent_owners lo ON lo.agent_id = la.id AND lo.position = 0 \
         WHERE ac.credential_id = c.id AND la.deleted_at IS NULL)";
    let (kind, severity_head) = match rule {
        Rule::Shared => (
            "shared_credential",
            format!("CASE WHEN {owners} > 1 THEN 'high' ELSE 'low' END"),
        ),
        Rule::BroadScope => ("broad_scope", "'high'".to_string()),
        Rule::UnusedScope => ("unused_scope", "'medium'".to_string()),
        Rule::Rotation => ("rotation_overdue", String::new()),
        _ => ("no_expiry", "'low'".to_string()),
    };
    let base = "COALESCE(c.rotated_at, c.issued_at, c.created_at)";
    let mut sql = Sql::new(format!("SELECT c.id AS sort_key, '{kind}' AS kind, "));
    if rule == Rule::Rotation {
        // Twice the cadence and more is high; once, medium.
        sql.push("CASE WHEN ");
        overdue(&mut sql, params, base, true);
        sql.push(" THEN 'high' ELSE 'medium' END");
    } else if rule == Rule::UnusedScope {
        // An unused scope that is also broad is the worst kind of excess: high.
        let granted = json_elements(engine, "c.scopes", "s");
        sql.push(format!(
            "CASE WHEN EXISTS (SELECT 1 FROM {granted} WHERE {} AND (FALSE",
            unused_condition(engine)
        ));
        for like in &params.broad_like {
            sql.push(" OR s.value LIKE ")
                .text(like)
                .push(" ESCAPE '\\'");
        }
        sql.push(")) THEN 'high' ELSE 'medium' END");
    } else {
        sql.push(severity_head);
    }
    sql.push(format!(
        " AS severity, {AGENT_OWNER}, {CREDENTIAL}, c.kind AS credential_kind, \
         c.status AS credential_status, c.scopes AS scopes, c.issued_at AS issued_at, \
         c.rotated_at AS rotated_at, c.created_at AS created_at, {LIVE_AGENT_COUNT} AS live_agents, \
         {owners} AS owners \
         FROM credentials c {FIRST_LIVE_AGENT} {AGENT_OWNER_JOINS} \
         WHERE c.status NOT IN {DEAD} AND "
    ));
    match rule {
        Rule::Shared => {
            sql.push(format!("{LIVE_AGENT_COUNT} > 1"));
        }
        Rule::BroadScope => {
            let scopes = json_elements(engine, "c.scopes", "s");
            sql.push(format!("EXISTS (SELECT 1 FROM {scopes} WHERE FALSE"));
            for like in &params.broad_like {
                sql.push(" OR s.value LIKE ")
                    .text(like)
                    .push(" ESCAPE '\\'");
            }
            sql.push(")");
        }
        Rule::UnusedScope => {
            // Only when every live agent of the credential declares what it uses: a
            // scope is unused when none of them declares it.
            let granted = json_elements(engine, "c.scopes", "s");
            sql.push(format!(
                "NOT EXISTS (SELECT 1 FROM agent_credentials ac JOIN agents la ON la.id = ac.agent_id \
                 WHERE ac.credential_id = c.id AND la.deleted_at IS NULL AND la.used_scopes IS NULL) \
                 AND EXISTS (SELECT 1 FROM {granted} WHERE {})",
                unused_condition(engine)
            ));
        }
        Rule::Rotation => {
            overdue(&mut sql, params, base, false);
        }
        _ => {
            sql.push("c.expires_at IS NULL");
        }
    }
    sql
}

/// Granted scope `s.value` of credential `c` is declared by none of its live agents.
fn unused_condition(engine: Engine) -> String {
    let used = json_elements(engine, "ua.used_scopes", "u");
    format!(
        "NOT EXISTS (SELECT 1 FROM agent_credentials uc JOIN agents ua ON ua.id = uc.agent_id, {used} \
         WHERE uc.credential_id = c.id AND ua.deleted_at IS NULL AND u.value = s.value)"
    )
}

/// `(c.kind = k1 AND base < cutoff1) OR …`, FALSE when no kind has a cadence.
fn overdue(sql: &mut Sql, params: &RuleParams, base: &str, twice: bool) {
    sql.push("(FALSE");
    for (kind, once, double) in &params.rotation {
        sql.push(" OR (c.kind = ")
            .text(kind)
            .push(format!(" AND {base} < "))
            .time(if twice { *double } else { *once })
            .push(")");
    }
    sql.push(")");
}

fn unmatched_hr(params: &RuleParams) -> Sql {
    let mut sql = Sql::new(format!(
        "SELECT t.id AS sort_key, 'unmatched_hr_termination' AS kind, 'high' AS severity, \
         {NO_AGENT_OWNER}, {NO_CREDENTIAL}, t.source AS source, t.employee_id AS employee_id, \
         t.email AS email, t.effective_at AS effective_at, t.created_at AS received_at \
         FROM hr_terminations t WHERE t.status = 'unmatched' AND t.created_at < "
    ));
    sql.time(params.to);
    sql
}

fn deactivated_without_agents(params: &RuleParams) -> Sql {
    let mut sql = Sql::new(
        "SELECT le.id AS sort_key, 'deactivated_without_agents' AS kind, 'info' AS severity, \
         NULL AS agent_id, NULL AS agent_name, NULL AS agent_source, p.id AS owner_id, \
         COALESCE(p.display_name, p.user_name) AS owner_name, \
         (SELECT e.value FROM person_emails e WHERE e.person_id = p.id \
          ORDER BY e.is_primary DESC, e.value LIMIT 1) AS owner_email, \
         COALESCE(m.display_name, m.user_name) AS manager_name, \
         NULL AS provider, NULL AS credential_id, NULL AS fingerprint_prefix, \
         le.source AS event_source, le.occurred_at AS occurred_at \
         FROM lifecycle_events le JOIN people p ON p.id = le.person_id \
         LEFT JOIN people m ON m.id = p.manager_id \
         WHERE le.kind = 'person-deactivated' AND p.active = FALSE \
           AND le.occurred_at = (SELECT MAX(l2.occurred_at) FROM lifecycle_events l2 \
                WHERE l2.person_id = le.person_id AND l2.kind = 'person-deactivated') \
           AND NOT EXISTS (SELECT 1 FROM agent_owners o JOIN agents a ON a.id = o.agent_id \
                           WHERE o.person_id = le.person_id AND a.deleted_at IS NULL) \
           AND le.occurred_at >= ",
    );
    sql.time(params.from)
        .push(" AND le.occurred_at < ")
        .time(params.to);
    sql
}

/// Which rows of a rule to read.
#[derive(Debug, Clone)]
pub struct RowRequest<'a> {
    pub kind: &'a str,
    pub severities: &'a [&'a str],
    pub after: Option<&'a str>,
    pub limit: i64,
}

impl Store {
    /// A page of a rule's rows of one kind, in `sort_key` order.
    pub async fn finding_rows<R>(
        &self,
        rule: Rule,
        params: &RuleParams,
        request: &RowRequest<'_>,
    ) -> StoreResult<Vec<R>>
    where
        R: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let inner = rule_sql(rule, params, self.engine(), Some(request.kind));
        Ok(with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new("SELECT * FROM (");
            push_parts!(q, &inner.0);
            q.push(") f WHERE f.kind = ").push_bind(request.kind.to_string());
            q.push(" AND f.severity IN (");
            let mut list = q.separated(", ");
            for severity in request.severities {
                list.push_bind(severity.to_string());
            }
            q.push(")");
            if let Some(after) = request.after {
                q.push(" AND f.sort_key > ").push_bind(after.to_string());
            }
            q.push(" ORDER BY f.sort_key LIMIT ").push_bind(request.limit);
            q.build_query_as::<R>().fetch_all(p).await?
        }))
    }

    /// (kind, severity, count) of a rule's findings.
    pub async fn finding_counts(
        &self,
        rule: Rule,
        params: &RuleParams,
    ) -> StoreResult<Vec<(String, String, i64)>> {
        let inner = rule_sql(rule, params, self.engine(), None);
        Ok(with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new("SELECT f.kind, f.severity, COUNT(*) FROM (");
            push_parts!(q, &inner.0);
            q.push(") f GROUP BY f.kind, f.severity");
            q.build_query_as().fetch_all(p).await?
        }))
    }

    /// The scopes declared by the live agents of these credentials:
    /// (credential id, used_scopes JSON or NULL when undeclared).
    pub async fn declared_scopes(
        &self,
        credential_ids: &[String],
    ) -> StoreResult<Vec<(String, Option<String>)>> {
        if credential_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT ac.credential_id, a.used_scopes FROM agent_credentials ac \
                 JOIN agents a ON a.id = ac.agent_id WHERE a.deleted_at IS NULL AND ac.credential_id IN (",
            );
            let mut list = q.separated(", ");
            for id in credential_ids {
                list.push_bind(id.clone());
            }
            q.push(") ORDER BY ac.credential_id, a.id");
            q.build_query_as().fetch_all(p).await?
        }))
    }

    /// The live agents of these credentials, with their owners: (credential id,
    /// agent id, agent name, owner id, owner email as registered). For a page of
    /// shared credentials only, so it stays small.
    pub async fn sharing_agents(
        &self,
        credential_ids: &[String],
    ) -> StoreResult<Vec<(String, String, String, Option<String>, Option<String>)>> {
        if credential_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new(
                concat!(
                    "SELECT ac.credential_id, a.id, a.name, ",
                    first_person_sql!(),
                    ", ",
                    first_email_sql!(),
                    " FROM agent_credentials ac \
                     JOIN agents a ON a.id = ac.agent_id WHERE a.deleted_at IS NULL AND ac.credential_id IN (",
                ),
            );
            let mut list = q.separated(", ");
            for id in credential_ids {
                list.push_bind(id.clone());
            }
            q.push(") ORDER BY ac.credential_id, a.id");
            q.build_query_as().fetch_all(p).await?
        }))
    }
}
