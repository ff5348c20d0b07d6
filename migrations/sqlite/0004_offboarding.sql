-- Offboarding: cases opened by deactivations, their items, and the durable job queue
-- that works through them. Kept column-for-column identical to
-- migrations/postgres/0004_offboarding.sql.

CREATE TABLE jobs (
    id           TEXT PRIMARY KEY NOT NULL,
    kind         TEXT NOT NULL,                  -- 'open_case' | 'revoke' | …
    -- One job per piece of work: enqueueing the same key again does nothing.
    dedupe_key   TEXT NOT NULL,
    payload      TEXT NOT NULL,                  -- JSON, never a secret
    provider     TEXT,
    status       TEXT NOT NULL,                  -- 'ready' | 'running' | 'done' | 'dead'
    attempts     BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    run_after    TEXT NOT NULL,
    lease_owner  TEXT,
    lease_until  TEXT,
    last_error   TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE UNIQUE INDEX jobs_dedupe_uq ON jobs (dedupe_key);
CREATE INDEX jobs_claim_idx ON jobs (status, run_after);

CREATE TABLE offboarding_cases (
    id                 TEXT PRIMARY KEY NOT NULL,
    person_id          TEXT NOT NULL REFERENCES people(id),
    -- One case per departure: the lifecycle event that opened it.
    lifecycle_event_id TEXT,
    triggered_by       TEXT NOT NULL,            -- the event's source, or 'api' / 'cli'
    reason             TEXT,
    policy             TEXT NOT NULL,            -- shared credentials: 'revoke' | 'hold'
    status             TEXT NOT NULL,            -- 'open' | 'closed'
    opened_at          TEXT NOT NULL,
    closed_at          TEXT
);
CREATE UNIQUE INDEX offboarding_cases_event_uq ON offboarding_cases (lifecycle_event_id);
CREATE INDEX offboarding_cases_person_idx ON offboarding_cases (person_id);

CREATE TABLE offboarding_items (
    id            TEXT PRIMARY KEY NOT NULL,
    case_id       TEXT NOT NULL REFERENCES offboarding_cases(id),
    credential_id TEXT NOT NULL REFERENCES credentials(id),
    agent_ids     TEXT NOT NULL,                 -- JSON: the person's agents using it
    collateral    TEXT NOT NULL,                 -- JSON: [{agent_id, agent_name, owner_id, owner_email}]
    action        TEXT NOT NULL,                 -- 'revoke' | 'hold'
    status        TEXT NOT NULL,
    detail        TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX offboarding_items_case_idx ON offboarding_items (case_id);
CREATE INDEX offboarding_items_credential_idx ON offboarding_items (credential_id);
