-- Every current door with its site, hardware, settings and how busy it was lately (see models.yml).
WITH recent AS (
    SELECT
        device_serial_number,
        count(*) AS attempts_7d,
        count(*) FILTER (WHERE result NOT IN (0, 7, 8, 9)) AS denied_7d,
        max(created_at) AS last_event_at
    FROM {{ source('alocity', 'access_logs') }}
    WHERE created_at > {{ as_of() }} - INTERVAL 7 DAY AND created_at <= {{ as_of() }}
    GROUP BY device_serial_number
)
SELECT
    d.serial_number AS device_serial_number,
    d.name AS door_name,
    d.site_id,
    s.name AS site_name,
    s.time_zone,
    d.model,
    d.firmware_version,
    d.is_online,
    d.last_seen_at,
    das.door_open_timeout,
    das.lock_release_time,
    coalesce(r.attempts_7d, 0) AS attempts_7d,
    coalesce(r.denied_7d, 0) AS denied_7d,
    r.last_event_at
FROM {{ source('alocity', 'devices') }} AS d
LEFT JOIN {{ source('alocity', 'sites') }} AS s ON s.id = d.site_id
LEFT JOIN {{ source('alocity', 'device_access_settings') }} AS das ON das.serial_number = d.serial_number
LEFT JOIN recent AS r ON r.device_serial_number = d.serial_number
ORDER BY d.site_id, d.serial_number
