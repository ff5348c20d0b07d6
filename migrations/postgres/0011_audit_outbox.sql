-- Audit entries waiting to join the hash chain. Writers on PostgreSQL run side by
-- side, so they no longer extend the chain themselves (that needs the chain's last
-- hash, one writer at a time): each inserts its entries here, in its own
-- transaction, and a sealer (one at a time, any instance) moves them into audit_log
-- in id order, chaining them. Kept column-for-column identical to
-- migrations/sqlite/0011_audit_outbox.sql (SQLite chains in the writer and leaves
-- this table empty).
CREATE TABLE audit_outbox (
    id           BIGSERIAL PRIMARY KEY,
    at           TIMESTAMPTZ NOT NULL,
    actor        TEXT COLLATE "C" NOT NULL,
    action       TEXT COLLATE "C" NOT NULL,
    subject_kind TEXT COLLATE "C" NOT NULL,
    subject_id   TEXT COLLATE "C",
    details      TEXT COLLATE "C" NOT NULL                   -- JSON object, never a secret
);
