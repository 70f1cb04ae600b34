"""One sync of a warehouse at a time, across processes: `<warehouse>.sync.lock`.

Two syncs started together must not interleave their Dagster runs (each would write half
of the other's snapshot). `alocity-etl sync` holds the lock for its whole sync (its run
and the ledger around it); a run launched any other way (the UI, a schedule, `dagster job
execute`) holds it for that run, through the `SyncGuard` resource (defs/resources.py). The
holder that came first keeps it: the other waits up to `wait_s`, then is refused.

Within one process the lock is re-entrant: the run `alocity-etl sync` executes in its own
process finds it already held and goes on. The lock is an OS lock (fcntl through filelock),
so a killed holder releases it at once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from alocity_etl.warehouse import WarehouseError

_held: dict[Path, int] = {}  # lock file -> depth, in this process
_guard = threading.Lock()


class SyncBusyError(WarehouseError):
    """Another sync of the same warehouse kept running past the wait (ALOCITY_SYNC_WAIT_S)."""


def lock_path(warehouse: str) -> Path:
    base = Path(warehouse).resolve()
    return base.with_name(base.name + ".sync.lock")


@contextmanager
def sync_lock(warehouse: str, wait_s: float, log: Callable[[str], None]) -> Iterator[None]:
    """Hold the warehouse's sync lock (or go on if this process already holds it)."""
    path = lock_path(warehouse)
    with _guard:
        nested = _held.get(path, 0) > 0
        if nested:
            _held[path] += 1
    if nested:
        try:
            yield
        finally:
            with _guard:
                _held[path] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    owner = path.with_name(path.name.removesuffix(".lock") + ".owner")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = owner.read_text().strip() if owner.exists() else "?"
        log(f"another sync of {warehouse} is running (process {holder}); waiting up to {wait_s:g}s")
        try:
            lock.acquire(timeout=wait_s, poll_interval=0.2)
        except Timeout:
            raise SyncBusyError(
                f"another sync of {warehouse} is still running (process {holder}) after {wait_s:g}s; "
                "not starting a second one (raise ALOCITY_SYNC_WAIT_S to wait longer)"
            ) from None
    with _guard:
        _held[path] = 1
    try:
        owner.write_text(f"{os.getpid()}\n")
        yield
    finally:
        with _guard:
            _held.pop(path, None)
        lock.release()
