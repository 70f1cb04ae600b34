-- Denied access by result type and UTC hour of the day (see models.yml).
SELECT
    result,
    result_label,
    hour(created_at) AS hour_utc,
    count(*) AS denied,
    count(DISTINCT device_serial_number) AS doors,
    count(DISTINCT user_id) AS recognised_users,
    count(*) FILTER (WHERE user_id IS NULL) AS unrecognised,
    min(created_at) AS first_at,
    max(created_at) AS last_at
FROM {{ source('alocity', 'access_logs') }}
WHERE result NOT IN (0, 7, 8, 9)
GROUP BY ALL
ORDER BY result, hour_utc
