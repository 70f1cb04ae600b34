-- Door activity per site-local day and hour, daylight-saving days included (see models.yml).
SELECT
    site_id,
    any_value(site_name) AS site_name,
    time_zone,
    CAST(local_at AS DATE) AS local_date,
    hour(local_at) AS local_hour,
    isodow(CAST(local_at AS DATE)) AS local_weekday,
    -- 23 on the spring-forward day, 25 on the fall-back day, 24 otherwise.
    date_diff(
        'minute',
        timezone(time_zone, CAST(CAST(local_at AS DATE) AS TIMESTAMP)),
        timezone(time_zone, CAST(CAST(local_at AS DATE) + INTERVAL 1 DAY AS TIMESTAMP))
    ) // 60 AS hours_in_local_day,
    device_serial_number,
    any_value(door_name) AS door_name,
    count(*) AS attempts,
    count(*) FILTER (WHERE result = 0) AS granted,
    count(*) FILTER (WHERE result NOT IN (0, 7, 8, 9)) AS denied,
    count(*) FILTER (WHERE result IN (7, 8, 9)) AS other_events,
    count(DISTINCT user_id) FILTER (WHERE result = 0) AS distinct_users_granted
FROM {{ ref('access_events_local') }}
GROUP BY site_id, time_zone, local_date, local_hour, device_serial_number
ORDER BY site_id, local_date, local_hour, device_serial_number
