-- An HR termination holds a person inactive against identity providers until the
-- same HR system cancels it or rehires them: the `hr:<source>` holding, or NULL.
-- Kept column-for-column identical to migrations/postgres/0007_hr_hold.sql.
ALTER TABLE people ADD COLUMN hr_hold TEXT;
