-- Findings of the weekly orphaned-agent report.
-- Kept column-for-column identical to migrations/postgres/0005_findings.sql.

-- The scopes an agent declares it uses (JSON array of strings); NULL means "not
-- declared", which is different from "uses none" ('[]').
ALTER TABLE agents ADD COLUMN used_scopes TEXT;

-- Deactivations in a period (deactivated_without_agents) are read by kind and time.
CREATE INDEX lifecycle_events_kind_occurred_idx ON lifecycle_events (kind, occurred_at);
-- Open or recently settled revocations are read by status.
CREATE INDEX offboarding_items_status_idx ON offboarding_items (status, updated_at);
