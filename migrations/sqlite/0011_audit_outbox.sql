-- Audit entries waiting to join the hash chain (used on PostgreSQL, where writers run
-- side by side; see migrations/postgres/0011_audit_outbox.sql). SQLite's one writer
-- chains its entries itself, so this table stays empty; it exists so that both
-- engines have the same schema.
CREATE TABLE audit_outbox (
    id           INTEGER PRIMARY KEY,
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id   TEXT,
    details      TEXT NOT NULL                   -- JSON object, never a secret
);
