//! Discovery's tables: runs of a provider's listing, the credentials found (never a
//! secret), and people's identities at providers.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::locks::LockKey;
use super::{
    conflict, new_id, with_pool, with_tx, Page, PageRequest, Store, StoreError, StoreResult, Tx,
};

/// One run of a provider's listing, with what it found.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DiscoveryRun {
    pub id: String,
    pub provider: String,
    /// `schedule`, `api` or `cli`.
    pub trigger: String,
    /// `running`, `succeeded`, `failed` or `abandoned` (its runner stopped).
    pub status: String,
    #[serde(skip)]
    pub holder: String,
    /// The job running it, if the queue does.
    pub job_id: Option<String>,
    #[serde(skip)]
    pub held_until: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub counts: RunCounts,
    pub error: Option<String>,
}

/// What a run has found so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct RunCounts {
    pub pages: i64,
    /// Credentials the provider listed.
    pub listed: i64,
    /// Listed for the first time.
    #[sqlx(rename = "new_count")]
    pub new: i64,
    /// Listed before, with a different status, scopes, times or owner.
    pub changed: i64,
    /// Listed before and no longer (set when the run succeeds).
    pub gone: i64,
    /// Listed with an owner that resolves to nobody.
    pub shadow: i64,
    /// New credentials of a departed person, offboarded at once.
    pub offboarded: i64,
}

const RUN_COLUMNS: &str =
    "id, provider, trigger, status, holder, job_id, held_until, started_at, finished_at, \
    pages, listed, new_count, changed, gone, shadow, offboarded, error";

/// A credential a provider listed, as last seen.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DiscoveredCredential {
    pub id: String,
    pub provider: String,
    pub handle: String,
    pub kind: String,
    pub name: String,
    #[serde(skip)]
    pub scopes: String,
    pub provider_status: String,
    pub created_at_provider: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub owner_identity: Option<String>,
    pub owner_email: Option<String>,
    pub person_id: Option<String>,
    pub credential_id: Option<String>,
    pub agent_id: Option<String>,
    #[serde(skip)]
    pub digest: String,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    #[serde(skip)]
    pub last_run_id: String,
    pub gone_at: Option<DateTime<Utc>>,
}

impl DiscoveredCredential {
    pub fn scope_list(&self) -> Vec<String> {
        serde_json::from_str(&self.scopes).unwrap_or_default()
    }
}

const DISCOVERED_COLUMNS: &str = "id, provider, handle, kind, name, scopes, provider_status, \
    created_at_provider, last_used_at, expires_at, owner_identity, owner_email, person_id, \
    credential_id, agent_id, digest, first_seen_at, last_seen_at, last_run_id, gone_at";

/// A listed credential as it is written: found first, or seen again.
#[derive(Debug, Clone)]
pub struct SeenCredential<'a> {
    pub provider: &'a str,
    pub handle: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
    pub scopes: &'a [String],
    pub provider_status: &'a str,
    pub created_at_provider: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub owner_identity: Option<&'a str>,
    pub owner_email: Option<&'a str>,
    pub person_id: Option<&'a str>,
    pub credential_id: Option<&'a str>,
    pub agent_id: Option<&'a str>,
    pub digest: &'a str,
    pub run_id: &'a str,
    pub at: DateTime<Utc>,
}

/// Filters of the discovered-credential list.
#[derive(Debug, Clone, Default)]
pub struct DiscoveredFilter {
    pub provider: Option<String>,
    pub person_id: Option<String>,
    /// Only those whose owner resolves to nobody (shadow credentials).
    pub shadow: Option<bool>,
    /// Only those gone from the provider (or only those still there).
    pub gone: Option<bool>,
}

