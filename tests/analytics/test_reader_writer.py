"""One file, one writer: an analyst's query and a sync wait for each other instead of failing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from alocity_etl.sync.pipeline import LOCK_TIMEOUT_S
from alocity_etl.warehouse import Warehouse

CLI = str(Path(sys.executable).with_name("alocity-etl"))
SLOW = "SELECT sum(hash(i)) AS s FROM range(120000000) t(i)"  # about a second on one core


def holds(pid: int, path: Path) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == str(path) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def wait_until_held(proc: subprocess.Popen, path: Path) -> None:
    deadline = time.monotonic() + 30
    while not holds(proc.pid, path):
        assert proc.poll() is None and time.monotonic() < deadline, "never held the file"
        time.sleep(0.005)


def test_the_writer_waits_for_a_running_query(warehouse: Path) -> None:
    assert LOCK_TIMEOUT_S >= 60
    reader = subprocess.Popen(
        [CLI, "sql", "--warehouse", str(warehouse), SLOW], stdout=subprocess.PIPE, text=True
    )
    wait_until_held(reader, warehouse)
    t0 = time.monotonic()
    with Warehouse.open(warehouse, lock_timeout=LOCK_TIMEOUT_S) as wh:  # as sync_resource opens it
        waited = time.monotonic() - t0
        wh.con.execute("CREATE TABLE main.written AS SELECT 1 AS x")
    out, _ = reader.communicate(timeout=60)
    assert reader.returncode == 0 and "1 row" in out
    assert waited > 0.1  # it did wait, and then got the file


HOLD = (
    "import sys; from alocity_etl.warehouse import Warehouse\n"
    "wh = Warehouse.open(sys.argv[1]); print('held', flush=True); sys.stdin.readline(); wh.close()\n"
)


def hold_for_writing(path: Path) -> subprocess.Popen:
    """Another process holding the file read-write (a sync writing) until told to let go."""
    writer = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "held"
    return writer


def release(writer: subprocess.Popen) -> None:
    assert writer.stdin is not None
    writer.stdin.write("\n")
    writer.stdin.close()
    writer.wait(timeout=30)


def test_a_query_waits_for_a_write_and_says_so(warehouse: Path) -> None:
    writer = hold_for_writing(warehouse)
    query = subprocess.Popen(
        [CLI, "sql", "--warehouse", str(warehouse), "SELECT count(*) AS n FROM users"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert query.stderr is not None
    first = query.stderr.readline()  # the query is now waiting for the writer
    assert "is locked by process" in first and "waiting up to 60s" in first
    release(writer)
    out, err = query.communicate(timeout=60)
    assert query.returncode == 0 and "1 row" in out
    assert "got the warehouse after" in err


def test_with_no_patience_a_lock_is_one_line_exit_1(warehouse: Path) -> None:
    writer = hold_for_writing(warehouse)
    try:
        p = subprocess.run(
            [CLI, "sql", "--warehouse", str(warehouse), "--lock-timeout", "0", "SELECT 1"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        release(writer)
    assert p.returncode == 1 and p.stderr.count("\n") == 1 and "locked" in p.stderr and p.stdout == ""
