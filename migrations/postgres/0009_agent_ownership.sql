-- Agents with several owners (people, or groups whose active members own them), agents
-- pushed by identity providers over SCIM, the events of an agent's own lifecycle, and
-- offboarding cases whose subject is an agent. Kept column-for-column identical to
-- migrations/sqlite/0009_agent_ownership.sql.

-- An agent's owners, in the order given (position 0 is "the owner" of the API's
-- single-owner fields). A person owner is resolved (person_id) or, while the directory
-- does not know the address, only an email; a group owner is a SCIM group.
CREATE TABLE agent_owners (
    agent_id  TEXT COLLATE "C" NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    position  BIGINT NOT NULL,
    person_id TEXT COLLATE "C" REFERENCES people(id),
    group_id  TEXT COLLATE "C" REFERENCES scim_groups(id) ON DELETE CASCADE,
    email     TEXT COLLATE "C",                              -- as registered; kept when unresolved
    email_key TEXT COLLATE "C",                              -- case-folded email
    added_at  TIMESTAMPTZ NOT NULL,
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
ALTER TABLE agents ADD COLUMN source TEXT COLLATE "C" NOT NULL DEFAULT 'api';
ALTER TABLE agents ADD COLUMN external_id TEXT COLLATE "C";
-- The SCIM document of a pushed agent, for the attributes ownerbound does not model.
ALTER TABLE agents ADD COLUMN scim_resource TEXT COLLATE "C";
ALTER TABLE agents ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
CREATE INDEX agents_external_id_idx ON agents (external_id);

-- What happened to an agent itself: it lost one of several owners ('owner-lost'), or
-- its identity provider deactivated ('agent-deactivated') or deleted ('agent-deleted')
-- it. The last two open an offboarding case whose subject is the agent.
CREATE TABLE agent_events (
    id           TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    agent_id     TEXT COLLATE "C" NOT NULL REFERENCES agents(id),
    kind         TEXT COLLATE "C" NOT NULL,
    person_id    TEXT COLLATE "C" REFERENCES people(id),     -- the owner who left ('owner-lost')
    source       TEXT COLLATE "C" NOT NULL,
    actor        TEXT COLLATE "C" NOT NULL,
    occurred_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX agent_events_agent_idx ON agent_events (agent_id, occurred_at);
CREATE INDEX agent_events_kind_idx ON agent_events (kind, occurred_at);

-- A case's subject is a person (a departure) or an agent (deactivated or deleted).
ALTER TABLE offboarding_cases ALTER COLUMN person_id DROP NOT NULL;
ALTER TABLE offboarding_cases ADD COLUMN agent_id TEXT COLLATE "C" REFERENCES agents(id);
ALTER TABLE offboarding_cases ADD COLUMN agent_event_id TEXT COLLATE "C";
ALTER TABLE offboarding_cases ADD CONSTRAINT offboarding_cases_subject_ck
    CHECK ((person_id IS NULL) <> (agent_id IS NULL));
CREATE UNIQUE INDEX offboarding_cases_agent_event_uq ON offboarding_cases (agent_event_id);
CREATE INDEX offboarding_cases_agent_idx ON offboarding_cases (agent_id);
