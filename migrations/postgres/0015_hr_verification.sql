-- Gusto's verification tokens. Gusto's first POST to a new subscription carries the
-- token that signs everything after it, so it cannot be signed itself: it is accepted
-- only while an admin has armed the source, and every token received is kept with its
-- time and sender, none overwritten; an admin claims the one Gusto's page names.
-- Kept column-for-column identical to migrations/sqlite/0015_hr_verification.sql.

CREATE TABLE hr_verification_windows (
    source     TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    armed_by   TEXT COLLATE "C" NOT NULL,
    armed_at   TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE hr_verification_tokens (
    id           TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    source       TEXT COLLATE "C" NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    sender       TEXT COLLATE "C" NOT NULL,               -- the client address it came from
    sealed_token BYTEA,                            -- AES-256-GCM, cleared once claimed
    claimed_at   TIMESTAMPTZ,
    claimed_by   TEXT COLLATE "C"
);
CREATE INDEX hr_verification_tokens_source_idx ON hr_verification_tokens (source, received_at);

-- Pending tokens of the earlier scheme (one per source in instance_meta, replaced by
-- any unsigned POST) cannot be trusted: the admin arms the source and Gusto sends again.
DELETE FROM instance_meta WHERE name LIKE 'hr_verification_token:%';
