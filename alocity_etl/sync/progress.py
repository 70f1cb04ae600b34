"""Periodic progress lines (count, rate, ETA) for long fetches.

Dagster captures log lines, not terminal bars, so progress is reported as a line at
most every `every_s` seconds through whatever `emit` callable the caller passes
(a Dagster logger in assets, `print` elsewhere).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta


class Progress:
    def __init__(
        self,
        label: str,
        total: int | None,
        emit: Callable[[str], None],
        unit: str = "requests",
        every_s: float = 5.0,
    ) -> None:
        self.label, self.total, self.emit, self.unit, self.every_s = label, total, emit, unit, every_s
        self.done = 0
        self._start = self._last = time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self.emit(self.line())

    def line(self) -> str:
        elapsed = max(time.monotonic() - self._start, 1e-9)
        rate = self.done / elapsed
        if self.total:
            left = max(self.total - self.done, 0)
            eta = timedelta(seconds=round(left / rate)) if rate > 0 else "?"
            return f"{self.label}: {self.done}/{self.total} {self.unit} ({rate:.1f}/s, ETA {eta})"
        return f"{self.label}: {self.done} {self.unit} ({rate:.1f}/s)"

    def finish(self) -> None:
        self.emit(self.line() + " done")
