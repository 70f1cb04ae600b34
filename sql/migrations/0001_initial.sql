-- Base layout: schemas, the raw page archive and the sync ledger.
-- Catalog tables (history.*, main.*) are created from alocity_etl/catalog.py by code.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS history;
CREATE SCHEMA IF NOT EXISTS meta;

CREATE SEQUENCE IF NOT EXISTS meta.sync_id_seq START 1;

CREATE TABLE IF NOT EXISTS meta.syncs (
    sync_id BIGINT PRIMARY KEY,
    dagster_run_id VARCHAR,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status VARCHAR NOT NULL,          -- running, success, failed, partial
    requests INTEGER,
    error VARCHAR
);

CREATE TABLE IF NOT EXISTS meta.table_syncs (
    sync_id BIGINT NOT NULL,
    table_name VARCHAR NOT NULL,
    inserted BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    deleted BIGINT NOT NULL,
    unchanged BIGINT NOT NULL,
    window_start TIMESTAMPTZ,
    window_end TIMESTAMPTZ,
    recorded_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS meta.cursors (
    resource VARCHAR PRIMARY KEY,
    cursor_value VARCHAR,
    sync_id BIGINT,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS meta.schema_changes (
    table_name VARCHAR NOT NULL,
    column_name VARCHAR NOT NULL,
    change_kind VARCHAR NOT NULL,     -- added, missing, type_changed
    old_type VARCHAR,
    new_type VARCHAR,
    sync_id BIGINT,
    detected_at TIMESTAMPTZ NOT NULL
);

-- One row per fetched page: payload only (never headers or tokens).
CREATE TABLE IF NOT EXISTS raw.pages (
    sync_id BIGINT NOT NULL,
    page_seq INTEGER NOT NULL,        -- fetch order within the resource load
    resource VARCHAR NOT NULL,
    endpoint VARCHAR NOT NULL,        -- key of catalog.ENDPOINTS (list or detail call)
    parent_key JSON,                  -- fan-out parent value / detail key value
    params JSON,                      -- query parameters of the call
    page_number INTEGER,
    window_start TIMESTAMPTZ,
    window_end TIMESTAMPTZ,
    fetched_at TIMESTAMPTZ,
    body JSON                         -- the envelope's payload
);
