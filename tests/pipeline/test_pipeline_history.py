"""Syncs over simulated days, through Dagster against the sandbox: content, versions
written, as-of history, no-op re-sync, idempotent access-log partitions, rebuild."""

from __future__ import annotations

import shutil
from typing import Any

import duckdb
import pytest

from tests.support.pipeline import (
    LOG_DAYS,
    LOG_WINDOW,
    SANDBOX_START,
    VERSION_COUNTS,
    History,
    Paths,
    run_cli,
    run_sync_in_process,
    sync_ids,
    table_syncs,
)
from tests.support.reconcile import (
    reconcile_sandbox,
    snapshot_diff,
    snapshot_tables,
    truth_rows,
    versioned_tables,
)

pytestmark = pytest.mark.slow


def truth_diff(admin: Any, table: str, before: int, after: int) -> dict[str, int]:
    """Versions a correct sync must write for `table` between ground-truth days."""
    old = dict(truth_rows(table, admin.ground_truth(day=before, table=table)))
    new = dict(truth_rows(table, admin.ground_truth(day=after, table=table)))
    return {
        "inserted": len(new.keys() - old.keys()),
        "updated": sum(1 for k in new.keys() & old.keys() if new[k] != old[k]),
        "deleted": len(old.keys() - new.keys()),
    }


def copy_warehouse(history: History, paths: Paths) -> None:
    paths.root.mkdir(parents=True, exist_ok=True)
    shutil.copy(history.paths.warehouse, paths.warehouse)


def test_first_sync_lands_every_table_equal_to_ground_truth(history: History) -> None:
    admin = history.sb.admin
    dims_sync, started = history.syncs[0]["sync"]
    # Every versioned table, as the first sync left it, equals the day-0 ground truth.
    rec = reconcile_sandbox(history.paths.warehouse, admin, day=0, as_of=started)
    assert set(rec.tables) == set(versioned_tables())
    assert rec.ok, rec.describe()
    assert all(t.reconciled > 0 for t in rec.tables.values()), rec.describe()
    # Counts too: what the first sync reports inserting is the whole day-0 account.
    written = table_syncs(history.paths, dims_sync)
    for table in versioned_tables():
        assert written[table]["inserted"] == len(admin.ground_truth(day=0, table=table)), table
    # Access logs of the days that existed at day 0, loaded by the first access-log run.
    day0_window = (LOG_WINDOW[0], SANDBOX_START)
    rec = reconcile_sandbox(history.paths.warehouse, admin, day=0, window=day0_window, only=["access_logs"])
    assert rec.ok, rec.describe()
    assert rec.rows_reconciled > 50
    logs_sync, _ = history.syncs[0]["sync"]
    assert table_syncs(history.paths, logs_sync)["access_logs"]["inserted"] == rec.rows_reconciled


def test_each_sync_ends_with_every_dbt_model_built_and_its_tests_passing(history: History) -> None:
    from alocity_etl.defs.analytics import build_analytics_assets

    dbt = build_analytics_assets(str(history.paths.warehouse))  # the models and their checks
    on_tables = [k for k in dbt.check_keys if k.asset_key not in dbt.keys]
    assert on_tables  # the tables' own dbt tests (keys, references) are checks of the table assets
    for summary in history.summaries:
        assert summary.ok, summary.errors
        assert set(summary.models) == {k.to_user_string() for k in dbt.keys}  # in the same run
        # Every dbt test ran, none failed (the tiny account has no dangling reference either).
        assert summary.dbt_tests.ran == len(dbt.check_keys), summary.dbt_tests.line()
        assert summary.dbt_tests.passed == len(dbt.check_keys), summary.dbt_tests.line()


def test_each_sync_writes_exactly_the_changes_of_the_simulated_day(history: History) -> None:
    admin = history.sb.admin
    changed_tables = set()
    for k in (1, 2):
        dims_sync, _ = history.syncs[k]["sync"]
        written = table_syncs(history.paths, dims_sync)
        for table in versioned_tables():
            want = truth_diff(admin, table, k - 1, k)
            got = {c: written[table][c] for c in VERSION_COUNTS}
            assert got == want, f"sync {k} {table}: wrote {got}, ground truth changed {want}"
            if any(want.values()):
                changed_tables.add(table)
        # History holds exactly one version per write: versions stamped with this sync.
        with duckdb.connect(str(history.paths.warehouse), read_only=True) as con:
            for table in versioned_tables():
                (n,) = con.execute(
                    f'SELECT count(*) FROM history."{table}" WHERE sync_id = ?', [dims_sync]
                ).fetchone()
                assert n == sum(written[table][c] for c in VERSION_COUNTS), table
    # The simulated days did create, edit and delete things (else this test proves little).
    assert {"users", "cards", "group_members", "cloud_keys"} <= changed_tables


