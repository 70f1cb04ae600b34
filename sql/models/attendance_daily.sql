-- First-in / last-out per person, site and site-local day (see models.yml).
SELECT
    user_id,
    last(full_name ORDER BY created_at, id) AS full_name,
    site_id,
    any_value(site_name) AS site_name,
    time_zone,
    CAST(local_at AS DATE) AS local_date,
    min(created_at) AS first_in_at,
    max(created_at) AS last_out_at,
    min(local_at) AS first_in_local,
    max(local_at) AS last_out_local,
    first(device_serial_number ORDER BY created_at, id) AS first_in_door,
    last(device_serial_number ORDER BY created_at, id) AS last_out_door,
    -- Whole minutes from the first to the last granted event.
    (epoch_ms(max(created_at)) - epoch_ms(min(created_at))) // 60000 AS minutes_between,
    count(*) AS granted_events
FROM {{ ref('access_events_local') }}
WHERE result = 0 AND user_id IS NOT NULL
GROUP BY user_id, site_id, time_zone, local_date
ORDER BY local_date, site_id, user_id
