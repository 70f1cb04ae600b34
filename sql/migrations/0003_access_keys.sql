-- Access keys seen by this warehouse, by fingerprint (truncated sha256 of the key; never
-- the key). first_seen_at + 1 year is the conservative expiry estimate used when neither
-- ALOCITY_ACCESS_KEY_EXPIRES_AT nor ALOCITY_ACCESS_KEY_CREATED_AT is set.
CREATE TABLE IF NOT EXISTS meta.access_keys (
    fingerprint VARCHAR PRIMARY KEY,
    first_seen_at TIMESTAMPTZ NOT NULL
);
