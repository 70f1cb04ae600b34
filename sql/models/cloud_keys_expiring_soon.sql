-- Cloud keys expiring in the next 14 days: active keys whose expiry falls between now and
-- now + 14 days, with their owner, so they can be renewed (or left to lapse) on purpose.
SELECT
    k.id AS cloud_key_id,
    k.user_id,
    u.full_name,
    u.email,
    k.key_valid_from,
    k.expire_on,
    date_diff('day', CAST(now() AS DATE), CAST(k.expire_on AS DATE)) AS days_left,
    k.use_one_time,
    k.send_by_email,
    k.send_by_text
FROM main.cloud_keys AS k
LEFT JOIN main.users AS u ON u.id = k.user_id
WHERE k.status = 1
  AND k.expire_on >= now()
  AND k.expire_on < now() + INTERVAL 14 DAY
ORDER BY k.expire_on, k.id
