-- HR offboarding webhooks: the inbox of verified events, the terminations they carry
-- (applied, scheduled, cancelled or unmatched), and counters of refused requests.
-- Kept column-for-column identical to migrations/sqlite/0003_hr.sql.

CREATE TABLE hr_inbox (
    id          TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    source      TEXT COLLATE "C" NOT NULL,
    -- The provider's event id, else SHA-256 of (source, raw body): redeliveries collide.
    dedupe_key  TEXT COLLATE "C" NOT NULL,
    event_id    TEXT COLLATE "C",
    status      TEXT COLLATE "C" NOT NULL,                   -- 'applied' | 'ignored' | 'rejected'
    reason      TEXT COLLATE "C",
    body        BYTEA NOT NULL,
    received_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX hr_inbox_dedupe_uq ON hr_inbox (source, dedupe_key);
CREATE INDEX hr_inbox_received_idx ON hr_inbox (received_at);

CREATE TABLE hr_terminations (
    id           TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    inbox_id     TEXT COLLATE "C" NOT NULL REFERENCES hr_inbox(id),
    source       TEXT COLLATE "C" NOT NULL,
    kind         TEXT COLLATE "C" NOT NULL,                  -- 'termination' | 'cancellation' | 'rehire'
    employee_id  TEXT COLLATE "C",
    email        TEXT COLLATE "C",
    effective_at TIMESTAMPTZ NOT NULL,
    person_id    TEXT COLLATE "C" REFERENCES people(id),
    status       TEXT COLLATE "C" NOT NULL,                  -- 'applied' | 'scheduled' | 'cancelled' | 'unmatched' | 'noted'
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX hr_terminations_due_idx ON hr_terminations (status, effective_at);
CREATE INDEX hr_terminations_employee_idx ON hr_terminations (source, employee_id);
CREATE INDEX hr_terminations_person_idx ON hr_terminations (person_id);

CREATE TABLE hr_refusals (
    source  TEXT COLLATE "C" NOT NULL,
    reason  TEXT COLLATE "C" NOT NULL,
    count   BIGINT NOT NULL,
    last_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, reason)
);
