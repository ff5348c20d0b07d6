-- Reports: one row per scheduled period (or per manual send), generated once and
-- delivered by a job. Kept column-for-column identical to
-- migrations/sqlite/0006_reports.sql.

CREATE TABLE reports (
    id           TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    origin       TEXT COLLATE "C" NOT NULL,         -- 'schedule' | 'manual'
    -- The scheduled instant (RFC 3339, UTC) for scheduled reports: unique, so each
    -- period is reported once whatever the instances and restarts. NULL for manual.
    period_key   TEXT COLLATE "C",
    period_from  TIMESTAMPTZ NOT NULL,
    period_to    TIMESTAMPTZ NOT NULL,
    subject      TEXT COLLATE "C" NOT NULL,
    text_body    TEXT COLLATE "C" NOT NULL,
    html_body    TEXT COLLATE "C" NOT NULL,
    summary      TEXT COLLATE "C" NOT NULL,         -- JSON: counts by section and kind
    recipients   TEXT COLLATE "C" NOT NULL,         -- JSON array
    status       TEXT COLLATE "C" NOT NULL,         -- 'pending' | 'delivered'
    attempts     BIGINT NOT NULL,
    last_error   TEXT COLLATE "C",
    created_at   TIMESTAMPTZ NOT NULL,
    delivered_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX reports_period_uq ON reports (period_key);
CREATE INDEX reports_created_idx ON reports (created_at);
