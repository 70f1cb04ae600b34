"""The warehouse's sync lock: held by `alocity-etl sync` for its whole sync, and by a run
launched any other way (UI, schedule, `dagster job execute`) for that run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alocity_etl.sync.lock import SyncBusyError, sync_lock
from tests.support.pipeline import CLI, REPO, Paths, start_sandbox

TRY_LOCK = (
    "import sys\n"
    "from alocity_etl.sync.lock import SyncBusyError, sync_lock\n"
    "try:\n"
    "    with sync_lock(sys.argv[1], 0, print):\n"
    "        sys.exit(0)\n"
    "except SyncBusyError as e:\n"
    "    print(e); sys.exit(3)\n"
)


def other_process_takes(warehouse: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", TRY_LOCK, str(warehouse)], capture_output=True, text=True, timeout=60, cwd=REPO
    )


def test_reentrant_in_one_process_exclusive_across_processes(tmp_path: Path) -> None:
    wh = tmp_path / "w.duckdb"
    with sync_lock(str(wh), 0, print):
        with sync_lock(str(wh), 0, print):  # a run of the sync this process is running
            assert other_process_takes(wh).returncode == 3
        assert other_process_takes(wh).returncode == 3  # the outer hold is still there
    assert other_process_takes(wh).returncode == 0


def test_a_run_launched_outside_the_cli_holds_the_lock_until_it_ends(tmp_path: Path) -> None:
    sb = start_sandbox()
    paths = Paths(tmp_path)
    paths.init_dagster_home()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ALOCITY_", "DAGSTER_"))},
        **paths.env(sb),
    }
    run: subprocess.Popen[str] | None = None
    try:
        # Slow until the refusal below is checked (cleared right after): the run still holds the
        # lock however long the CLI takes to start on a loaded machine.
        sb.admin.set_faults(endpoint="user", latency_s=1.0)
        run = subprocess.Popen(
            [str(Path(CLI).with_name("dagster")), "job", "execute", "-m", "alocity_etl.definitions",
             "-j", "sync_dimensions"],
            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while sb.admin.stats()["per_endpoint"].get("user", 0) == 0:  # the run is loading users
            assert run.poll() is None, run.stderr.read() if run.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with (
            pytest.raises(SyncBusyError, match=rf"process {run.pid}\)"),
            sync_lock(str(paths.warehouse), 0.2, print),
        ):
            pass
        refused = subprocess.run(
            [CLI, "sync", "--select", "groups", "--days", "1"],
            env={**env, "ALOCITY_SYNC_WAIT_S": "0"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert refused.returncode != 0
        assert "another sync of" in refused.stderr and f"(process {run.pid})" in refused.stderr
        sb.admin.clear_faults()
        assert run.wait(timeout=300) == 0, run.stderr.read() if run.stderr else ""
        with sync_lock(str(paths.warehouse), 0, lambda m: None):  # released at the run's end
            pass
    finally:
        if run is not None and run.poll() is None:
            run.kill()
        sb.stop()
