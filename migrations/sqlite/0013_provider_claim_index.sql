-- The dispatcher claims each provider's jobs apart (up to that provider's free
-- slots): provider = $1 AND status = 'ready' AND run_after <= $2 ORDER BY
-- run_after, id LIMIT n. With id in the index that is one index-ordered scan reading
-- only the rows it takes; without it PostgreSQL, misled by statistics older than a
-- burst of jobs, read and sorted every due job of the provider for each claim (8 ms
-- at 7,000 waiting, made serial by the one dispatcher). Kept identical to
-- migrations/postgres/0013_provider_claim_index.sql.
DROP INDEX jobs_provider_idx;
CREATE INDEX jobs_provider_idx ON jobs (provider, status, run_after, id);
