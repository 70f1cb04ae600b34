-- Nothing reads or writes these any more: meta.cursors (the access-log day ledger,
-- meta.access_log_days, replaced the idea) and resource_loads.frames_supplied (every load
-- is written from archived pages, so rebuild can always replay it).
DROP TABLE IF EXISTS meta.cursors;
ALTER TABLE meta.resource_loads DROP COLUMN IF EXISTS frames_supplied;
