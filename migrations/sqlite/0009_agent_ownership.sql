-- Agents with several owners (people, or groups whose active members own them), agents
-- pushed by identity providers over SCIM, the events of an agent's own lifecycle, and
-- offboarding cases whose subject is an agent. Kept column-for-column identical to
-- migrations/postgres/0009_agent_ownership.sql.

-- An agent's owners, in the order given (position 0 is "the owner" of the API's
-- single-owner fields). A person owner is resolved (person_id) or, while the directory
-- does not know the address, only an email; a group owner is a SCIM group.
CREATE TABLE agent_owners (
    agent_id  TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    position  BIGINT NOT NULL,
    person_id TEXT REFERENCES people(id),
    group_id  TEXT REFERENCES scim_groups(id) ON DELETE CASCADE,
    email     TEXT,                              -- as registered; kept when unresolved
    email_key TEXT,                              -- case-folded email
    added_at  TEXT NOT NULL,
    PRIMARY KEY (agent_id, position),
    CHECK ((group_id IS NULL) <> (person_id IS NULL AND email_key IS NULL))
);
CREATE INDEX agent_owners_person_idx ON agent_owners (person_id);
CREATE INDEX agent_owners_group_idx ON agent_owners (group_id);
CREATE INDEX agent_owners_email_idx ON agent_owners (email_key);

INSERT INTO agent_owners (agent_id, position, person_id, group_id, email, email_key, added_at)
    SELECT id, 0, owner_id, NULL, owner_email, owner_email_key, created_at FROM agents
    WHERE owner_id IS NOT NULL OR owner_email_key IS NOT NULL;

DROP INDEX agents_owner_idx;
DROP INDEX agents_owner_email_idx;
ALTER TABLE agents DROP COLUMN owner_id;
ALTER TABLE agents DROP COLUMN owner_email;
ALTER TABLE agents DROP COLUMN owner_email_key;

-- Where the agent came from: 'api', 'import', 'scim' (pushed by an identity provider).
-- SCIM-pushed agents belong to the identity provider: read-only in the admin API
-- except for their credentials.
ALTER TABLE agents ADD COLUMN source TEXT NOT NULL DEFAULT 'api';
ALTER TABLE agents ADD COLUMN external_id TEXT;
-- The SCIM document of a pushed agent, for the attributes ownerbound does not model.
ALTER TABLE agents ADD COLUMN scim_resource TEXT;
ALTER TABLE agents ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
CREATE INDEX agents_external_id_idx ON agents (external_id);

-- What happened to an agent itself: it lost one of several owners ('owner-lost'), or
-- its identity provider deactivated ('agent-deactivated') or deleted ('agent-deleted')
-- it. The last two open an offboarding case whose subject is the agent.
CREATE TABLE agent_events (
    id           TEXT PRIMARY KEY NOT NULL,
    agent_id     TEXT NOT NULL REFERENCES agents(id),
    kind         TEXT NOT NULL,
    person_id    TEXT REFERENCES people(id),     -- the owner who left ('owner-lost')
    source       TEXT NOT NULL,
    actor        TEXT NOT NULL,
    occurred_at  TEXT NOT NULL
);
CREATE INDEX agent_events_agent_idx ON agent_events (agent_id, occurred_at);
CREATE INDEX agent_events_kind_idx ON agent_events (kind, occurred_at);

-- A case's subject is a person (a departure) or an agent (deactivated or deleted).
-- SQLite cannot drop a NOT NULL constraint in place, and sqlx runs each migration in
-- a transaction, where foreign keys cannot be switched off: the cases and their items
-- are rebuilt child first, so that no drop leaves a row pointing at nothing.
CREATE TABLE offboarding_cases_new (
    id                 TEXT PRIMARY KEY NOT NULL,
    person_id          TEXT REFERENCES people(id),
    lifecycle_event_id TEXT,
    triggered_by       TEXT NOT NULL,
    reason             TEXT,
    policy             TEXT NOT NULL,
    status             TEXT NOT NULL,
    opened_at          TEXT NOT NULL,
    closed_at          TEXT,
    outcome            TEXT,
    agent_id           TEXT REFERENCES agents(id),
    agent_event_id     TEXT,
    CHECK ((person_id IS NULL) <> (agent_id IS NULL))
);
INSERT INTO offboarding_cases_new (id, person_id, lifecycle_event_id, triggered_by, reason, policy, status,
                                   opened_at, closed_at, outcome)
    SELECT id, person_id, lifecycle_event_id, triggered_by, reason, policy, status, opened_at, closed_at, outcome
    FROM offboarding_cases;
CREATE TABLE offboarding_items_new (
    id            TEXT PRIMARY KEY NOT NULL,
    case_id       TEXT NOT NULL REFERENCES offboarding_cases_new(id),
    credential_id TEXT NOT NULL REFERENCES credentials(id),
    agent_ids     TEXT NOT NULL,                 -- JSON: the case's agents using it
    collateral    TEXT NOT NULL,                 -- JSON: [{agent_id, agent_name, owner_id, orphaned}]
    action        TEXT NOT NULL,                 -- 'revoke' | 'hold'
    status        TEXT NOT NULL,
    detail        TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
INSERT INTO offboarding_items_new SELECT id, case_id, credential_id, agent_ids, collateral, action, status,
    detail, created_at, updated_at FROM offboarding_items;
DROP TABLE offboarding_items;
DROP TABLE offboarding_cases;
-- Renaming rewrites the items' reference to offboarding_cases_new as well.
ALTER TABLE offboarding_cases_new RENAME TO offboarding_cases;
ALTER TABLE offboarding_items_new RENAME TO offboarding_items;
CREATE UNIQUE INDEX offboarding_cases_event_uq ON offboarding_cases (lifecycle_event_id);
CREATE INDEX offboarding_cases_person_idx ON offboarding_cases (person_id);
CREATE UNIQUE INDEX offboarding_cases_agent_event_uq ON offboarding_cases (agent_event_id);
CREATE INDEX offboarding_cases_agent_idx ON offboarding_cases (agent_id);
CREATE INDEX offboarding_items_case_idx ON offboarding_items (case_id);
CREATE INDEX offboarding_items_credential_idx ON offboarding_items (credential_id);
CREATE INDEX offboarding_items_status_idx ON offboarding_items (status, updated_at);
CREATE INDEX offboarding_items_case_status_idx ON offboarding_items (case_id, status);
