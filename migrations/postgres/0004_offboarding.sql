-- Offboarding: cases opened by deactivations, their items, and the durable job queue
-- that works through them. Kept column-for-column identical to
-- migrations/sqlite/0004_offboarding.sql.

CREATE TABLE jobs (
    id           TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    kind         TEXT COLLATE "C" NOT NULL,                  -- 'open_case' | 'revoke' | …
    -- One job per piece of work: enqueueing the same key again does nothing.
    dedupe_key   TEXT COLLATE "C" NOT NULL,
    payload      TEXT COLLATE "C" NOT NULL,                  -- JSON, never a secret
    provider     TEXT COLLATE "C",
    status       TEXT COLLATE "C" NOT NULL,                  -- 'ready' | 'running' | 'done' | 'dead'
    attempts     BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    run_after    TIMESTAMPTZ NOT NULL,
    lease_owner  TEXT COLLATE "C",
    lease_until  TIMESTAMPTZ,
    last_error   TEXT COLLATE "C",
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX jobs_dedupe_uq ON jobs (dedupe_key);
CREATE INDEX jobs_claim_idx ON jobs (status, run_after);

CREATE TABLE offboarding_cases (
    id                 TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    person_id          TEXT COLLATE "C" NOT NULL REFERENCES people(id),
    -- One case per departure: the lifecycle event that opened it.
    lifecycle_event_id TEXT COLLATE "C",
    triggered_by       TEXT COLLATE "C" NOT NULL,            -- the event's source, or 'api' / 'cli'
    reason             TEXT COLLATE "C",
    policy             TEXT COLLATE "C" NOT NULL,            -- shared credentials: 'revoke' | 'hold'
    status             TEXT COLLATE "C" NOT NULL,            -- 'open' | 'closed'
    opened_at          TIMESTAMPTZ NOT NULL,
    closed_at          TIMESTAMPTZ
);
CREATE UNIQUE INDEX offboarding_cases_event_uq ON offboarding_cases (lifecycle_event_id);
CREATE INDEX offboarding_cases_person_idx ON offboarding_cases (person_id);

CREATE TABLE offboarding_items (
    id            TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    case_id       TEXT COLLATE "C" NOT NULL REFERENCES offboarding_cases(id),
    credential_id TEXT COLLATE "C" NOT NULL REFERENCES credentials(id),
    agent_ids     TEXT COLLATE "C" NOT NULL,                 -- JSON: the person's agents using it
    collateral    TEXT COLLATE "C" NOT NULL,                 -- JSON: [{agent_id, agent_name, owner_id, owner_email}]
    action        TEXT COLLATE "C" NOT NULL,                 -- 'revoke' | 'hold'
    status        TEXT COLLATE "C" NOT NULL,
    detail        TEXT COLLATE "C",
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX offboarding_items_case_idx ON offboarding_items (case_id);
CREATE INDEX offboarding_items_credential_idx ON offboarding_items (credential_id);
