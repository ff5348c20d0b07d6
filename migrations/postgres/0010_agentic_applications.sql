-- SCIM AgenticApplications (draft-abbey-scim-agent-extension §5.2): applications that
-- host or give access to agents, pushed by identity providers. Kept column-for-column
-- identical to migrations/sqlite/0010_agentic_applications.sql.
--
-- Deleted rows are removed, as SCIM groups are: nothing else refers to an application
-- (cases, findings and credentials refer to agents), the audit log keeps what was
-- deleted, and a hard delete frees the name for the identity provider at once.

-- The SCIM document as last written (without `agents`, which live in
-- agentic_application_agents); name, externalId and active are projections of it.
CREATE TABLE agentic_applications (
    id            TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    name          TEXT COLLATE "C" NOT NULL,
    name_key      TEXT COLLATE "C" NOT NULL,                 -- case-folded name
    external_id   TEXT COLLATE "C",
    scim_resource TEXT COLLATE "C" NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    version       BIGINT NOT NULL DEFAULT 1,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
-- `name` is server-unique (uniqueness: server).
CREATE UNIQUE INDEX agentic_applications_name_uq ON agentic_applications (name_key);
CREATE INDEX agentic_applications_external_id_idx ON agentic_applications (external_id);
CREATE INDEX agentic_applications_updated_at_idx ON agentic_applications (updated_at);

-- `applicationUrls`, projected from the document so that `applicationUrls.value eq`
-- is an indexed filter (as person_emails are for Users).
CREATE TABLE agentic_application_urls (
    application_id TEXT COLLATE "C" NOT NULL REFERENCES agentic_applications(id) ON DELETE CASCADE,
    position       BIGINT NOT NULL,
    value          TEXT COLLATE "C" NOT NULL,
    value_key      TEXT COLLATE "C" NOT NULL,                -- case-folded value
    type           TEXT COLLATE "C",                         -- 'ssoEndpoint' | 'loginPage' | 'api' | 'homepage' | …
    is_primary     BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (application_id, position)
);
CREATE INDEX agentic_application_urls_value_idx ON agentic_application_urls (value_key);

-- `agents`: the SCIM-pushed agents an application hosts, and how.
CREATE TABLE agentic_application_agents (
    application_id TEXT COLLATE "C" NOT NULL REFERENCES agentic_applications(id) ON DELETE CASCADE,
    agent_id       TEXT COLLATE "C" NOT NULL REFERENCES agents(id),
    position       BIGINT NOT NULL,
    type           TEXT COLLATE "C",                         -- 'owned' | 'authorized' | 'guest' | …
    PRIMARY KEY (application_id, agent_id)
);
CREATE INDEX agentic_application_agents_agent_idx ON agentic_application_agents (agent_id);
