-- Foundation schema: directory, inventory, API tokens, audit log.
-- Text is COLLATE "C" here: bytewise comparison and ordering, as SQLite does, so that
-- sorting, range filters and keyset pagination behave the same on both engines
-- whatever the database's locale.
-- Kept column-for-column identical to migrations/sqlite/0001_foundation.sql
-- (tests/api/schema.rs proves it); only types differ where the engines do.

CREATE TABLE people (
    id              TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    source          TEXT COLLATE "C" NOT NULL,               -- 'api' | 'scim'
    user_name       TEXT COLLATE "C",
    user_name_key   TEXT COLLATE "C",                        -- userName case-folded in Rust (same on both engines)
    external_id     TEXT COLLATE "C",
    display_name    TEXT COLLATE "C",
    given_name      TEXT COLLATE "C",
    family_name     TEXT COLLATE "C",
    employee_number TEXT COLLATE "C",
    manager_id      TEXT COLLATE "C" REFERENCES people(id),
    active          BOOLEAN NOT NULL DEFAULT TRUE,
    deleted_at      TIMESTAMPTZ,
    version         BIGINT NOT NULL DEFAULT 1,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
-- userName is case-insensitive (RFC 7643 caseExact=false); externalId is case-exact.
-- Case-insensitive identifiers are compared through *_key columns folded by the
-- application with full Unicode rules: SQLite's lower() folds ASCII only and
-- PostgreSQL's follows the locale, so neither can be trusted to agree with the other.
-- Deleted people keep their history but release their identifiers.
CREATE UNIQUE INDEX people_user_name_uq ON people (user_name_key) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX people_external_id_uq ON people (external_id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX people_employee_number_uq ON people (employee_number) WHERE deleted_at IS NULL;
CREATE INDEX people_updated_at_idx ON people (updated_at);

CREATE TABLE person_emails (
    person_id  TEXT COLLATE "C" NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    value      TEXT COLLATE "C" NOT NULL,
    value_key  TEXT COLLATE "C" NOT NULL,                   -- case-folded value
    type       TEXT COLLATE "C",
    is_primary BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (person_id, value)
);
CREATE UNIQUE INDEX person_emails_value_uq ON person_emails (value_key);

CREATE TABLE person_hr_ids (
    person_id   TEXT COLLATE "C" NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    source      TEXT COLLATE "C" NOT NULL,
    employee_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (source, employee_id)
);
CREATE INDEX person_hr_ids_person_idx ON person_hr_ids (person_id);

CREATE TABLE agents (
    id          TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    name_key    TEXT COLLATE "C" NOT NULL,                   -- case-folded name
    description TEXT COLLATE "C",
    platform    TEXT COLLATE "C",
    status      TEXT COLLATE "C" NOT NULL,                   -- 'active' | 'disabled' | 'decommissioned'
    owner_id    TEXT COLLATE "C" REFERENCES people(id),
    owner_email TEXT COLLATE "C",                            -- as registered; kept when unresolved
    owner_email_key TEXT COLLATE "C",                        -- case-folded owner_email
    deleted_at  TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX agents_name_uq ON agents (name_key) WHERE deleted_at IS NULL;
CREATE INDEX agents_owner_idx ON agents (owner_id);
CREATE INDEX agents_owner_email_idx ON agents (owner_email_key);

CREATE TABLE credentials (
    id                TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    provider          TEXT COLLATE "C" NOT NULL,
    kind              TEXT COLLATE "C" NOT NULL,
    external_id       TEXT COLLATE "C",
    scopes            TEXT COLLATE "C" NOT NULL,             -- JSON array of strings
    issued_at         TIMESTAMPTZ,
    rotated_at        TIMESTAMPTZ,
    expires_at        TIMESTAMPTZ,
    secret_ciphertext BYTEA,                      -- AES-256-GCM nonce || ciphertext
    fingerprint       TEXT COLLATE "C",                      -- HMAC-SHA256 of the secret, hex
    status            TEXT COLLATE "C" NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX credentials_fingerprint_uq ON credentials (fingerprint);
CREATE UNIQUE INDEX credentials_external_uq ON credentials (provider, external_id);

CREATE TABLE agent_credentials (
    agent_id      TEXT COLLATE "C" NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    credential_id TEXT COLLATE "C" NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
    linked_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (agent_id, credential_id)
);
CREATE INDEX agent_credentials_credential_idx ON agent_credentials (credential_id);

CREATE TABLE api_tokens (
    id           TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    name         TEXT COLLATE "C" NOT NULL,
    scope        TEXT COLLATE "C" NOT NULL,                  -- 'admin' | 'scim' | 'read'
    token_hash   TEXT COLLATE "C" NOT NULL,                  -- SHA-256 of the token, hex
    created_by   TEXT COLLATE "C" NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE UNIQUE INDEX api_tokens_hash_uq ON api_tokens (token_hash);
CREATE UNIQUE INDEX api_tokens_name_uq ON api_tokens (name) WHERE revoked_at IS NULL;

-- Facts about this installation, e.g. the check value of the master key.
CREATE TABLE instance_meta (
    name       TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    value      TEXT COLLATE "C" NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- Append-only and hash-chained: hash = SHA-256(prev_hash || canonical content).
CREATE TABLE audit_log (
    seq          BIGINT PRIMARY KEY NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    actor        TEXT COLLATE "C" NOT NULL,
    action       TEXT COLLATE "C" NOT NULL,
    subject_kind TEXT COLLATE "C" NOT NULL,
    subject_id   TEXT COLLATE "C",
    details      TEXT COLLATE "C" NOT NULL,                  -- JSON object, never a secret
    prev_hash    TEXT COLLATE "C" NOT NULL,
    hash         TEXT COLLATE "C" NOT NULL
);
CREATE INDEX audit_log_subject_idx ON audit_log (subject_kind, subject_id);
