-- Discovery: what providers say exists. People gain provider identities; each run of a
-- provider's listing is recorded; each credential found is kept with the provider's own
-- handle and never a secret, and stays (marked gone) after the provider drops it.
-- Kept column-for-column identical to migrations/sqlite/0014_discovery.sql.

-- A person's identity at a provider (`[[providers]]` name): an IAM user name, a
-- GitHub login, an Okta user id, a Vault entity id. One identity names one person.
CREATE TABLE person_identities (
    provider   TEXT COLLATE "C" NOT NULL,
    identity   TEXT COLLATE "C" NOT NULL,
    person_id  TEXT COLLATE "C" NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    source     TEXT COLLATE "C" NOT NULL,                    -- 'api' | 'import' | 'discovered:<provider>'
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, identity)
);
CREATE INDEX person_identities_person_idx ON person_identities (person_id);

-- One run of a provider's listing. At most one runs per provider at a time (the unique
-- index); its runner renews `held_until` as it pages, and a run whose runner stopped
-- renewing, or whose job's lease was released (its instance died), is abandoned by the
-- next one.
CREATE TABLE discovery_runs (
    id           TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    provider     TEXT COLLATE "C" NOT NULL,
    trigger      TEXT COLLATE "C" NOT NULL,                  -- 'schedule' | 'api' | 'cli'
    status       TEXT COLLATE "C" NOT NULL,                  -- 'running' | 'succeeded' | 'failed' | 'abandoned'
    holder       TEXT COLLATE "C" NOT NULL,                  -- the job's lease owner, or the CLI's own name
    job_id       TEXT COLLATE "C",
    held_until   TIMESTAMPTZ NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    pages        BIGINT NOT NULL DEFAULT 0,
    listed       BIGINT NOT NULL DEFAULT 0,
    new_count    BIGINT NOT NULL DEFAULT 0,
    changed      BIGINT NOT NULL DEFAULT 0,
    gone         BIGINT NOT NULL DEFAULT 0,
    shadow       BIGINT NOT NULL DEFAULT 0,
    offboarded   BIGINT NOT NULL DEFAULT 0,
    error        TEXT COLLATE "C"
);
CREATE UNIQUE INDEX discovery_runs_running_uq ON discovery_runs (provider) WHERE status = 'running';
CREATE INDEX discovery_runs_provider_idx ON discovery_runs (provider, started_at);

-- A credential a provider listed. `digest` hashes what was listed (status, scopes,
-- times, owner) so a later run sees what changed. Attributed to a person through
-- `person_identities` (or an owner email the provider gave), and then to an inventory
-- credential and agent; unattributed ones are shadow credentials.
CREATE TABLE discovered_credentials (
    id                  TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    provider            TEXT COLLATE "C" NOT NULL,
    handle              TEXT COLLATE "C" NOT NULL,           -- the provider's id: key id, accessor, token id
    kind                TEXT COLLATE "C" NOT NULL,
    name                TEXT COLLATE "C" NOT NULL,           -- the client, app, token or user name
    scopes              TEXT COLLATE "C" NOT NULL,           -- JSON array of strings
    provider_status     TEXT COLLATE "C" NOT NULL,           -- as the provider says ('Active', 'Inactive', 'active')
    created_at_provider TIMESTAMPTZ,
    last_used_at        TIMESTAMPTZ,
    expires_at          TIMESTAMPTZ,
    owner_identity      TEXT COLLATE "C",
    owner_email         TEXT COLLATE "C",
    person_id           TEXT COLLATE "C" REFERENCES people(id),
    credential_id       TEXT COLLATE "C" REFERENCES credentials(id),
    agent_id            TEXT COLLATE "C" REFERENCES agents(id),
    digest              TEXT COLLATE "C" NOT NULL,
    first_seen_at       TIMESTAMPTZ NOT NULL,
    last_seen_at        TIMESTAMPTZ NOT NULL,
    last_run_id         TEXT COLLATE "C" NOT NULL,
    gone_at             TIMESTAMPTZ
);
CREATE UNIQUE INDEX discovered_credentials_handle_uq ON discovered_credentials (provider, handle);
CREATE INDEX discovered_credentials_run_idx ON discovered_credentials (provider, last_run_id);
CREATE INDEX discovered_credentials_person_idx ON discovered_credentials (person_id);
CREATE INDEX discovered_credentials_credential_idx ON discovered_credentials (credential_id);
