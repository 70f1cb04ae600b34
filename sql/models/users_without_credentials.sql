-- Current users with no credential at all (see models.yml).
SELECT
    u.id AS user_id,
    u.full_name,
    u.email,
    u.created_at,
    (SELECT count(*) FROM {{ source('alocity', 'cloud_keys') }} AS k WHERE k.user_id = u.id) AS unusable_cloud_keys
FROM {{ source('alocity', 'users') }} AS u
WHERE NOT EXISTS (SELECT 1 FROM {{ source('alocity', 'cards') }} AS c WHERE c.user_id = u.id)
  AND NOT EXISTS (
      SELECT 1 FROM {{ source('alocity', 'cloud_keys') }} AS k
      WHERE k.user_id = u.id AND k.status = 1 AND (k.expire_on IS NULL OR k.expire_on > {{ as_of() }})
  )
  AND NOT coalesce(u.has_enrolled_face, FALSE)
  AND u.mobile_credential IS NULL
ORDER BY u.full_name, u.id
