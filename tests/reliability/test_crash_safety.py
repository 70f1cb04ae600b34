"""Crash safety: `alocity-etl sync` killed with SIGKILL at 20 seeded points spread over fetch,
normalise, write and commit. After each kill: every blocking quality rule passes, every
resource is exactly as before the run or fully applied, the killed run's ledger row is
closed as "interrupted" by the next sync, which completes and reconciles with the source,
and requests the killed run had already made for its interrupted resource are not made
again (the durable page journal, alocity_etl/staging.py): at most the pages in flight at
the kill (ALOCITY_CONCURRENCY calls, plus a listing page) per interrupted resource.

Kill points: in the fetch, at a seeded request count (every data endpoint answers after
30 ms, so the count is reached mid-resource); in normalise, write (inside the DuckDB
transaction) and just after the commit, where write hooks injected into the same command
pause it (tests/support/pausing_hooks.py: phases the sync passes in milliseconds otherwise).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from helpers import blocking_violations, cli_env, each_resource_before_or_applied, log_window, query, sync

from alocity_etl.catalog import ENDPOINTS, RESOURCES, tables
from alocity_etl.client import ClientSettings, wire
from alocity_etl.client.page import endpoint_name
from alocity_etl.sync.journal import staging_dir
from tests.support.pausing_hooks import PAUSED
from tests.support.pipeline import CLI, REPO, Paths, start_sandbox
from tests.support.reconcile import ground_truth, reconcile_sandbox, snapshot_tables

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(900)]

SEED = 20261128
DAYS = 2
WINDOW = log_window(DAYS)
# Small pages, so the access-log listing of DAYS days is many requests to kill between.
PAGE_ENV = {"ALOCITY_PAGE_SIZE": "20"}
# One Dagster run per sync (a run costs seconds): the dimensions, or the access logs.
DIMS = ["users", "cards", "groups", "group_members"]
EVENTS = ["access_logs"]
LATENCY_S = 0.03
CONCURRENCY = ClientSettings.__dataclass_fields__["concurrency"].default


def kill_points() -> list[tuple[str, str]]:
    """20 seeded points: (phase, argument) = ("fetch", request count) or (phase, resource)."""
    rng = random.Random(SEED)
    points = [("fetch", str(rng.randint(3, 28))) for _ in range(7)]
    points += [("fetch-events", str(rng.randint(2, 7))) for _ in range(3)]
    for phase, n in (("normalise", 3), ("write", 4), ("commit", 3)):
        for resource in rng.sample(["users", "groups", "group_members", "access_logs"], n):
            points.append((phase, resource))
    rng.shuffle(points)
    return points


def wait_and_kill(proc: subprocess.Popen[str], sb, phase: str, arg: str) -> None:
    deadline = time.monotonic() + 120
    if phase.startswith("fetch"):
        target = int(arg)
        while sb.admin.stats()["requests_total"] < target:
            assert proc.poll() is None, f"the sync ended before request {target}"
            assert time.monotonic() < deadline, "never reached the kill point"
            time.sleep(0.01)
    else:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith(f"{PAUSED} {phase} {arg}"):
                break
        else:
            pytest.fail(f"the sync ended without reaching {phase} of {arg}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def journals(warehouse: Path) -> list[dict]:
    """Headers of the page journals left in the staging directory, with their keys."""
    out = []
    d = staging_dir(warehouse)
    for f in sorted(d.glob("*.jsonl")) if d.exists() else []:
        lines = f.read_text().splitlines()
        header = json.loads(lines[0])
        keys = []
        for ln in lines[1:]:
            with contextlib.suppress(ValueError):  # the line being written at the kill
                entry = json.loads(ln)
                if "k" in entry:  # a page (not the listing's read time)
                    keys.append(entry["k"])
        out.append({**header, "keys": keys})
    return out


def belongs(request: str, resource: str, window: list[str] | None) -> bool:
    res = RESOURCES[resource]
    parts = urlsplit(request)
    if endpoint_name(parts.path) not in {res.endpoint, res.detail_endpoint}:
        return False
    if window is None:
        return True
    start = datetime.fromisoformat(window[0])  # the listing's own window (sync/events.py)
    return parse_qs(parts.query).get("from") == [wire.format_datetime(start)]


def interrupted(warehouse: Path, left: list[dict]) -> list[dict]:
    """Journals whose resource (and window) the killed sync had not committed."""
    out = []
    for j in left:
        ws, we = (j["window"] or [None, None])[:2]
        loads = query(
            warehouse,
            "SELECT count(*) FROM meta.resource_loads WHERE sync_id = ? AND resource = ? "
            "AND window_start IS NOT DISTINCT FROM ?::TIMESTAMPTZ "
            "AND window_end IS NOT DISTINCT FROM ?::TIMESTAMPTZ",
            [j["sync_id"], j["resource"], ws, we],
        )
        if loads == [(0,)]:
            out.append(j)
    return out


class Chain:
    """One sandbox + warehouse, killed and resumed point after point.

    Two chains run interleaved: while one chain's `alocity-etl sync` runs towards its kill
    point (a subprocess, watched by a thread that kills it), the other chain's resume run
    (in this process) and checks go on, so the suite uses both cores of a small machine."""

    def __init__(self, root: Path, report) -> None:
        self.sb = start_sandbox()
        self.paths = Paths(root)
        self.paths.init_dagster_home()
        self.report = report
        self.pending: dict | None = None
        self.env: dict[str, str] = {}

    def setup(self) -> None:
        first = sync(self.sb, self.paths, days=DAYS, env=PAGE_ENV)  # every table, with day-0 data
        assert first.ok, first.errors
        for endpoint in ENDPOINTS:
            if endpoint != "token":
                self.sb.admin.set_faults(endpoint=endpoint, latency_s=LATENCY_S)
        self.env = cli_env(self.paths, self.sb, **PAGE_ENV)

    def start_kill(self, i: int, phase: str, arg: str) -> None:
        sb, paths = self.sb, self.paths
        sb.admin.simulate(days=1)  # the killed run has real changes to (not) write
        truth = ground_truth(sb.admin, window=WINDOW)
        before = snapshot_tables(paths.warehouse)
        sb.admin.reset_stats()
        select = EVENTS if arg == "access_logs" or phase == "fetch-events" else DIMS
        args = ["--select", ",".join(select), "--days", str(DAYS)]
        # A fetch is killed at a request count; a write at a phase, where hooks pause it.
        command = (
            [CLI, "sync", *args]
            if phase.startswith("fetch")
            else [sys.executable, "-m", "tests.support.crash_sync", f"{phase}:{arg}:120", *args]
        )
        proc = subprocess.Popen(
            command, env=self.env, cwd=REPO, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        errors: list[BaseException] = []

        def watch() -> None:
            try:
                wait_and_kill(proc, sb, phase, arg)
            except BaseException as exc:  # reported by finish()
                errors.append(exc)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        self.pending = dict(
            i=i,
            phase=phase,
            arg=arg,
            select=select,
            truth=truth,
            before=before,
            watcher=watcher,
            errors=errors,
        )

    def finish(self) -> None:
        if self.pending is None:
            return
        k, self.pending = self.pending, None
        sb, paths, phase, arg, select = self.sb, self.paths, k["phase"], k["arg"], k["select"]
        k["watcher"].join(timeout=300)
        where = f"kill {k['i']} ({phase} {arg})"
        if k["errors"]:
            raise AssertionError(where) from k["errors"][0]
        killed_requests = sb.admin.requests()
        synced = {tables()[t][0].name for t in select}

        # Consistent right after the kill.
        assert blocking_violations(paths.warehouse) == [], where
        states = each_resource_before_or_applied(paths.warehouse, k["before"], k["truth"], WINDOW)
        assert set(n for n, v in states.items() if v != "before") <= synced, (where, states)
        running = query(paths.warehouse, "SELECT sync_id FROM meta.syncs WHERE status = 'running'")
        assert len(running) == 1, (where, running)
        loads = query(
            paths.warehouse,
            "SELECT count(*) FROM meta.resource_loads WHERE sync_id = ? AND resource = ?",
            [running[0][0], arg],
        )[0][0]
        if phase == "commit":  # killed right after the commit: that load is there, whole
            assert loads >= 1 and states[arg] in ("applied", "days", "before"), (where, states)
        elif phase in ("normalise", "write") and arg != "access_logs":
            # Killed inside the transaction: that resource wrote nothing at all.
            assert loads == 0 and states[arg] == "before", (where, states)
        left = interrupted(paths.warehouse, journals(paths.warehouse))
        for j in left:
            assert sb.access_key not in json.dumps(j), where

        # The next run completes, closes the killed one, and reconciles.
        sb.admin.reset_stats()
        summary = sync(sb, paths, select=set(select), days=DAYS, env=PAGE_ENV)
        assert summary.ok, (where, summary.errors)
        status = query(paths.warehouse, "SELECT status FROM meta.syncs WHERE sync_id = ?", [running[0][0]])
        assert status == [("interrupted",)], (where, status)
        rec = reconcile_sandbox(paths.warehouse, sb.admin, window=WINDOW, only=select)
        self.report.reconciled(rec)
        assert rec.ok, f"{where}:\n{rec.describe()}"
        assert blocking_violations(paths.warehouse) == [], where
        assert not list(staging_dir(paths.warehouse).glob("*.jsonl")), f"{where}: journal left behind"

        # Requests of the interrupted resources made again by the next run.
        resumed_requests = Counter(sb.admin.requests())
        repeated = 0
        for j in left:
            mine = {r for r in killed_requests if belongs(r, j["resource"], j["window"])}
            repeated = max(repeated, sum(n for r, n in resumed_requests.items() if r in mine))
        self.report.killed(phase.split("-")[0], repeated)
        # Only the calls in flight at the kill (sent, answer not yet journaled) are made again:
        # up to ALOCITY_CONCURRENCY detail / per-parent calls plus the listing page beside them.
        assert repeated <= CONCURRENCY + 1, f"{where}: {repeated} pages of a killed resource requested again"

    def stop(self) -> None:
        if self.pending is not None:
            self.pending["watcher"].join(timeout=60)
        self.sb.stop()


def test_sigkill_at_20_points_never_corrupts_and_resumes(fast_dir: Path, reliability_report) -> None:
    points = kill_points()
    chains = [Chain(fast_dir / "a", reliability_report), Chain(fast_dir / "b", reliability_report)]
    try:
        for c in chains:
            c.setup()
        # Point i goes to chain i % 2; a chain's kill runs while the other chain resumes.
        for i, (phase, arg) in enumerate(points):
            c, other = chains[i % 2], chains[(i + 1) % 2]
            c.finish()  # (its previous kill, if any, is checked and resumed first)
            c.start_kill(i, phase, arg)
            other.finish()
        for c in chains:
            c.finish()
        assert reliability_report.kills >= 20
    finally:
        for c in chains:
            c.stop()
