"""The sync ledger: ``meta.syncs``, ``meta.table_syncs``, ``meta.resource_loads``."""

from __future__ import annotations

from datetime import datetime

import duckdb

from alocity_etl.warehouse.sql import utc
from alocity_etl.warehouse.versioned_tables import MergeStats

# "interrupted": left "running" by a process that died (killed, crashed); set by the next sync.
STATUSES = ("running", "success", "failed", "partial", "interrupted")


def start_sync(
    con: duckdb.DuckDBPyConnection, dagster_run_id: str | None = None, started_at: datetime | None = None
) -> int:
    """New sync id (a sequence, so never reused even after a rollback); status running."""
    row = con.execute("SELECT nextval('meta.sync_id_seq')").fetchall()[0]
    assert row is not None
    sync_id = int(row[0])
    con.execute(
        "INSERT INTO meta.syncs (sync_id, dagster_run_id, started_at, status) "
        "VALUES (?, ?, coalesce(?, now()), 'running')",
        [sync_id, dagster_run_id, utc(started_at) if started_at else None],
    )
    return sync_id


def finish_sync(
    con: duckdb.DuckDBPyConnection,
    sync_id: int,
    status: str,
    requests: int | None = None,
    error: str | None = None,
) -> None:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}")
    con.execute(
        "UPDATE meta.syncs SET finished_at = now(), status = ?, requests = ?, error = ? WHERE sync_id = ?",
        [status, requests, error, sync_id],
    )


def mark_interrupted(con: duckdb.DuckDBPyConnection) -> int:
    """Close every sync still "running" as "interrupted". Only call it holding the sync lock
    (no other sync can be running then). Returns how many rows it closed."""
    rows = con.execute(
        "UPDATE meta.syncs SET status = 'interrupted', finished_at = now(), "
        "error = coalesce(error, 'the sync process ended without closing its run (killed or crashed)') "
        "WHERE status = 'running' RETURNING sync_id"
    ).fetchall()
    return len(rows)


def next_load(
    con: duckdb.DuckDBPyConnection,
    sync_id: int,
    resource: str,
    as_of: datetime,
    full_snapshot: bool,
    window: tuple[datetime, datetime] | None,
) -> int:
    """Register one resource load (replayed in this order by rebuild)."""
    row = con.execute("SELECT nextval('meta.load_seq')").fetchall()[0]
    assert row is not None
    seq = int(row[0])
    ws, we = (utc(window[0]), utc(window[1])) if window else (None, None)
    con.execute(
        "INSERT INTO meta.resource_loads VALUES (?, ?, ?, ?, ?, ?, ?)",
        [seq, sync_id, resource, utc(as_of), full_snapshot, ws, we],
    )
    return seq


def record_table_sync(
    con: duckdb.DuckDBPyConnection,
    sync_id: int,
    table: str,
    stats: MergeStats,
    window: tuple[datetime, datetime] | None = None,
) -> None:
    ws, we = (utc(window[0]), utc(window[1])) if window else (None, None)
    con.execute(
        "INSERT INTO meta.table_syncs VALUES (?, ?, ?, ?, ?, ?, ?, ?, now())",
        [sync_id, table, stats.inserted, stats.updated, stats.deleted, stats.unchanged, ws, we],
    )


def sync_of_run(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[int, datetime] | None:
    """(sync id, started at) of the sync a Dagster run opened, None if it opened none yet."""
    row = con.execute(
        "SELECT sync_id, started_at FROM meta.syncs WHERE dagster_run_id = ? ORDER BY sync_id LIMIT 1",
        [run_id],
    ).fetchone()
    return (int(row[0]), row[1]) if row else None


def sync_for_run(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[int, datetime]:
    """The sync of a Dagster run (one per run, shared by its steps), opened on first use."""
    found = sync_of_run(con, run_id)
    if found is None:
        start_sync(con, run_id)
        found = sync_of_run(con, run_id)
    assert found is not None
    return found


def syncs_that_loaded(con: duckdb.DuckDBPyConnection, resource: str) -> set[int]:
    """Every sync that committed a load of `resource`."""
    rows = con.execute("SELECT sync_id FROM meta.resource_loads WHERE resource = ?", [resource]).fetchall()
    return {int(s) for (s,) in rows}
