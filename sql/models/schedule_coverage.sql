-- Schedule coverage per user: linked schedules and open minutes per week (see models.yml).
WITH cron_days AS (
    SELECT
        c.id,
        c.schedule_id,
        c.time_duration,
        unnest(string_split(upper(split_part(c.cron_expression, ' ', 6)), ',')) AS part
    FROM {{ source('alocity', 'cron_schedules') }} AS c
    WHERE (c.start IS NULL OR c.start <= {{ as_of() }}) AND (c."end" IS NULL OR c."end" > {{ as_of() }})
),
cron_week AS (
    SELECT
        schedule_id,
        id,
        any_value(time_duration) AS time_duration,
        sum(
            CASE
                WHEN part IN ('*', '?') THEN 7
                WHEN part LIKE '%-%' THEN
                    list_position(['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'], split_part(part, '-', 2))
                    - list_position(['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'], split_part(part, '-', 1))
                    + 1
                ELSE 1
            END
        ) AS days_per_week
    FROM cron_days
    GROUP BY schedule_id, id
),
schedule_week AS (
    SELECT
        s.id AS schedule_id,
        s.name,
        s.site_id,
        CAST(coalesce(sum(w.days_per_week * w.time_duration), 0) AS BIGINT) AS minutes_per_week
    FROM {{ source('alocity', 'schedules') }} AS s
    LEFT JOIN cron_week AS w ON w.schedule_id = s.id
    GROUP BY s.id, s.name, s.site_id
)
SELECT
    u.id AS user_id,
    u.full_name,
    u.email,
    count(sw.schedule_id) AS schedules,
    count(DISTINCT sw.site_id) AS sites,
    coalesce(string_agg(sw.name, ', ' ORDER BY sw.name), '') AS schedule_names,
    CAST(coalesce(sum(sw.minutes_per_week), 0) AS BIGINT) AS scheduled_minutes_per_week
FROM {{ source('alocity', 'users') }} AS u
LEFT JOIN {{ source('alocity', 'schedule_users') }} AS su ON su.user_id = u.id
LEFT JOIN schedule_week AS sw ON sw.schedule_id = su.schedule_id
GROUP BY u.id, u.full_name, u.email
ORDER BY schedules, u.full_name, u.id
