-- Retention counts from when what a row describes happened (its event time), not from when the
-- row was written (docs/time.md, "Retention"): an alert raised today about a robbery imported
-- from two months back must not keep its descriptions and plate pseudonyms another full
-- period. The event table has had its event time as a column from the start; the alert's was
-- only in its payload, which is exactly what retention clears.
ALTER TABLE alert ADD COLUMN occurred_at timestamptz;

-- Alerts stored before this: their event time from their payload while it is still there.
-- A purged alert has none left; it is dated by created_at, and purged already anyway.
UPDATE alert SET occurred_at = (payload->>'occurred_at')::timestamptz
WHERE payload IS NOT NULL AND payload->>'occurred_at' IS NOT NULL;

-- What the retention pass looks for: alerts not yet stripped of personal data, by event time
-- (a stripped alert keeps what a branch may see of it, so its payload is not NULL).
CREATE INDEX alert_unpurged_event_time_idx ON alert ((coalesce(occurred_at, created_at)))
    WHERE payload_purged_at IS NULL;
