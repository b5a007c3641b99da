-- model: job_runs
-- meaning: Every run of a scheduled job, a backfill or a CLI command, from the run history
--   (runs/*.json): its logical date (the start of the interval it covers, the --as-of of the
--   pipeline), attempt, what triggered it, status, error, timings in UTC, rows read, loaded and
--   quarantined, the version it published, and per-model timings as JSON. The run that built
--   this mart shows as running.
-- grain: run attempt
-- key: run_id
-- publish: true
-- check: not_null run_id, job, status, started_at
-- check: unique run_id
-- check: accepted_values status: running | success | failed | canceled | abandoned | skipped
SELECT
  id AS run_id,
  job,
  logical_date,
  attempt,
  coalesce("trigger", 'cli') AS "trigger",
  status,
  error,
  scheduled_at,
  started_at,
  finished_at,
  date_diff('millisecond', started_at, finished_at) / 1000.0 AS duration_seconds,
  rows_in,
  rows_out,
  rows_quarantined,
  published_version,
  len(coalesce(models, [])) AS models_built,
  to_json(coalesce(models, []))::VARCHAR AS model_timings
FROM pipeline_runs
ORDER BY started_at, run_id