impl Tx {
    /// Starts a run of `provider` held by `holder` until `held_until`, unless another
    /// is running: None then. A running one whose holder stopped renewing it is
    /// abandoned first.
    #[allow(clippy::too_many_arguments, reason = "one row's fields")]
    pub async fn start_discovery_run(
        &mut self,
        provider: &str,
        trigger: &str,
        holder: &str,
        job_id: Option<&str>,
        held_until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<String>> {
        self.lock(LockKey::Discovery(provider)).await?;
        // A run whose job no longer holds its lease (the instance died and the lease
        // was released, or another worker took the job) is over now, not when its
        // hold lapses.
        with_tx!(self, c => {
            sqlx::query(
                "UPDATE discovery_runs SET status = 'abandoned', finished_at = $2, \
                 error = 'its runner stopped before it finished' \
                 WHERE provider = $1 AND status = 'running' AND (held_until < $2 OR (job_id IS NOT NULL \
                 AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = discovery_runs.job_id \
                 AND j.lease_owner = discovery_runs.holder AND j.status = 'running')))",
            )
            .bind(provider)
            .bind(at)
            .execute(&mut *c)
            .await?;
        });
        let running: Option<String> = with_tx!(self, c => {
            sqlx::query_scalar("SELECT id FROM discovery_runs WHERE provider = $1 AND status = 'running'")
                .bind(provider)
                .fetch_optional(&mut *c)
                .await?
        });
        if running.is_some() {
            return Ok(None);
        }
        let id = new_id();
        with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO discovery_runs (id, provider, trigger, status, holder, job_id, held_until, started_at) \
                 VALUES ($1, $2, $3, 'running', $4, $7, $5, $6)",
            )
            .bind(&id)
            .bind(provider)
            .bind(trigger)
            .bind(holder)
            .bind(held_until)
            .bind(at)
            .bind(job_id)
            .execute(&mut *c)
            .await
            .map_err(conflict("a discovery of this provider is running"))?;
        });
        Ok(Some(id))
    }

    /// Records a run's progress and extends its hold; false when the run is no
    /// longer this holder's (it was abandoned): the holder must stop.
    pub async fn renew_discovery_run(
        &mut self,
        id: &str,
        holder: &str,
        held_until: DateTime<Utc>,
        counts: &RunCounts,
    ) -> StoreResult<bool> {
        let done = with_tx!(self, c => {
            sqlx::query(
                "UPDATE discovery_runs SET held_until = $3, pages = $4, listed = $5, new_count = $6, \
                 changed = $7, shadow = $8, offboarded = $9 \
                 WHERE id = $1 AND holder = $2 AND status = 'running'",
            )
            .bind(id)
            .bind(holder)
            .bind(held_until)
            .bind(counts.pages)
            .bind(counts.listed)
            .bind(counts.new)
            .bind(counts.changed)
            .bind(counts.shadow)
            .bind(counts.offboarded)
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Ends a run: `succeeded` (with its counts) or `failed` (with the error).
    pub async fn finish_discovery_run(
        &mut self,
        id: &str,
        holder: &str,
        status: &str,
        counts: &RunCounts,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = with_tx!(self, c => {
            sqlx::query(
                "UPDATE discovery_runs SET status = $3, finished_at = $4, pages = $5, listed = $6, \
                 new_count = $7, changed = $8, gone = $9, shadow = $10, offboarded = $11, error = $12 \
                 WHERE id = $1 AND holder = $2 AND status = 'running'",
            )
            .bind(id)
            .bind(holder)
            .bind(status)
            .bind(at)
            .bind(counts.pages)
            .bind(counts.listed)
            .bind(counts.new)
            .bind(counts.changed)
            .bind(counts.gone)
            .bind(counts.shadow)
            .bind(counts.offboarded)
            .bind(error)
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// The credential `provider` lists as `handle`, as last seen, locked for this
    /// transaction (two runs never overlap, but an offboarding may link it).
    pub async fn discovered_by_handle(
        &mut self,
        provider: &str,
        handle: &str,
    ) -> StoreResult<Option<DiscoveredCredential>> {
        self.lock(LockKey::CredentialHandle(provider, handle))
            .await?;
        let sql = format!(
            "SELECT {DISCOVERED_COLUMNS} FROM discovered_credentials WHERE provider = $1 AND handle = $2"
        );
        Ok(with_tx!(self, c => {
            sqlx::query_as(&sql).bind(provider).bind(handle).fetch_optional(&mut *c).await?
        }))
    }

    /// Writes a listed credential: inserted when new, else updated as seen again
    /// (and no longer gone).
    pub async fn record_discovered(&mut self, seen: &SeenCredential<'_>) -> StoreResult<()> {
        let scopes = serde_json::to_string(seen.scopes).expect("strings serialise");
        with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO discovered_credentials (id, provider, handle, kind, name, scopes, provider_status, \
                 created_at_provider, last_used_at, expires_at, owner_identity, owner_email, person_id, \
                 credential_id, agent_id, digest, first_seen_at, last_seen_at, last_run_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, $18) \
                 ON CONFLICT (provider, handle) DO UPDATE SET kind = $4, name = $5, scopes = $6, \
                 provider_status = $7, created_at_provider = $8, last_used_at = $9, expires_at = $10, \
                 owner_identity = $11, owner_email = $12, person_id = $13, credential_id = $14, agent_id = $15, \
                 digest = $16, last_seen_at = $17, last_run_id = $18, gone_at = NULL",
            )
            .bind(new_id())
            .bind(seen.provider)
            .bind(seen.handle)
            .bind(seen.kind)
            .bind(seen.name)
            .bind(&scopes)
            .bind(seen.provider_status)
            .bind(seen.created_at_provider)
            .bind(seen.last_used_at)
            .bind(seen.expires_at)
            .bind(seen.owner_identity)
            .bind(seen.owner_email)
            .bind(seen.person_id)
            .bind(seen.credential_id)
            .bind(seen.agent_id)
            .bind(seen.digest)
            .bind(seen.at)
            .bind(seen.run_id)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// Marks gone, at `at`, every credential of `provider` that run `run_id` did not
    /// list; returns how many. They are kept: history stays.
    pub async fn mark_discovered_gone(
        &mut self,
        provider: &str,
        run_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<i64> {
        Ok(with_tx!(self, c => {
            sqlx::query(
                "UPDATE discovered_credentials SET gone_at = $3 \
                 WHERE provider = $1 AND last_run_id <> $2 AND gone_at IS NULL",
            )
            .bind(provider)
            .bind(run_id)
            .bind(at)
            .execute(&mut *c)
            .await?
            .rows_affected()
        }) as i64)
    }

    /// Handles the last runs listed and run `run_id` has not (yet): what it would mark
    /// gone.
    pub async fn unseen_discovered(
        &mut self,
        provider: &str,
        run_id: &str,
    ) -> StoreResult<Vec<String>> {
        Ok(with_tx!(self, c => {
            sqlx::query_scalar(
                "SELECT handle FROM discovered_credentials \
                 WHERE provider = $1 AND last_run_id <> $2 AND gone_at IS NULL ORDER BY handle",
            )
            .bind(provider)
            .bind(run_id)
            .fetch_all(&mut *c)
            .await?
        }))
    }

    /// Counts a credential as seen by run `run_id` without its listing (the provider
    /// confirmed it exists).
    pub async fn confirm_discovered(
        &mut self,
        provider: &str,
        handle: &str,
        run_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        with_tx!(self, c => {
            sqlx::query(
                "UPDATE discovered_credentials SET last_run_id = $3, last_seen_at = $4 \
                 WHERE provider = $1 AND handle = $2",
            )
            .bind(provider)
            .bind(handle)
            .bind(run_id)
            .bind(at)
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// The person whose identity at `provider` is `identity`.
    pub async fn person_by_identity(
        &mut self,
        provider: &str,
        identity: &str,
    ) -> StoreResult<Option<String>> {
        self.lock(LockKey::Identity(provider, identity)).await?;
        Ok(with_tx!(self, c => {
            sqlx::query_scalar(
                "SELECT i.person_id FROM person_identities i JOIN people p ON p.id = i.person_id \
                 WHERE i.provider = $1 AND i.identity = $2 AND p.deleted_at IS NULL",
            )
            .bind(provider)
            .bind(identity)
            .fetch_optional(&mut *c)
            .await?
        }))
    }

    /// Gives a person their identity at `provider`, replacing the one they had there.
    /// Conflict when another person has that identity.
    pub async fn set_identity(
        &mut self,
        person_id: &str,
        provider: &str,
        identity: &str,
        source: &str,
    ) -> StoreResult<()> {
        self.lock(LockKey::Identity(provider, identity)).await?;
        with_tx!(self, c => {
            sqlx::query("DELETE FROM person_identities WHERE person_id = $1 AND provider = $2")
                .bind(person_id)
                .bind(provider)
                .execute(&mut *c)
                .await?;
            sqlx::query(
                "INSERT INTO person_identities (provider, identity, person_id, source, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(provider)
            .bind(identity)
            .bind(person_id)
            .bind(source)
            .bind(super::now())
            .execute(&mut *c)
            .await
            .map_err(conflict("another person has this identity at this provider"))?;
        });
        Ok(())
    }

    /// Records an identity the provider's data names, unless the person or the
    /// identity has one there already; returns whether it was recorded.
    pub async fn add_discovered_identity(
        &mut self,
        person_id: &str,
        provider: &str,
        identity: &str,
    ) -> StoreResult<bool> {
        self.lock(LockKey::Identity(provider, identity)).await?;
        let done = with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO person_identities (provider, identity, person_id, source, created_at) \
                 SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS \
                 (SELECT 1 FROM person_identities WHERE person_id = $3 AND provider = $1) \
                 ON CONFLICT (provider, identity) DO NOTHING",
            )
            .bind(provider)
            .bind(identity)
            .bind(person_id)
            .bind(format!("discovered:{provider}"))
            .bind(super::now())
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    pub async fn remove_identity(&mut self, person_id: &str, provider: &str) -> StoreResult<bool> {
        let done = with_tx!(self, c => {
            sqlx::query("DELETE FROM person_identities WHERE person_id = $1 AND provider = $2")
                .bind(person_id)
                .bind(provider)
                .execute(&mut *c)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }
}

/// What reconciliation needs to know of the person a credential is attributed to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OwnerState {
    pub active: bool,
    /// When they were last deactivated (their departure), if they were.
    pub departed_at: Option<DateTime<Utc>>,
}

impl Tx {
    /// Whether a live person is active, and since when they are gone if not.
    pub async fn owner_state(&mut self, person_id: &str) -> StoreResult<Option<OwnerState>> {
        self.lock(LockKey::Person(person_id)).await?;
        Ok(with_tx!(self, c => {
            sqlx::query_as(
                "SELECT p.active, (SELECT MAX(le.occurred_at) FROM lifecycle_events le                  WHERE le.person_id = p.id AND le.kind = 'person-deactivated') AS departed_at                  FROM people p WHERE p.id = $1 AND p.deleted_at IS NULL",
            )
            .bind(person_id)
            .fetch_optional(&mut *c)
            .await?
        }))
    }

    /// The live agent discovery made for `group` at a provider (`source` is
    /// `discovered:<provider>`).
    pub async fn find_discovered_agent(
        &mut self,
        source: &str,
        group: &str,
    ) -> StoreResult<Option<String>> {
        self.lock(LockKey::AgentExternalId(group)).await?;
        Ok(with_tx!(self, c => {
            sqlx::query_scalar(
                "SELECT id FROM agents WHERE source = $1 AND external_id = $2 AND deleted_at IS NULL                  ORDER BY id LIMIT 1",
            )
            .bind(source)
            .bind(group)
            .fetch_optional(&mut *c)
            .await?
        }))
    }

    /// The first live agent a credential is linked to.
    pub async fn first_agent_of(&mut self, credential_id: &str) -> StoreResult<Option<String>> {
        Ok(with_tx!(self, c => {
            sqlx::query_scalar(
                "SELECT ac.agent_id FROM agent_credentials ac JOIN agents a ON a.id = ac.agent_id                  WHERE ac.credential_id = $1 AND a.deleted_at IS NULL ORDER BY ac.linked_at, ac.agent_id LIMIT 1",
            )
            .bind(credential_id)
            .fetch_optional(&mut *c)
            .await?
        }))
    }

    /// Whether an agent keeps an owner who can answer for it: an active live person,
    /// or any group (whose members are not weighed here).
    pub async fn agent_has_active_owner(&mut self, agent_id: &str) -> StoreResult<bool> {
        let count: i64 = with_tx!(self, c => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM agent_owners o LEFT JOIN people p ON p.id = o.person_id                  WHERE o.agent_id = $1 AND (o.group_id IS NOT NULL OR (p.active AND p.deleted_at IS NULL))",
            )
            .bind(agent_id)
            .fetch_one(&mut *c)
            .await?
        });
        Ok(count > 0)
    }
}

impl Store {
    /// A person's identities at providers: (provider, identity, source).
    pub async fn identities_of(
        &self,
        person_id: &str,
    ) -> StoreResult<Vec<(String, String, String)>> {
        Ok(with_pool!(self, p => {
            sqlx::query_as(
                "SELECT provider, identity, source FROM person_identities WHERE person_id = $1 ORDER BY provider",
            )
            .bind(person_id)
            .fetch_all(p)
            .await?
        }))
    }

    /// Extends a run's hold outside any other write (between pages).
    pub async fn renew_discovery_hold(
        &self,
        id: &str,
        holder: &str,
        held_until: DateTime<Utc>,
        counts: &RunCounts,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let held = tx
            .renew_discovery_run(id, holder, held_until, counts)
            .await?;
        tx.commit().await?;
        Ok(held)
    }

    pub async fn get_discovery_run(&self, id: &str) -> StoreResult<DiscoveryRun> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM discovery_runs WHERE id = $1");
        let run: Option<DiscoveryRun> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?);
        run.ok_or(StoreError::NotFound)
    }

    /// Runs, newest first, of one provider or all.
    pub async fn list_discovery_runs(
        &self,
        provider: Option<&str>,
        page: &PageRequest,
    ) -> StoreResult<Page<DiscoveryRun>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM discovery_runs WHERE ($1 IS NULL OR provider = $1) \
             AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
        );
        let rows: Vec<DiscoveryRun> = with_pool!(self, p => {
            sqlx::query_as(&sql)
                .bind(provider)
                .bind(page.after.as_deref())
                .bind(i64::from(page.limit) + 1)
                .fetch_all(p)
                .await?
        });
        Ok(page.paginate(rows, |run| &run.id))
    }

    /// The latest run of each provider that succeeded, and the latest of any
    /// outcome: what the report's coverage section and the scheduler read.
    pub async fn latest_discovery_runs(&self) -> StoreResult<Vec<DiscoveryRun>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM discovery_runs r WHERE id = \
             (SELECT MAX(id) FROM discovery_runs l WHERE l.provider = r.provider) \
             OR id = (SELECT MAX(id) FROM discovery_runs s WHERE s.provider = r.provider AND s.status = 'succeeded') \
             ORDER BY provider, id"
        );
        Ok(with_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await?))
    }

    /// When `provider`'s latest run started, if it ever ran.
    pub async fn last_discovery_start(&self, provider: &str) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(with_pool!(self, p => {
            sqlx::query_scalar("SELECT MAX(started_at) FROM discovery_runs WHERE provider = $1")
                .bind(provider)
                .fetch_one(p)
                .await?
        }))
    }

    /// Credentials discovery found, in id order.
    pub async fn list_discovered(
        &self,
        filter: &DiscoveredFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<DiscoveredCredential>> {
        let sql = format!(
            "SELECT {DISCOVERED_COLUMNS} FROM discovered_credentials WHERE ($1 IS NULL OR provider = $1) \
             AND ($2 IS NULL OR person_id = $2) \
             AND ($3 IS NULL OR (person_id IS NULL) = $3) \
             AND ($4 IS NULL OR (gone_at IS NOT NULL) = $4) \
             AND ($5 IS NULL OR id > $5) ORDER BY id LIMIT $6"
        );
        let rows: Vec<DiscoveredCredential> = with_pool!(self, p => {
            sqlx::query_as(&sql)
                .bind(filter.provider.as_deref())
                .bind(filter.person_id.as_deref())
                .bind(filter.shadow)
                .bind(filter.gone)
                .bind(page.after.as_deref())
                .bind(i64::from(page.limit) + 1)
                .fetch_all(p)
                .await?
        });
        Ok(page.paginate(rows, |c| &c.id))
    }
}

/// A credential found alive at a provider after its owner left.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct FoundAfterDeparture {
    pub provider: String,
    pub handle: String,
    pub name: String,
    pub person_id: String,
    pub departed_at: DateTime<Utc>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub gone_at: Option<DateTime<Utc>>,
}

const AFTER_DEPARTURE_FROM: &str = "FROM discovered_credentials dc \
    JOIN people p ON p.id = dc.person_id AND p.active = FALSE \
    JOIN (SELECT person_id, MAX(occurred_at) AS departed_at FROM lifecycle_events \
          WHERE kind = 'person-deactivated' GROUP BY person_id) d ON d.person_id = dc.person_id \
    WHERE dc.last_seen_at >= d.departed_at AND dc.last_seen_at >= $1";

impl Store {
    /// Shadow credentials still at their provider: (how many, the oldest `limit`).
    pub async fn shadow_credentials(
        &self,
        limit: u32,
    ) -> StoreResult<(i64, Vec<DiscoveredCredential>)> {
        let sql = format!(
            "SELECT {DISCOVERED_COLUMNS} FROM discovered_credentials \
             WHERE person_id IS NULL AND gone_at IS NULL ORDER BY first_seen_at, id LIMIT $1"
        );
        Ok(with_pool!(self, p => {
            let total: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM discovered_credentials WHERE person_id IS NULL AND gone_at IS NULL",
            )
            .fetch_one(p)
            .await?;
            let rows = sqlx::query_as(&sql).bind(i64::from(limit)).fetch_all(p).await?;
            (total, rows)
        }))
    }

    /// Credentials discovery saw alive after their owner's departure, seen since
    /// `since`: (how many, the first `limit`).
    pub async fn found_after_departure(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<(i64, Vec<FoundAfterDeparture>)> {
        let count = format!("SELECT COUNT(*) {AFTER_DEPARTURE_FROM}");
        let rows = format!(
            "SELECT dc.provider, dc.handle, dc.name, dc.person_id, d.departed_at, dc.first_seen_at, \
             dc.last_seen_at, dc.gone_at {AFTER_DEPARTURE_FROM} ORDER BY d.departed_at, dc.id LIMIT $2"
        );
        Ok(with_pool!(self, p => {
            let total: i64 = sqlx::query_scalar(&count).bind(since).fetch_one(p).await?;
            let rows = sqlx::query_as(&rows).bind(since).bind(i64::from(limit)).fetch_all(p).await?;
            (total, rows)
        }))
    }
}
