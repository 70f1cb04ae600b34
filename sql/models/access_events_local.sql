-- Every access-log event with its site's time zone and its site-local wall-clock time
-- (ephemeral: inlined into the site-local models, not a table of its own).
{{ config(materialized='ephemeral') }}
WITH site AS (
    -- The latest version of each site, deleted ones included: their events stay.
    SELECT id, name, {{ safe_time_zone('time_zone') }} AS time_zone
    FROM {{ source('alocity_history', 'sites') }}
    WHERE is_current
),
door AS (
    SELECT serial_number, name
    FROM {{ source('alocity_history', 'devices') }}
    WHERE is_current
)
SELECT
    l.id,
    l.created_at,
    l.user_id,
    l.full_name,
    l.device_serial_number,
    d.name AS door_name,
    l.site_id,
    s.name AS site_name,
    coalesce(s.time_zone, 'UTC') AS time_zone,
    timezone(coalesce(s.time_zone, 'UTC'), l.created_at) AS local_at,
    l.result,
    l.result_label,
    l.credential_type
FROM {{ source('alocity', 'access_logs') }} AS l
LEFT JOIN site AS s ON s.id = l.site_id
LEFT JOIN door AS d ON d.serial_number = l.device_serial_number
