-- Every Warehouse.apply call, in order, so rebuild can replay loads exactly.
CREATE SEQUENCE IF NOT EXISTS meta.load_seq START 1;

CREATE TABLE IF NOT EXISTS meta.resource_loads (
    load_seq BIGINT PRIMARY KEY,
    sync_id BIGINT NOT NULL,
    resource VARCHAR NOT NULL,
    as_of TIMESTAMPTZ NOT NULL,
    full_snapshot BOOLEAN NOT NULL,
    window_start TIMESTAMPTZ,
    window_end TIMESTAMPTZ,
    frames_supplied BOOLEAN NOT NULL  -- caller passed frames (rebuild re-derives them from pages)
);

ALTER TABLE raw.pages ADD COLUMN IF NOT EXISTS load_seq BIGINT;
