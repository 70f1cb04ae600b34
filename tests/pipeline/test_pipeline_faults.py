"""Schema drift, unavailable endpoints and killed runs, end to end through Dagster."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import duckdb
import pytest

from alocity_etl.catalog import ENDPOINTS
from alocity_etl.sandbox import RunningSandbox
from tests.support.pipeline import (
    CLI,
    LOG_WINDOW,
    Paths,
    run_sync_in_process,
    sync_ids,
)
from tests.support.reconcile import reconcile_sandbox, snapshot_diff, snapshot_tables

pytestmark = pytest.mark.slow


def schema_changes(paths: Paths, table: str, sync_id: int) -> set[tuple]:
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT column_name, change_kind, old_type, new_type FROM meta.schema_changes "
            "WHERE table_name = ? AND sync_id = ?",
            [table, sync_id],
        ).fetchall()
    return set(rows)


def query(paths: Paths, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql, params or []).fetchall()


# ------------------------------------------------------------------ schema drift


def test_drift_new_field_becomes_a_new_column(sandbox_today: RunningSandbox, paths: Paths) -> None:
    sb = sandbox_today
    run_sync_in_process(sb, paths, select={"sites"})
    sb.admin.set_faults(endpoint="sites", add_field={"regionCode": "EU-1", "floorCount": 3})
    summary = run_sync_in_process(sb, paths, select={"sites"})
    sync_id, _ = sync_ids(paths, summary)["sync"]
    changes = schema_changes(paths, "sites", sync_id)
    assert ("region_code", "added", None, "VARCHAR") in changes
    assert ("floor_count", "added", None, "BIGINT") in changes
    rows = query(paths, "SELECT region_code, floor_count FROM main.sites")
    assert rows and set(rows) == {("EU-1", 3)}
    # The catalog columns are untouched by the drift.
    rec = reconcile_sandbox(paths.warehouse, sb.admin, only=["sites"])
    assert rec.ok, rec.describe()


def test_drift_dropped_field_is_null_and_recorded_missing(
    sandbox_today: RunningSandbox, paths: Paths
) -> None:
    sb = sandbox_today
    first = run_sync_in_process(sb, paths, select={"sites"})
    _, t_first = sync_ids(paths, first)["sync"]
    sb.admin.set_faults(endpoint="sites", drop_field=["address"])
    summary = run_sync_in_process(sb, paths, select={"sites"})
    sync_id, _ = sync_ids(paths, summary)["sync"]
    assert ("address", "missing", "VARCHAR", None) in schema_changes(paths, "sites", sync_id)
    rows = query(paths, "SELECT id, address FROM main.sites")
    assert len(rows) == len(sb.admin.ground_truth(table="sites"))
    assert all(address is None for _, address in rows)
    # History keeps what the source said before the field disappeared.
    past = query(paths, 'SELECT address FROM history."sites_as_of"(?)', [t_first])
    assert past and all(a is not None for (a,) in past)


def test_drift_type_change_is_recorded_and_no_value_is_lost(
    sandbox_today: RunningSandbox, paths: Paths
) -> None:
    sb = sandbox_today
    first = run_sync_in_process(sb, paths, select={"devices"})
    _, t_first = sync_ids(paths, first)["sync"]
    sb.admin.set_faults(endpoint="devices", change_type=["siteId"])  # 12 -> "12"
    summary = run_sync_in_process(sb, paths, select={"devices"})
    sync_id, _ = sync_ids(paths, summary)["sync"]
    assert ("site_id", "type_changed", "BIGINT", "VARCHAR") in schema_changes(paths, "devices", sync_id)
    truth = {d["serialNumber"]: d["siteId"] for d in sb.admin.ground_truth(table="devices")}
    # Every value is still there, as its text: the current rows and the versions before the change.
    now = dict(query(paths, "SELECT serial_number, site_id FROM main.devices"))
    assert now == {s: str(v) for s, v in truth.items()}
    before = dict(query(paths, 'SELECT serial_number, site_id FROM history."devices_as_of"(?)', [t_first]))
    assert before == {s: str(v) for s, v in truth.items()}


# ------------------------------------------------------------------ unavailable endpoint


def test_endpoint_answering_404_is_skipped_and_the_rest_goes_on(
    sandbox_today: RunningSandbox, paths: Paths
) -> None:
    sb = sandbox_today
    sb.admin.set_faults(endpoint="sites", error_status=404, error_rate=1.0)
    summary = run_sync_in_process(sb, paths)
    assert summary.ok
    assert summary.tables["sites"].note == "unavailable on this account"
    assert query(paths, "SELECT count(*) FROM main.sites") == [(0,)]
    others = [t for t in summary.tables if t != "sites"]
    rec = reconcile_sandbox(paths.warehouse, sb.admin, window=LOG_WINDOW, only=others)
    assert rec.ok, rec.describe()
    assert set(rec.tables) == set(others) and len(others) == 11
    # A later 404 leaves what an earlier sync stored: an unavailable endpoint is not "all deleted".
    sb.admin.clear_faults()
    run_sync_in_process(sb, paths, select={"sites"})
    sb.admin.set_faults(endpoint="sites", error_status=404, error_rate=1.0)
    summary = run_sync_in_process(sb, paths, select={"sites"})
    assert summary.tables["sites"].note == "unavailable on this account"
    rec = reconcile_sandbox(paths.warehouse, sb.admin, only=["sites"])
    assert rec.ok and rec.rows_reconciled == 2, rec.describe()


# ------------------------------------------------------------------ killed run


def test_run_killed_mid_asset_leaves_the_previous_state(sandbox_today: RunningSandbox, paths: Paths) -> None:
    sb = sandbox_today
    run_sync_in_process(sb, paths)
    sb.admin.simulate(days=1)  # the next sync has real changes to (not) write
    before = snapshot_tables(paths.warehouse)
    syncs_before = query(paths, "SELECT * FROM meta.syncs ORDER BY sync_id")
    # Every data endpoint answers after 10 s: the run is caught inside its first asset's fetch.
    for name in ENDPOINTS:
        if name != "token":
            sb.admin.set_faults(endpoint=name, latency_s=10)
    sb.admin.reset_stats()
    proc = subprocess.Popen(
        [CLI, "sync", "--days", "5"],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("ALOCITY_", "DAGSTER_"))},
            **paths.env(sb),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stats = sb.admin.stats()["per_endpoint"]
            if sum(n for name, n in stats.items() if name != "token"):
                break
            assert proc.poll() is None, "the sync ended before it could be killed"
            time.sleep(0.1)
        else:
            pytest.fail("the sync never reached the API")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    after = snapshot_tables(paths.warehouse)
    # Only the ledger row of the killed run may be new (it was opened before the fetch).
    syncs_after = query(paths, "SELECT * FROM meta.syncs ORDER BY sync_id")
    assert syncs_after[: len(syncs_before)] == syncs_before
    assert all(row[4] == "running" for row in syncs_after[len(syncs_before) :])
    before.pop("meta.syncs"), after.pop("meta.syncs")
    assert snapshot_diff(before, after) == []
    # The next sync completes and the warehouse matches the account again.
    sb.admin.clear_faults()
    run_sync_in_process(sb, paths)
    rec = reconcile_sandbox(paths.warehouse, sb.admin, window=LOG_WINDOW)
    assert rec.ok, rec.describe()
