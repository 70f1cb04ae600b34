-- Denied access by result type and hour: how many attempts were refused, for which reason
-- (Access Log Result Type), at which hour of the day (UTC), and at how many doors / for
-- how many recognised people. Denied = any result except 0 (granted) and the non-attempt
-- events 7 (lockdown start), 8 (lockdown end) and 9 (doorbell).
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
FROM main.access_logs
WHERE result NOT IN (0, 7, 8, 9)
GROUP BY ALL
ORDER BY result, hour_utc
