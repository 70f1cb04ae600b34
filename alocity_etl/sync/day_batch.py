"""Days of a listing written a few at a time: one transaction for up to `max_days` days or
`max_events` events.

A day's write costs ~0.1 s of CPU whatever its size (normalising, staging, the ledger), so
a first sync of a month wrote 31 small transactions where a few do; 50 accounts syncing
side by side spent minutes of CPU on it. Only days no read has completed yet are batched
(sync/events.py): their events cannot be late, so no day's late count depends on the batch.
A sync killed with days still held loses nothing: the page journal replays them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

MAX_DAYS = 7
MAX_EVENTS = 5_000  # a large account's day (~11,000 events) is written alone: memory stays a day's

Day = tuple[date, list[dict[str, Any]]]


class DayBatch:
    def __init__(
        self, write: Callable[[list[Day]], None], max_days: int = MAX_DAYS, max_events: int = MAX_EVENTS
    ) -> None:
        self.write, self.max_days, self.max_events = write, max_days, max_events
        self._days: list[Day] = []
        self._events = 0

    def add(self, day: date, pages: list[dict[str, Any]]) -> None:
        """Hold `day` (its pages, in listing order); write the batch once it is full. A day
        already held (reopened by an event out of order) gets the new pages too."""
        held = next((p for d, p in self._days if d == day), None)
        if held is None:
            self._days.append((day, list(pages)))
        else:
            held.extend(pages)
        self._events += sum(len(p["body"]) if isinstance(p["body"], list) else 1 for p in pages)
        if len(self._days) >= self.max_days or self._events >= self.max_events:
            self.flush()

    def flush(self) -> None:
        """Write what is held, if anything (before a day written on its own, and at the end)."""
        if self._days:
            days, self._days, self._events = self._days, [], 0
            self.write(days)
