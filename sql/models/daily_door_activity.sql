-- Door activity per UTC day, site and door (see models.yml).
SELECT
    CAST(l.created_at AS DATE) AS day,
    l.site_id,
    s.name AS site_name,
    l.device_serial_number,
    d.name AS door_name,
    count(*) AS attempts,
    count(*) FILTER (WHERE l.result = 0) AS granted,
    count(*) FILTER (WHERE l.result NOT IN (0, 7, 8, 9)) AS denied,
    count(*) FILTER (WHERE l.result IN (7, 8, 9)) AS other_events,
    count(DISTINCT l.user_id) FILTER (WHERE l.result = 0) AS distinct_users_granted,
    min(l.created_at) AS first_event_at,
    max(l.created_at) AS last_event_at
FROM {{ source('alocity', 'access_logs') }} AS l
LEFT JOIN {{ source('alocity', 'devices') }} AS d ON d.serial_number = l.device_serial_number
LEFT JOIN {{ source('alocity', 'sites') }} AS s ON s.id = l.site_id
GROUP BY ALL
ORDER BY day, l.site_id, l.device_serial_number
