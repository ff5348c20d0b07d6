-- A job queue that holds its promise under faults: retries by deadline, instances
-- that heartbeat so a crashed one's leases come back in seconds, provider health so
-- an outage is alerted once and its revocations resume as soon as it answers again,
-- and cases that close. Kept column-for-column identical to
-- migrations/postgres/0008_resilient_jobs.sql.

-- Retried until then (NULL: the job's creation plus its kind's deadline).
ALTER TABLE jobs ADD COLUMN deadline_at TEXT;
-- First failed attempt of the current run of failures; NULL while it has not failed.
ALTER TABLE jobs ADD COLUMN failing_since TEXT;
-- The provider's own Retry-After: the job is not pulled forward before it.
ALTER TABLE jobs ADD COLUMN hold_until TEXT;
-- 'permanent' (retrying cannot help) | 'deadline' (kept failing until its deadline).
ALTER TABLE jobs ADD COLUMN dead_reason TEXT;
-- The instance whose worker holds the lease, and when that attempt started.
ALTER TABLE jobs ADD COLUMN lease_instance TEXT;
ALTER TABLE jobs ADD COLUMN claimed_at TEXT;
CREATE INDEX jobs_provider_idx ON jobs (provider, status, run_after);
CREATE INDEX jobs_lease_instance_idx ON jobs (lease_instance);

-- Running ownerbound processes. Each heartbeats; one that stops (or whose process is
-- gone from the same host) is marked stopped and its leases are released at once.
CREATE TABLE instances (
    id           TEXT PRIMARY KEY NOT NULL,
    hostname     TEXT NOT NULL,
    -- Same value = same kernel and process namespace, where `pid` can be checked.
    process_ns   TEXT NOT NULL,
    pid          BIGINT NOT NULL,
    version      TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    stopped_at   TEXT,
    stop_reason  TEXT                          -- 'shutdown' | 'no heartbeat' | 'process gone'
);
CREATE INDEX instances_live_idx ON instances (stopped_at, heartbeat_at);

-- Whether a provider answers: 'up' or 'down' since a time. The transition to 'down'
-- alerts once per outage; the transition to 'up' resumes its waiting revocations.
CREATE TABLE provider_health (
    provider   TEXT PRIMARY KEY NOT NULL,
    state      TEXT NOT NULL,                  -- 'up' | 'down'
    since      TEXT NOT NULL,
    last_error TEXT,
    alerted_at TEXT,
    updated_at TEXT NOT NULL
);

-- A case closes when every item is settled: 'revoked' (every credential proven dead
-- or confirmed by hand) or 'needs_human' (some held, failed or refused for good, a
-- human told). Reopened (NULL again) when a credential is found alive later.
ALTER TABLE offboarding_cases ADD COLUMN outcome TEXT;
CREATE INDEX offboarding_items_case_status_idx ON offboarding_items (case_id, status);

-- Revocations that died before deadlines existed died of their retries running out:
-- a provider that answers again re-drives them like those dead of their deadline.
UPDATE jobs SET dead_reason = 'deadline' WHERE status = 'dead' AND kind IN ('revoke', 'verify');
