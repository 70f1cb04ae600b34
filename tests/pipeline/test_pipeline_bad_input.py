"""Bad input to `alocity-etl sync` (subprocesses): one clear line, non-zero exit, no damage."""

from __future__ import annotations

import subprocess
import sys

import pytest

from alocity_etl.sandbox import RunningSandbox
from alocity_etl.warehouse import Warehouse
from tests.support.pipeline import Paths, run_cli
from tests.support.reconcile import reconcile_sandbox, snapshot_diff, snapshot_tables

pytestmark = pytest.mark.slow


def last_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *must_contain: str) -> None:
    assert result.returncode != 0, f"exit 0:\n{result.stdout[-1500:]}"
    assert "Traceback" not in result.stderr, f"a traceback instead of one line:\n{result.stderr[-3000:]}"
    line = last_line(result.stderr)
    assert len(line) <= 300, line
    for word in must_contain:
        assert word in line, f"{word!r} not in the last stderr line: {line!r}"


def test_missing_access_key_names_the_variable(sandbox_today: RunningSandbox, paths: Paths) -> None:
    env = paths.env(sandbox_today)
    del env["ALOCITY_ACCESS_KEY"]
    paths.init_dagster_home()
    result = run_cli(["sync", "--days", "1"], env)
    assert_one_clear_line(result, "ALOCITY_ACCESS_KEY")
    assert not paths.warehouse.exists()  # nothing was started


def test_unwritable_warehouse_path_is_one_clear_line(sandbox_today: RunningSandbox, paths: Paths) -> None:
    paths.init_dagster_home()
    blocker = paths.root / "not-a-dir"
    blocker.write_text("a file where the warehouse directory should be\n")
    target = blocker / "w.duckdb"
    result = run_cli(
        ["sync", "--days", "1", "--select", "sites"], paths.env(sandbox_today, ALOCITY_WAREHOUSE=str(target))
    )
    assert_one_clear_line(result, str(blocker))
    assert blocker.read_text().startswith("a file where")


HOLD = (
    "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('held', flush=True); "
    "time.sleep(float(sys.argv[2]))"
)


def hold_warehouse(paths: Paths, seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(paths.warehouse), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_warehouse_held_briefly_by_another_writer_waits_and_stays_intact(
    sandbox_today: RunningSandbox, paths: Paths
) -> None:
    paths.init_dagster_home()
    with Warehouse.open(paths.warehouse):
        pass
    before = snapshot_tables(paths.warehouse)
    holder = hold_warehouse(paths, 3)
    try:
        result = run_cli(["sync", "--days", "1", "--select", "sites"], paths.env(sandbox_today))
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 0, result.stderr[-3000:]
    after = snapshot_tables(paths.warehouse)
    assert snapshot_diff(before, after)  # it did write, after waiting
    rec = reconcile_sandbox(paths.warehouse, sandbox_today.admin, only=["sites"])
    assert rec.ok and rec.rows_reconciled == 2, rec.describe()


def test_warehouse_held_by_another_writer_is_one_clear_line_and_no_damage(
    sandbox_today: RunningSandbox, paths: Paths
) -> None:
    paths.init_dagster_home()
    with Warehouse.open(paths.warehouse):
        pass
    before = snapshot_tables(paths.warehouse)
    holder = hold_warehouse(paths, 600)
    try:
        result = run_cli(
            ["sync", "--days", "1", "--select", "sites"],
            paths.env(sandbox_today, ALOCITY_LOCK_TIMEOUT_S="2"),
        )
    finally:
        holder.kill()
        holder.wait()
    assert_one_clear_line(result, "locked")
    assert snapshot_diff(before, snapshot_tables(paths.warehouse)) == []
