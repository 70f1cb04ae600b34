-- Granted access outside every cron window of the schedules the person is linked to
-- (see models.yml).
WITH granted AS (
    SELECT * FROM {{ ref('access_events_local') }} WHERE result = 0 AND user_id IS NOT NULL
),
linked AS (
    SELECT user_id, count(*) AS linked_schedules
    FROM {{ source('alocity', 'schedule_users') }}
    GROUP BY user_id
),
candidate AS (
    -- Each event against each window of the person's schedules, once per local day on which
    -- an occurrence of that window could have opened and still be open.
    SELECT
        g.id,
        g.created_at,
        w.time_zone,
        w.weekdays,
        w.start_second_of_day,
        w.duration_minutes,
        w.valid_from,
        w.valid_until,
        unnest(range(0, w.days_back_max + 1)) AS days_back
    FROM granted AS g
    JOIN {{ source('alocity', 'schedule_users') }} AS su ON su.user_id = g.user_id
    JOIN {{ ref('schedule_windows') }} AS w ON w.schedule_id = su.schedule_id AND w.is_parsed
),
occurrence AS (
    SELECT
        *,
        CAST(timezone(time_zone, created_at) AS DATE) - CAST(days_back AS INTEGER) AS opening_day
    FROM candidate
),
inside AS (
    SELECT DISTINCT id
    FROM (
        SELECT
            *,
            timezone(time_zone, CAST(opening_day AS TIMESTAMP) + to_seconds(start_second_of_day)) AS opens_at
        FROM occurrence
    )
    WHERE list_contains(weekdays, isodow(opening_day))
      AND created_at >= opens_at
      AND created_at < opens_at + to_minutes(duration_minutes)
      AND (valid_from IS NULL OR created_at >= valid_from)
      AND (valid_until IS NULL OR created_at < valid_until)
)
SELECT
    g.id AS event_id,
    g.created_at,
    g.local_at,
    CAST(g.local_at AS DATE) AS local_date,
    g.user_id,
    g.full_name,
    g.site_id,
    g.site_name,
    g.time_zone,
    g.device_serial_number,
    g.door_name,
    g.credential_type,
    l.linked_schedules
FROM granted AS g
JOIN linked AS l ON l.user_id = g.user_id
ANTI JOIN inside AS i ON i.id = g.id
ORDER BY g.created_at, g.id
