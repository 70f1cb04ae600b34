-- Every current group: the member count the API reports against the members it lists (see models.yml).
WITH listed AS (
    SELECT
        m.group_id,
        count(*) AS members_listed,
        count(u.id) AS members_current
    FROM {{ source('alocity', 'group_members') }} AS m
    LEFT JOIN {{ source('alocity', 'users') }} AS u ON u.id = m.user_id
    GROUP BY m.group_id
)
SELECT
    g.id AS group_id,
    g.name AS group_name,
    g.user_count AS members_reported,
    coalesce(l.members_listed, 0) AS members_listed,
    coalesce(l.members_current, 0) AS members_current,
    g.user_count IS NOT DISTINCT FROM coalesce(l.members_listed, 0) AS counts_agree
FROM {{ source('alocity', 'groups') }} AS g
LEFT JOIN listed AS l ON l.group_id = g.id
ORDER BY g.id
