-- Cloud keys expiring in the next 14 days, with their owner (see models.yml).
SELECT
    k.id AS cloud_key_id,
    k.user_id,
    u.full_name,
    u.email,
    k.key_valid_from,
    k.expire_on,
    date_diff('day', CAST({{ as_of() }} AS DATE), CAST(k.expire_on AS DATE)) AS days_left,
    k.use_one_time,
    k.send_by_email,
    k.send_by_text
FROM {{ source('alocity', 'cloud_keys') }} AS k
LEFT JOIN {{ source('alocity', 'users') }} AS u ON u.id = k.user_id
WHERE k.status = 1
  AND k.expire_on >= {{ as_of() }}
  AND k.expire_on < {{ as_of() }} + INTERVAL 14 DAY
ORDER BY k.expire_on, k.id
