"""The warehouse file held for writing from one day's write to the next, but never while the
sync waits on the API.

DuckDB lets one process hold the file read-write, and while it does no analyst can open it.
A backfill on a fast API is write-bound, and each reopen + checkpoint costs ~0.2 s, so the
file stays open while the next day is already fetched (or arrives within `hold_s`); it is
let go when the writer would wait longer on the (rate-limited) API, and after `max_days`
writes: DuckDB keeps ~3-4 MB per committed day until the file is closed (outside
duckdb_memory(); measured in benchmarks/memory.py), so memory stays flat however long
the window.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from alocity_etl.warehouse import Warehouse
from alocity_etl.warehouse.write_hooks import NO_HOOKS, WriteHooks

HOLD_S = 1.0
MAX_DAYS = 8


class HeldWriter:
    def __init__(
        self,
        path: str,
        lock_timeout_s: float,
        hold_s: float = HOLD_S,
        max_days: int = MAX_DAYS,
        hooks: WriteHooks = NO_HOOKS,
    ) -> None:
        self.path, self.lock_timeout_s, self.hold_s, self.max_days = path, lock_timeout_s, hold_s, max_days
        self.hooks = hooks
        self._wh: Warehouse | None = None
        self._days = 0

    def open(self) -> Warehouse:
        """The open writer (opened now if it was let go)."""
        if self._wh is None:
            self._wh = Warehouse.open(self.path, lock_timeout=self.lock_timeout_s, hooks=self.hooks)
            self._days = 0
        return self._wh

    def wrote_day(self) -> None:
        self._days += 1
        if self._days >= self.max_days:
            self.close()

    def release_unless(self, next_ready: Callable[[float], bool]) -> None:
        """Let the file go unless `next_ready(hold_s)` says the next write's data is there."""
        if self._wh is not None and not next_ready(self.hold_s):
            self.close()

    @property
    def held(self) -> Warehouse | None:
        return self._wh

    def close(self) -> None:
        if self._wh is not None:
            self._wh.close()
            self._wh = None

    def __enter__(self) -> HeldWriter:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
