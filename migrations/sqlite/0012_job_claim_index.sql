-- The job claim takes the oldest due job with one index-ordered scan (status, then
-- run_after, then id as the tie-break), reading one row however many jobs wait.
-- Replaces jobs_claim_idx (status, run_after), which left the tie-break to a sort of
-- every due job. Kept identical to migrations/postgres/0012_job_claim_index.sql.
DROP INDEX jobs_claim_idx;
CREATE INDEX jobs_claim_idx ON jobs (status, run_after, id);
