-- model: quarantine
-- meaning: Every rejected input row of the files live in the lake, and of the files whose latest
--   ingest was refused (file_status failed: over max_quarantine_share or an unclosed quote),
--   with its source, file, line, raw text, reason code and message.
-- grain: rejected row
-- key: file, line, batch_id
-- depends_on: ingest_log
-- publish: true
-- check: not_null reason_code, file, line
SELECT q.source, q.file, q.line, q.raw, q.reason_code, q.message, q.batch_id, q.quarantined_at,
       l.status AS file_status
FROM lake_quarantine q
JOIN ingest_log l ON l.batch_id = q.batch_id AND l.file = q.file
WHERE l.live
   OR (l.status = 'failed' AND NOT EXISTS (
         SELECT 1 FROM ingest_log n WHERE n.source = l.source AND n.file = l.file AND n.batch_id > l.batch_id))
