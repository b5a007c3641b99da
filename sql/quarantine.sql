-- model: quarantine
-- meaning: Every rejected input row of the files live in the lake, with its source, file, line, raw text, reason code and message.
-- grain: rejected row
-- key: file, line, batch_id
-- depends_on: ingest_log
-- publish: true
-- check: not_null reason_code, file, line
SELECT q.source, q.file, q.line, q.raw, q.reason_code, q.message, q.batch_id, q.quarantined_at
FROM lake_quarantine q
JOIN ingest_log l ON l.batch_id = q.batch_id AND l.file = q.file AND l.live
