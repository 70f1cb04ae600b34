-- Every window of every current cron schedule, parsed from its Quartz expression, in the
-- time zone of the schedule's site (see models.yml for the shapes understood).
WITH cron AS (
    SELECT
        c.id AS cron_schedule_id,
        c.schedule_id,
        c.cron_expression,
        c.time_duration AS duration_minutes,
        c.start AS valid_from,
        c."end" AS valid_until,
        c.active_on_holidays,
        string_split(trim(regexp_replace(upper(coalesce(c.cron_expression, '')), '\s+', ' ', 'g')), ' ') AS f
    FROM {{ source('alocity', 'cron_schedules') }} AS c
),
fields AS (
    SELECT
        *,
        list_transform(string_split(f[1], ','), lambda x: TRY_CAST(x AS INTEGER)) AS seconds,
        list_transform(string_split(f[2], ','), lambda x: TRY_CAST(x AS INTEGER)) AS minutes,
        list_transform(string_split(f[3], ','), lambda x: TRY_CAST(x AS INTEGER)) AS hours,
        -- day-of-month and day-of-week: one of them '?' (or '*'), month every month, year any.
        len(f) IN (6, 7)
            AND (len(f) = 6 OR f[7] = '*')
            AND f[5] = '*'
            AND (f[4] = '?' OR (f[4] = '*' AND f[6] IN ('?', '*'))) AS shape_ok,
        f[4] = '*' OR f[6] IN ('*', '?') AS every_day
    FROM cron
),
day_item AS (
    -- Quartz day-of-week items: SUN..SAT or 1..7 (1 = Sunday), single or a range A-B.
    SELECT
        cron_schedule_id,
        item,
        CASE WHEN item LIKE '%-%' THEN split_part(item, '-', 1) ELSE item END AS first_token,
        CASE WHEN item LIKE '%-%' THEN split_part(item, '-', 2) ELSE item END AS last_token
    FROM (SELECT cron_schedule_id, unnest(string_split(f[6], ',')) AS item FROM fields WHERE NOT every_day)
),
day_range AS (
    SELECT
        cron_schedule_id,
        coalesce(
            list_position(['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'], first_token),
            CASE WHEN regexp_full_match(first_token, '[1-7]') THEN CAST(first_token AS INTEGER) END
        ) AS lo,
        coalesce(
            list_position(['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'], last_token),
            CASE WHEN regexp_full_match(last_token, '[1-7]') THEN CAST(last_token AS INTEGER) END
        ) AS hi
    FROM day_item
),
weekdays AS (
    SELECT
        cron_schedule_id,
        bool_and(lo IS NOT NULL AND hi IS NOT NULL) AS days_ok,
        -- ISO weekdays (1 = Monday .. 7 = Sunday); a range may wrap past Saturday.
        list_sort(list_distinct(flatten(
            list(
                list_transform(
                    CASE WHEN hi >= lo THEN range(lo, hi + 1) ELSE list_concat(range(lo, 8), range(1, hi + 1)) END,
                    lambda q: CASE WHEN q = 1 THEN 7 ELSE q - 1 END
                )
            ) FILTER (WHERE lo IS NOT NULL AND hi IS NOT NULL)
        ))) AS days
    FROM day_range
    GROUP BY cron_schedule_id
),
parsed AS (
    SELECT
        fl.*,
        CASE WHEN fl.every_day THEN [1, 2, 3, 4, 5, 6, 7] ELSE w.days END AS days,
        coalesce(fl.shape_ok, FALSE)
            AND (fl.every_day OR coalesce(w.days_ok, FALSE))
            AND list_bool_and(list_transform(fl.seconds, lambda x: x IS NOT NULL AND x BETWEEN 0 AND 59))
            AND list_bool_and(list_transform(fl.minutes, lambda x: x IS NOT NULL AND x BETWEEN 0 AND 59))
            AND list_bool_and(list_transform(fl.hours, lambda x: x IS NOT NULL AND x BETWEEN 0 AND 23))
            AND fl.duration_minutes > 0 AS is_parsed
    FROM fields AS fl
    LEFT JOIN weekdays AS w ON w.cron_schedule_id = fl.cron_schedule_id
),
site AS (
    SELECT id, {{ safe_time_zone('time_zone') }} AS time_zone
    FROM {{ source('alocity_history', 'sites') }}
    WHERE is_current
)
SELECT
    p.cron_schedule_id,
    p.schedule_id,
    s.name AS schedule_name,
    s.site_id,
    coalesce(site.time_zone, 'UTC') AS time_zone,
    p.cron_expression,
    coalesce(p.is_parsed, FALSE) AS is_parsed,
    CASE WHEN p.is_parsed THEN p.days END AS weekdays,
    h.hour * 3600 + m.minute * 60 + sec.second AS start_second_of_day,
    make_time(h.hour, m.minute, sec.second) AS start_time,
    p.duration_minutes,
    -- How many local days before an instant a window that covers it can have opened.
    (h.hour * 3600 + m.minute * 60 + sec.second + p.duration_minutes * 60) // 86400 AS days_back_max,
    p.valid_from,
    p.valid_until,
    p.active_on_holidays
FROM parsed AS p
LEFT JOIN {{ source('alocity', 'schedules') }} AS s ON s.id = p.schedule_id
LEFT JOIN site ON site.id = s.site_id,
    unnest(CASE WHEN p.is_parsed THEN p.hours ELSE [NULL] END) AS h(hour),
    unnest(CASE WHEN p.is_parsed THEN p.minutes ELSE [NULL] END) AS m(minute),
    unnest(CASE WHEN p.is_parsed THEN p.seconds ELSE [NULL] END) AS sec(second)
ORDER BY p.schedule_id, p.cron_schedule_id, start_second_of_day
