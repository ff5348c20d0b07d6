-- Reports: one row per scheduled period (or per manual send), generated once and
-- delivered by a job. Kept column-for-column identical to
-- migrations/postgres/0006_reports.sql.

CREATE TABLE reports (
    id           TEXT PRIMARY KEY NOT NULL,
    origin       TEXT NOT NULL,         -- 'schedule' | 'manual'
    -- The scheduled instant (RFC 3339, UTC) for scheduled reports: unique, so each
    -- period is reported once whatever the instances and restarts. NULL for manual.
    period_key   TEXT,
    period_from  TEXT NOT NULL,
    period_to    TEXT NOT NULL,
    subject      TEXT NOT NULL,
    text_body    TEXT NOT NULL,
    html_body    TEXT NOT NULL,
    summary      TEXT NOT NULL,         -- JSON: counts by section and kind
    recipients   TEXT NOT NULL,         -- JSON array
    status       TEXT NOT NULL,         -- 'pending' | 'delivered'
    attempts     BIGINT NOT NULL,
    last_error   TEXT,
    created_at   TEXT NOT NULL,
    delivered_at TEXT
);
CREATE UNIQUE INDEX reports_period_uq ON reports (period_key);
CREATE INDEX reports_created_idx ON reports (created_at);
