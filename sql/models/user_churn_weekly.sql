-- User churn per ISO week, from the version history (see models.yml).
WITH per_user AS (
    SELECT
        id,
        min(created_at) AS created_at,
        min(valid_from) AS first_seen_at,
        min(valid_from) FILTER (WHERE is_deleted) AS deleted_at
    FROM {{ source('alocity_history', 'users') }}
    GROUP BY id
),
events AS (
    SELECT date_trunc('week', created_at) AS week, 'created' AS kind FROM per_user WHERE created_at IS NOT NULL
    UNION ALL
    SELECT date_trunc('week', first_seen_at), 'first_seen' FROM per_user
    UNION ALL
    SELECT date_trunc('week', deleted_at), 'deleted' FROM per_user WHERE deleted_at IS NOT NULL
)
SELECT
    CAST(week AS DATE) AS week_start,
    count(*) FILTER (WHERE kind = 'created') AS created,
    count(*) FILTER (WHERE kind = 'first_seen') AS first_seen,
    count(*) FILTER (WHERE kind = 'deleted') AS deleted,
    count(*) FILTER (WHERE kind = 'created') - count(*) FILTER (WHERE kind = 'deleted') AS net_change
FROM events
GROUP BY week
ORDER BY week_start
