"""ProcessLock: excludes other processes and other threads, times out, survives a deleted lock file,
and interoperates with filelock.FileLock on the same path (the bucket's own lock)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from filelock import FileLock

from alocity_etl.client.state.process_lock import LockTimeout, ProcessLock

HOLD = (
    "import sys, time; from alocity_etl.client.state.process_lock import ProcessLock\n"
    "lock = ProcessLock(sys.argv[1]); lock.acquire(timeout=5); print('held', flush=True)\n"
    "time.sleep(float(sys.argv[2])); lock.release()\n"
)


def hold_in_other_process(path: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_another_process_holding_it_makes_acquire_wait_then_succeed(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    holder = hold_in_other_process(path, 0.6)
    lock = ProcessLock(str(path))
    started = time.monotonic()
    lock.acquire(timeout=10)
    waited = time.monotonic() - started
    lock.release()
    holder.wait(timeout=10)
    assert 0.3 <= waited < 5, waited


def test_acquire_times_out_while_another_process_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    holder = hold_in_other_process(path, 3)
    try:
        with pytest.raises(LockTimeout):
            ProcessLock(str(path)).acquire(timeout=0.2)
    finally:
        holder.wait(timeout=10)


def test_threads_of_one_process_exclude_each_other(tmp_path: Path) -> None:
    lock = ProcessLock(str(tmp_path / "x.lock"))
    inside, overlaps = [0], []

    def work() -> None:
        for _ in range(200):
            lock.acquire(timeout=10)
            inside[0] += 1
            overlaps.append(inside[0])
            time.sleep(0)
            inside[0] -= 1
            lock.release()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(overlaps) == 800 and max(overlaps) == 1


def test_a_deleted_lock_file_is_recreated_and_still_excludes(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    lock = ProcessLock(str(path))
    lock.acquire(timeout=1)
    lock.release()
    path.unlink()  # e.g. the cache dir was cleaned while a sync ran
    holder = hold_in_other_process(path, 3)  # locks the new file
    try:
        with pytest.raises(LockTimeout):
            lock.acquire(timeout=0.3)
    finally:
        holder.wait(timeout=10)


def test_excludes_a_filelock_on_the_same_path(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    other = FileLock(str(path))
    other.acquire(timeout=1)
    try:
        with pytest.raises(LockTimeout):
            ProcessLock(str(path)).acquire(timeout=0.2)
    finally:
        other.release()
