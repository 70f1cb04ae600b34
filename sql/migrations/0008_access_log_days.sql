-- The access-log day ledger (see alocity_etl/warehouse/access_log_days.py): for each UTC
-- day, when it was read and whether completely, so a sync reads every day that is not
-- settled yet; and how many events arrived after the day had been read complete (late).
CREATE TABLE IF NOT EXISTS meta.access_log_days (
    day DATE PRIMARY KEY,
    first_read_at TIMESTAMPTZ NOT NULL,
    last_read_at TIMESTAMPTZ NOT NULL,
    complete_read_at TIMESTAMPTZ,       -- newest read that began after the day had ended
    late_events BIGINT NOT NULL,        -- events that arrived after a complete read
    last_late_at TIMESTAMPTZ,           -- the read that found the newest late events
    last_sync_id BIGINT
);

-- Where the account's history starts: the first event found from `lower_bound`
-- (ALOCITY_ACCESS_LOG_START, or the earliest time the API is asked for).
CREATE TABLE IF NOT EXISTS meta.access_log_origin (
    lower_bound TIMESTAMPTZ NOT NULL,
    first_event_at TIMESTAMPTZ,         -- NULL: no event yet
    checked_at TIMESTAMPTZ NOT NULL
);

-- Days read by earlier releases (one load per UTC day; as_of is when the sync began).
INSERT INTO meta.access_log_days
SELECT
    CAST(l.window_start AS DATE) AS day,
    min(l.as_of),
    max(l.as_of),
    max(l.as_of) FILTER (WHERE l.as_of >= l.window_end),
    0,
    NULL,
    max(l.sync_id)
FROM meta.resource_loads l
WHERE l.resource = 'access_logs' AND l.window_end - l.window_start = INTERVAL 1 DAY
    AND l.window_start = CAST(CAST(l.window_start AS DATE) AS TIMESTAMPTZ)  -- a UTC day
GROUP BY l.window_start
ON CONFLICT DO NOTHING;
