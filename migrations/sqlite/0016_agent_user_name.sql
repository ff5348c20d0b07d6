-- An agent's two handles: draft-abbey's `name` (name_key) and draft-wzdk's
-- `agentUserName`, which a client may set to another value. Each is unique among
-- live agents; an agent given only one has the same value in both.
-- Kept column-for-column identical to migrations/postgres/0016_agent_user_name.sql.
ALTER TABLE agents ADD COLUMN user_name_key TEXT;
UPDATE agents SET user_name_key = name_key;
CREATE UNIQUE INDEX agents_user_name_uq ON agents (user_name_key) WHERE deleted_at IS NULL;
