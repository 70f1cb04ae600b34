-- Cards and cloud keys still active for users who are deleted, unknown or inactive
-- (see models.yml).
WITH person AS (
    -- The latest version of every user the warehouse has seen; a tombstone = deleted.
    SELECT
        id,
        full_name,
        email,
        created_at,
        is_deleted,
        CASE WHEN is_deleted THEN valid_from END AS deleted_at
    FROM {{ source('alocity_history', 'users') }}
    WHERE is_current
),
last_access AS (
    SELECT user_id, max(created_at) AS last_granted_at
    FROM {{ source('alocity', 'access_logs') }}
    WHERE result = 0 AND user_id IS NOT NULL AND created_at <= {{ as_of() }}
    GROUP BY user_id
),
credential AS (
    -- The API lists active cards only; a cloud key is usable while active and not expired.
    SELECT 'card' AS credential_type, CAST(id AS BIGINT) AS credential_id, user_id,
           CAST(NULL AS TIMESTAMPTZ) AS expire_on
    FROM {{ source('alocity', 'cards') }}
    UNION ALL
    SELECT 'cloud_key', CAST(id AS BIGINT), user_id, expire_on
    FROM {{ source('alocity', 'cloud_keys') }}
    WHERE status = 1 AND (expire_on IS NULL OR expire_on > {{ as_of() }})
)
SELECT
    c.credential_type,
    c.credential_id,
    c.user_id,
    CASE WHEN p.id IS NULL THEN 'unknown' WHEN p.is_deleted THEN 'deleted' ELSE 'inactive' END AS user_status,
    p.full_name,
    p.email,
    p.deleted_at,
    a.last_granted_at,
    c.expire_on
FROM credential AS c
LEFT JOIN person AS p ON p.id = c.user_id
LEFT JOIN last_access AS a ON a.user_id = c.user_id
WHERE p.id IS NULL
   OR p.is_deleted
   OR (
        (p.created_at IS NULL OR p.created_at <= {{ as_of() }} - to_days({{ var('inactive_after_days') }}))
        AND (a.last_granted_at IS NULL
             OR a.last_granted_at < {{ as_of() }} - to_days({{ var('inactive_after_days') }}))
   )
ORDER BY c.credential_type, c.credential_id
