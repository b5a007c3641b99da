-- model: ingest_log
-- meaning: What every input file became in each ingest batch: rows read, loaded, quarantined,
--   skipped as duplicates and rejected (valid rows of a file that was refused), so read = loaded
--   + quarantined + duplicate + rejected; the amount loaded, its checksum, and whether its rows
--   are live in the lake (false once a changed version of the file replaced them).
-- grain: input file x batch
-- key: batch_id, file
-- publish: true
-- check: unique batch_id, file
-- check: sql SELECT * FROM ingest_log WHERE rows_read <> rows_loaded + rows_quarantined +
--   rows_duplicate + rows_rejected
SELECT batch_id, source, file, checksum, size_bytes, status, rows_read, rows_loaded,
       rows_quarantined, rows_duplicate, amount_loaded, live, error, started_at, finished_at,
       rows_rejected
FROM lake_batches
ORDER BY batch_id, file
