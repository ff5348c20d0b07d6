-- Foundation schema: directory, inventory, API tokens, audit log.
-- Kept column-for-column identical to migrations/postgres/0001_foundation.sql
-- (tests/api/schema.rs proves it); only types differ where the engines do.

CREATE TABLE people (
    id              TEXT PRIMARY KEY NOT NULL,
    source          TEXT NOT NULL,               -- 'api' | 'scim'
    user_name       TEXT,
    user_name_key   TEXT,                        -- userName case-folded in Rust (same on both engines)
    external_id     TEXT,
    display_name    TEXT,
    given_name      TEXT,
    family_name     TEXT,
    employee_number TEXT,
    manager_id      TEXT REFERENCES people(id),
    active          BOOLEAN NOT NULL DEFAULT TRUE,
    deleted_at      TEXT,
    version         BIGINT NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
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
    person_id  TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    value      TEXT NOT NULL,
    value_key  TEXT NOT NULL,                   -- case-folded value
    type       TEXT,
    is_primary BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (person_id, value)
);
CREATE UNIQUE INDEX person_emails_value_uq ON person_emails (value_key);

CREATE TABLE person_hr_ids (
    person_id   TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    source      TEXT NOT NULL,
    employee_id TEXT NOT NULL,
    PRIMARY KEY (source, employee_id)
);
CREATE INDEX person_hr_ids_person_idx ON person_hr_ids (person_id);

CREATE TABLE agents (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL,                   -- case-folded name
    description TEXT,
    platform    TEXT,
    status      TEXT NOT NULL,                   -- 'active' | 'disabled' | 'decommissioned'
    owner_id    TEXT REFERENCES people(id),
    owner_email TEXT,                            -- as registered; kept when unresolved
    owner_email_key TEXT,                        -- case-folded owner_email
    deleted_at  TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX agents_name_uq ON agents (name_key) WHERE deleted_at IS NULL;
CREATE INDEX agents_owner_idx ON agents (owner_id);
CREATE INDEX agents_owner_email_idx ON agents (owner_email_key);

CREATE TABLE credentials (
    id                TEXT PRIMARY KEY NOT NULL,
    provider          TEXT NOT NULL,
    kind              TEXT NOT NULL,
    external_id       TEXT,
    scopes            TEXT NOT NULL,             -- JSON array of strings
    issued_at         TEXT,
    rotated_at        TEXT,
    expires_at        TEXT,
    secret_ciphertext BLOB,                      -- AES-256-GCM nonce || ciphertext
    fingerprint       TEXT,                      -- HMAC-SHA256 of the secret, hex
    status            TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE UNIQUE INDEX credentials_fingerprint_uq ON credentials (fingerprint);
CREATE UNIQUE INDEX credentials_external_uq ON credentials (provider, external_id);

CREATE TABLE agent_credentials (
    agent_id      TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
    linked_at     TEXT NOT NULL,
    PRIMARY KEY (agent_id, credential_id)
);
CREATE INDEX agent_credentials_credential_idx ON agent_credentials (credential_id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    scope        TEXT NOT NULL,                  -- 'admin' | 'scim' | 'read'
    token_hash   TEXT NOT NULL,                  -- SHA-256 of the token, hex
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE UNIQUE INDEX api_tokens_hash_uq ON api_tokens (token_hash);
CREATE UNIQUE INDEX api_tokens_name_uq ON api_tokens (name) WHERE revoked_at IS NULL;

-- Facts about this installation, e.g. the check value of the master key.
CREATE TABLE instance_meta (
    name       TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Append-only and hash-chained: hash = SHA-256(prev_hash || canonical content).
CREATE TABLE audit_log (
    seq          BIGINT PRIMARY KEY NOT NULL,
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id   TEXT,
    details      TEXT NOT NULL,                  -- JSON object, never a secret
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_log_subject_idx ON audit_log (subject_kind, subject_id);
