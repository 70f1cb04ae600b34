-- Users without any credential: current users who cannot open a door on their own - no
-- access card, no usable cloud key (active and not expired now), no enrolled face and no
-- mobile credential. Candidates for clean-up or for an onboarding reminder.
SELECT
    u.id AS user_id,
    u.full_name,
    u.email,
    u.created_at,
    (SELECT count(*) FROM main.cloud_keys AS k WHERE k.user_id = u.id) AS unusable_cloud_keys
FROM main.users AS u
WHERE NOT EXISTS (SELECT 1 FROM main.cards AS c WHERE c.user_id = u.id)
  AND NOT EXISTS (
      SELECT 1 FROM main.cloud_keys AS k
      WHERE k.user_id = u.id AND k.status = 1 AND (k.expire_on IS NULL OR k.expire_on > now())
  )
  AND NOT coalesce(u.has_enrolled_face, FALSE)
  AND u.mobile_credential IS NULL
ORDER BY u.full_name, u.id
