-- SCIM 2.0: the full resource documents, groups, and lifecycle events.
-- Kept column-for-column identical to migrations/postgres/0002_scim.sql.

-- The SCIM representation of a person, as last written by the identity provider
-- (attribute names canonical, read-only and write-only attributes removed). The
-- columns of `people` are projections of it that can be indexed and filtered.
ALTER TABLE people ADD COLUMN scim_resource TEXT;
ALTER TABLE people ADD COLUMN display_name_key TEXT;
ALTER TABLE people ADD COLUMN given_name_key TEXT;
ALTER TABLE people ADD COLUMN family_name_key TEXT;
CREATE INDEX people_display_name_key_idx ON people (display_name_key);
CREATE INDEX people_created_at_idx ON people (created_at);
CREATE INDEX person_emails_type_idx ON person_emails (person_id, type);

CREATE TABLE scim_groups (
    id               TEXT PRIMARY KEY NOT NULL,
    display_name     TEXT NOT NULL,
    display_name_key TEXT NOT NULL,
    external_id      TEXT,
    scim_resource    TEXT NOT NULL,
    version          BIGINT NOT NULL DEFAULT 1,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE UNIQUE INDEX scim_groups_display_name_uq ON scim_groups (display_name_key);
CREATE INDEX scim_groups_external_id_idx ON scim_groups (external_id);
CREATE INDEX scim_groups_updated_at_idx ON scim_groups (updated_at);

CREATE TABLE scim_group_members (
    group_id  TEXT NOT NULL REFERENCES scim_groups(id) ON DELETE CASCADE,
    person_id TEXT NOT NULL REFERENCES people(id),
    PRIMARY KEY (group_id, person_id)
);
CREATE INDEX scim_group_members_person_idx ON scim_group_members (person_id);

-- A person became inactive or active again. Written in the transaction that changed
-- the person, exactly once per transition; the offboarding engine consumes them.
CREATE TABLE lifecycle_events (
    id           TEXT PRIMARY KEY NOT NULL,
    person_id    TEXT NOT NULL REFERENCES people(id),
    kind         TEXT NOT NULL,                  -- 'person-deactivated' | 'person-reactivated'
    source       TEXT NOT NULL,                  -- 'scim' | 'api' | 'hr:<source>' | 'cli'
    actor        TEXT NOT NULL,
    reason       TEXT,
    occurred_at  TEXT NOT NULL,
    processed_at TEXT
);
CREATE INDEX lifecycle_events_person_idx ON lifecycle_events (person_id, occurred_at);
CREATE INDEX lifecycle_events_pending_idx ON lifecycle_events (processed_at);
