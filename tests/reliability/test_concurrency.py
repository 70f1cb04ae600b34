"""Concurrency: two syncs at once, an analyst's read session during a sync, a 7-day access-log
backfill at the same time as a dimension sync. Never two writers, no lock error surfacing as
a failed run, nothing corrupted, everything reconciles."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import blocking_violations, cli_env, log_window, query, start_cli_sync

from alocity_etl.warehouse import Warehouse
from tests.support.pipeline import TODAY, Paths, start_sandbox
from tests.support.reconcile import reconcile_sandbox

pytestmark = pytest.mark.reliability

DIMS = ["users", "cards", "groups", "group_members"]


def run_intervals(path: Path) -> list[tuple]:
    return query(path, "SELECT sync_id, started_at, finished_at, status FROM meta.syncs ORDER BY started_at")


def test_two_syncs_at_once_run_one_after_the_other(fast_dir: Path, reliability_report) -> None:
    """Both succeed; the second waited for the first (the sync lock): their runs never overlap."""
    reliability_report.fault("two syncs started at once")
    sb = start_sandbox()
    paths = Paths(fast_dir)
    paths.init_dagster_home()
    try:
        sb.admin.set_faults(endpoint="*", latency_s=0.02)
        env = cli_env(paths, sb)
        args = ["--select", ",".join([*DIMS, "access_logs"]), "--days", "2"]
        a = start_cli_sync(args, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        b = start_cli_sync(args, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        outs = [p.communicate(timeout=300) for p in (a, b)]
        assert a.returncode == 0 and b.returncode == 0, outs
        waited = [err for _, err in outs if "another sync of" in err and "waiting up to" in err]
        assert len(waited) == 1, [err[-500:] for _, err in outs]
        rows = run_intervals(paths.warehouse)
        assert len(rows) == 2 and all(r[3] == "success" for r in rows), rows
        for earlier, later in itertools.pairwise(rows):
            assert earlier[2] <= later[1], f"two syncs overlapped: {earlier} / {later}"
        assert blocking_violations(paths.warehouse) == []
        rec = reconcile_sandbox(paths.warehouse, sb.admin, window=log_window(2), only=[*DIMS, "access_logs"])
        reliability_report.reconciled(rec)
        assert rec.ok, rec.describe()
    finally:
        sb.stop()


def test_second_sync_refused_in_one_line_when_told_not_to_wait(fast_dir: Path, reliability_report) -> None:
    reliability_report.fault("second sync refused (ALOCITY_SYNC_WAIT_S=0)")
    sb = start_sandbox()
    paths = Paths(fast_dir)
    paths.init_dagster_home()
    try:
        # Slow enough that the first still holds the lock while the second starts (a Python
        # start-up of several seconds on a loaded CI machine); sped up again once it is refused.
        sb.admin.set_faults(endpoint="*", latency_s=1.0)
        first = start_cli_sync(
            ["--select", "users,cards", "--days", "1"],
            cli_env(paths, sb),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while sb.admin.stats()["per_endpoint"].get("user_page", 0) == 0:  # the first holds the lock
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        second = subprocess.run(
            [sys.executable, "-m", "alocity_etl.cli", "sync", "--select", "users", "--days", "1"],
            env=cli_env(paths, sb, ALOCITY_SYNC_WAIT_S="0"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        sb.admin.clear_faults()
        assert second.returncode == 1, second.stdout[-1000:]
        lines = [ln for ln in second.stderr.splitlines() if ln.strip()]
        assert lines and "another sync of" in lines[-1] and "still running" in lines[-1], second.stderr
        assert "Traceback" not in second.stderr
        assert first.wait(timeout=300) == 0
        rows = run_intervals(paths.warehouse)
        assert [r[3] for r in rows] == ["success"], rows  # the refused one started no run
    finally:
        sb.stop()


HOLD = (
    "import sys, time; from alocity_etl.warehouse import Warehouse\n"
    "deadline = time.monotonic() + 60\n"
    "while True:\n"
    "    try:\n"
    "        wh = Warehouse.open(sys.argv[1], read_only=True); break\n"
    "    except Exception:\n"
    "        if time.monotonic() > deadline: raise\n"
    "        time.sleep(0.05)\n"
    "print(time.time(), flush=True); wh.con.execute('SELECT count(*) FROM main.users').fetchall()\n"
    "time.sleep(float(sys.argv[2])); wh.close(); print(time.time(), flush=True)\n"
)


def test_analyst_read_session_during_a_sync_makes_the_writer_wait(fast_dir: Path, reliability_report) -> None:
    """An analyst holds a read-only session for 3 s while a sync fetches: the sync's next write
    waits for it (up to ALOCITY_LOCK_TIMEOUT_S) instead of failing, and completes."""
    reliability_report.fault("analyst read session during a sync")
    sb = start_sandbox()
    paths = Paths(fast_dir)
    paths.init_dagster_home()
    try:
        with Warehouse.open(paths.warehouse):
            pass
        # Direct measure: a writer opening the file while a reader holds it for 2 s.
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(paths.warehouse), "2"], stdout=subprocess.PIPE, text=True
        )
        assert holder.stdout is not None
        float(holder.stdout.readline())
        t0 = time.monotonic()
        with Warehouse.open(paths.warehouse, lock_timeout=120):
            waited = time.monotonic() - t0
        holder.wait(timeout=30)
        reliability_report.lock_wait_seconds.append(round(waited, 2))
        assert 1.0 <= waited <= 10, waited

        # During a real sync: the reader takes the file between two resources' writes.
        sb.admin.set_faults(endpoint="user", latency_s=0.15)
        log = (fast_dir / "sync.err").open("w+")
        sync = start_cli_sync(
            ["--select", ",".join(DIMS), "--days", "1"],
            # One detail call at a time: 20 x 0.15 s of fetching, time for the reader to step in.
            cli_env(paths, sb, ALOCITY_CONCURRENCY="1"),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        deadline = time.monotonic() + 120
        while sb.admin.stats()["per_endpoint"].get("user", 0) < 3:  # fetching users' details
            assert sync.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(paths.warehouse), "3"], stdout=subprocess.PIPE, text=True
        )
        assert holder.stdout is not None
        held_from = float(holder.stdout.readline())
        held_to = float(holder.stdout.readline())
        sync.wait(timeout=300)
        holder.wait(timeout=30)
        log.seek(0)
        assert sync.returncode == 0, log.read()[-2000:]
        # The users write happened after the analyst let go: the writer waited, it did not fail.
        written = query(
            paths.warehouse,
            "SELECT epoch(max(recorded_at)) FROM meta.table_syncs WHERE table_name = 'users'",
        )[0][0]
        assert written >= held_to - 0.5, (held_from, held_to, written)
        reliability_report.lock_wait_seconds.append(round(held_to - held_from, 2))
        rec = reconcile_sandbox(paths.warehouse, sb.admin, only=DIMS)
        reliability_report.reconciled(rec)
        assert rec.ok, rec.describe()
    finally:
        sb.stop()


def test_seven_day_backfill_during_a_dimension_sync(fast_dir: Path, reliability_report) -> None:
    reliability_report.fault("7-day access-log backfill concurrent with a dimension sync")
    sb = start_sandbox()
    paths = Paths(fast_dir)
    paths.init_dagster_home()
    try:
        sb.admin.set_faults(endpoint="*", latency_s=0.02)
        env = cli_env(paths, sb)
        backfill = start_cli_sync(
            ["--select", "access_logs", "--days", "7"], env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        dims = start_cli_sync(
            ["--select", ",".join(DIMS), "--days", "1"], env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        outs = [p.communicate(timeout=300) for p in (backfill, dims)]
        assert backfill.returncode == 0 and dims.returncode == 0, [o[-1500:] for out in outs for o in out]
        assert all("locked" not in out + err for out, err in outs)
        rows = run_intervals(paths.warehouse)
        assert len(rows) == 2 and all(r[3] == "success" for r in rows), rows
        # Every day of the 7 noted as read, from the account's first event (no days before it).
        first = min(r["createdAt"] for r in sb.admin.ground_truth(table="access_logs"))[:10]
        start = max(log_window(7)[0], datetime.fromisoformat(first).replace(tzinfo=UTC))
        days = query(
            paths.warehouse, "SELECT day FROM meta.access_log_days WHERE day < ? ORDER BY day", [TODAY.date()]
        )
        assert [d for (d,) in days] == [start.date() + timedelta(days=i) for i in range((TODAY - start).days)]
        assert blocking_violations(paths.warehouse) == []
        rec = reconcile_sandbox(paths.warehouse, sb.admin, window=log_window(7), only=[*DIMS, "access_logs"])
        reliability_report.reconciled(rec)
        assert rec.ok, rec.describe()
    finally:
        sb.stop()
