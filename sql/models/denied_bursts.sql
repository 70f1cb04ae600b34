-- Doors with repeated denied attempts in a short window (see models.yml).
WITH denied AS (
    SELECT
        *,
        lag(created_at) OVER (PARTITION BY device_serial_number ORDER BY created_at, id) AS previous_at
    FROM {{ ref('access_events_local') }}
    WHERE result NOT IN (0, 7, 8, 9)
),
numbered AS (
    SELECT
        *,
        -- A new burst starts when the previous denied attempt at this door is too long ago.
        sum(
            CASE
                WHEN previous_at IS NULL
                    OR created_at - previous_at > to_minutes({{ var('denied_burst_gap_minutes') }})
                THEN 1 ELSE 0
            END
        ) OVER (PARTITION BY device_serial_number ORDER BY created_at, id ROWS UNBOUNDED PRECEDING) AS burst
    FROM denied
)
SELECT
    device_serial_number,
    first(door_name ORDER BY created_at, id) AS door_name,
    first(site_id ORDER BY created_at, id) AS site_id,
    first(site_name ORDER BY created_at, id) AS site_name,
    first(time_zone ORDER BY created_at, id) AS time_zone,
    min(created_at) AS started_at,
    max(created_at) AS ended_at,
    min(local_at) AS started_local,
    count(*) AS attempts,
    count(*) FILTER (WHERE user_id IS NULL) AS unrecognised,
    count(DISTINCT user_id) AS recognised_users,
    string_agg(DISTINCT result_label, ', ' ORDER BY result_label) AS reasons
FROM numbered
GROUP BY device_serial_number, burst
HAVING count(*) >= {{ var('denied_burst_min_attempts') }}
ORDER BY started_at, device_serial_number
