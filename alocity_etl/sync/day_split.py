"""One listing of access logs -> its UTC days, each handed out once the listing has moved on.

The listing is sorted by createdAt (§13), so a day is complete in it as soon as a later
day's event shows up; it is then written (sync/day_batch.py), while the listing
goes on. A page that straddles midnight is split in two, each half archived with its day.
An event out of order (not promised never to happen) reopens its day, which is handed out
again: the event table is keyed on the event id, so writing a day twice is safe.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from alocity_etl.client.wire import parse_datetime

# The API's own format (§13): the date is the first ten characters when the time is UTC.
_UTC_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}T[\d:.]+Z?$")

RawPage = dict[str, Any]


def day_of_event(value: Any, default: date) -> date:
    """UTC day of a createdAt value as it came on the wire; `default` when it has none."""
    if isinstance(value, str):
        if _UTC_TEXT.match(value):
            try:
                return date.fromisoformat(value[:10])
            except ValueError:
                return default
        try:
            return parse_datetime(value).date()
        except ValueError:
            return default
    return default


class DaySplitter:
    """Feed raw pages in listing order; get back (day, pages of that day) as days complete."""

    def __init__(self, time_field: str, first_day: date, encode: Callable[[list[Any]], bytes]) -> None:
        self.time_field, self.encode = time_field, encode
        self.frontier = first_day  # the newest day the listing has reached
        self._pending: dict[date, list[RawPage]] = {}

    def add(self, page: RawPage) -> list[tuple[date, list[RawPage]]]:
        """Take one page; return the days it completed (older than the newest day seen)."""
        items = page["body"] if isinstance(page["body"], list) else [page["body"]]
        parts: dict[date, list[Any]] = {}
        current = self.frontier
        for item in items:
            raw = item.get(self.time_field) if isinstance(item, dict) else None
            current = day_of_event(raw, current)  # no usable time: the day of the event before
            parts.setdefault(current, []).append(item)
        if len(parts) == 1:  # the usual page: all in one day, archived as fetched
            ((day, _),) = parts.items()
            self._pending.setdefault(day, []).append(page)
        else:
            for day, chunk in parts.items():
                self._pending.setdefault(day, []).append(
                    {**page, "body": chunk, "body_z": self.encode(chunk)}
                )
        if parts:
            self.frontier = max(self.frontier, *parts)
        done = sorted(d for d in self._pending if d < self.frontier)
        return [(d, self._pending.pop(d)) for d in done]

    def finish(self) -> list[tuple[date, list[RawPage]]]:
        """Every day still held, in order (the listing has ended)."""
        done = sorted(self._pending)
        return [(d, self._pending.pop(d)) for d in done]