def test_as_of_each_past_sync_equals_that_days_ground_truth(history: History) -> None:
    for k, sync in enumerate(history.syncs):
        _, started = sync["sync"]
        rec = reconcile_sandbox(history.paths.warehouse, history.sb.admin, day=k, as_of=started)
        assert rec.ok, f"as of sync {k} ({started}):\n{rec.describe()}"
    # And the current views equal today's account, access logs included.
    rec = reconcile_sandbox(history.paths.warehouse, history.sb.admin, window=LOG_WINDOW)
    assert rec.ok, rec.describe()
    assert rec.tables["access_logs"].reconciled > rec.tables["access_logs"].expected_rows - 1 > 100


def test_as_of_between_syncs_is_the_earlier_state(history: History) -> None:
    # A moment strictly between sync 0 and sync 1 still shows day 0.
    _, t0 = history.syncs[0]["sync"]
    _, t1 = history.syncs[1]["sync"]
    mid = t0 + (t1 - t0) / 2
    rec = reconcile_sandbox(history.paths.warehouse, history.sb.admin, day=0, as_of=mid)
    assert rec.ok, rec.describe()


def test_noop_resync_writes_zero_versions(history: History, paths: Paths) -> None:
    copy_warehouse(history, paths)
    before = snapshot_tables(paths.warehouse, exclude_columns={"*": ()})
    summary = run_sync_in_process(history.sb, paths)
    ids = sync_ids(paths, summary)
    written = table_syncs(paths, ids["sync"][0])
    assert set(written) == set(versioned_tables()) | {"access_logs"}
    for table in versioned_tables():
        counts = written[table]
        assert {c: counts[c] for c in VERSION_COUNTS} == dict.fromkeys(VERSION_COUNTS, 0), table
    assert written["access_logs"]["inserted"] == 0
    after = snapshot_tables(paths.warehouse)
    for name in before:
        if name.startswith(("history.", "main.")):
            assert before[name] == after[name], f"{name} changed on a no-op sync"


def access_logs_contents(path: Any) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        cols = [
            c
            for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
                "AND table_name = 'access_logs' AND column_name NOT IN ('sync_id', 'loaded_at') "
                "ORDER BY ordinal_position"
            ).fetchall()
        ]
        sel = ", ".join(f'"{c}"' for c in cols)
        return con.execute(f"SELECT {sel} FROM main.access_logs ORDER BY id").fetchall()


def test_access_log_partitions_are_idempotent(history: History, paths: Paths) -> None:
    copy_warehouse(history, paths)
    before = access_logs_contents(paths.warehouse)
    assert len(before) > 100
    for _ in range(2):
        summary = run_sync_in_process(history.sb, paths, days=LOG_DAYS, select={"access_logs"})
        assert [job for job, _, _ in summary.runs] == ["sync"]
        assert access_logs_contents(paths.warehouse) == before
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        (dupes,) = con.execute("SELECT count(*) - count(DISTINCT id) FROM main.access_logs").fetchone()
    assert dupes == 0


def test_rebuild_from_raw_reproduces_every_table(history: History, paths: Paths) -> None:
    copy_warehouse(history, paths)
    # Rebuild re-records the ledger rows it replays; their wall-clock stamps differ, nothing else.
    wall_clock = {"meta.table_syncs": ["recorded_at"], "meta.schema_changes": ["detected_at"]}
    before = snapshot_tables(paths.warehouse, exclude_columns=wall_clock)
    result = run_cli(["rebuild"], paths.env(None))
    assert result.returncode == 0, result.stderr[-2000:]
    after = snapshot_tables(paths.warehouse, exclude_columns=wall_clock)
    assert snapshot_diff(before, after) == []
    # And it is still a correct warehouse, not merely the same one.
    rec = reconcile_sandbox(paths.warehouse, history.sb.admin, window=LOG_WINDOW)
    assert rec.ok, rec.describe()
    assert "users" in result.stdout
