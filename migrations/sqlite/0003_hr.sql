-- HR offboarding webhooks: the inbox of verified events, the terminations they carry
-- (applied, scheduled, cancelled or unmatched), and counters of refused requests.
-- Kept column-for-column identical to migrations/postgres/0003_hr.sql.

CREATE TABLE hr_inbox (
    id          TEXT PRIMARY KEY NOT NULL,
    source      TEXT NOT NULL,
    -- The provider's event id, else SHA-256 of (source, raw body): redeliveries collide.
    dedupe_key  TEXT NOT NULL,
    event_id    TEXT,
    status      TEXT NOT NULL,                   -- 'applied' | 'ignored' | 'rejected'
    reason      TEXT,
    body        BLOB NOT NULL,
    received_at TEXT NOT NULL
);
CREATE UNIQUE INDEX hr_inbox_dedupe_uq ON hr_inbox (source, dedupe_key);
CREATE INDEX hr_inbox_received_idx ON hr_inbox (received_at);

CREATE TABLE hr_terminations (
    id           TEXT PRIMARY KEY NOT NULL,
    inbox_id     TEXT NOT NULL REFERENCES hr_inbox(id),
    source       TEXT NOT NULL,
    kind         TEXT NOT NULL,                  -- 'termination' | 'cancellation' | 'rehire'
    employee_id  TEXT,
    email        TEXT,
    effective_at TEXT NOT NULL,
    person_id    TEXT REFERENCES people(id),
    status       TEXT NOT NULL,                  -- 'applied' | 'scheduled' | 'cancelled' | 'unmatched' | 'noted'
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX hr_terminations_due_idx ON hr_terminations (status, effective_at);
CREATE INDEX hr_terminations_employee_idx ON hr_terminations (source, employee_id);
CREATE INDEX hr_terminations_person_idx ON hr_terminations (person_id);

CREATE TABLE hr_refusals (
    source  TEXT NOT NULL,
    reason  TEXT NOT NULL,
    count   BIGINT NOT NULL,
    last_at TEXT NOT NULL,
    PRIMARY KEY (source, reason)
);
