"""The year's answer keys, kept independently of the product: which access-log events the
warehouse must hold after each read and how many of them count as late (the README's
contract, re-derived here from the reads the year made), and which versions each history
table must hold (one per change the syncs could see).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tests.support.reconcile import canonical, parse_ts, table_spec

SETTLE_DAYS = 3
RECHECK_DAYS = 21
RECHECK_EVERY = timedelta(days=7)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


@dataclass
class DayReads:
    last_read: datetime
    complete_read: datetime | None = None  # the newest read that began after the day ended


@dataclass
class Event:
    created: datetime
    uploaded: datetime  # when it reached the cloud: created, or a late upload's time
    late_upload: bool


@dataclass
class EventModel:
    """Which events the warehouse holds, by the contract, given the reads made."""

    page_size: int
    events: dict[str, Event] = field(default_factory=dict)  # every event the truth has shown
    stored: set[str] = field(default_factory=set)
    ledger: dict[date, DayReads] = field(default_factory=dict)
    late: Counter = field(default_factory=Counter)  # day -> events counted late
    first_day: date | None = None
    rechecks: list[date] = field(default_factory=list)  # nights (days) a weekly re-read was made
    late_found_by_recheck: int = 0

    def learn(self, rows: list[dict[str, Any]], uploads: dict[str, datetime]) -> None:
        """Events the truth shows now (late uploads carry the time they arrived)."""
        for r in rows:
            if r["id"] not in self.events:
                created = parse_ts(r["createdAt"])
                assert created is not None
                up = uploads.get(r["id"])
                self.events[r["id"]] = Event(created, up or created, up is not None)

    def _visible(self, e: Event, t: datetime) -> bool:
        return e.uploaded <= t if e.late_upload else e.created < t

    def settled(self, day: date) -> bool:
        s = self.ledger.get(day)
        return bool(
            s and s.complete_read and s.complete_read >= day_start(day) + timedelta(days=1 + SETTLE_DAYS)
        )

    def _read(self, t: datetime, start: datetime, end: datetime | None, covered: list[date]) -> int:
        """One listing of [start, end) begun at t: returns how many events it lists."""
        listed = 0
        new_by_day: Counter = Counter()
        for eid, e in self.events.items():
            if e.created >= start and (end is None or e.created < end) and self._visible(e, t):
                listed += 1
                if eid not in self.stored:
                    self.stored.add(eid)
                    new_by_day[e.created.date()] += 1
        for day in covered:
            s = self.ledger.get(day)
            was_complete = s is not None and s.complete_read is not None
            if was_complete:
                self.late[day] += new_by_day[day]
                if self.settled(day):
                    self.late_found_by_recheck += new_by_day[day]
            complete = t >= day_start(day) + timedelta(days=1)
            if s is None:
                self.ledger[day] = DayReads(t, t if complete else None)
            else:
                s.last_read = max(s.last_read, t)
                if complete:
                    s.complete_read = max(s.complete_read or t, t)
        return listed

    def catch_up(self, t: datetime) -> int:
        """A catch-up begun at t (the nightly run). Returns the requests its listings need
        at least: ceil(events / page size) + 1 per listing."""
        today = t.date()
        if self.first_day is None:  # nothing known: one listing from the start finds history
            self.first_day = min(e.created for e in self.events.values()).date()
            days = [self.first_day + timedelta(days=i) for i in range((today - self.first_day).days + 1)]
            return self._pages(self._read(t, day_start(self.first_day), None, days))
        start = max(self.first_day, today - timedelta(days=RECHECK_DAYS))
        reads = [s.last_read for d, s in self.ledger.items() if start <= d < today]
        reread = start if reads and t - min(reads) >= RECHECK_EVERY else None
        if reread is not None:
            self.rechecks.append(today)
        days = [self.first_day + timedelta(days=i) for i in range((today - self.first_day).days + 1)]
        todo = [d for d in days if not self.settled(d) or (reread is not None and d >= reread)]
        runs: list[list[date]] = []
        for d in todo:
            if runs and runs[-1][-1] + timedelta(days=1) == d:
                runs[-1].append(d)
            else:
                runs.append([d])
        need = 0
        for run in runs:
            end = None if run[-1] >= today else day_start(run[-1]) + timedelta(days=1)
            need += self._pages(self._read(t, day_start(run[0]), end, run))
        return need

    def intraday(self, t: datetime) -> None:
        """The intraday read: events newer than the newest stored (from its next second)."""
        newest = max((self.events[i].created for i in self.stored), default=None)
        if newest is None:
            start = day_start(t.date())
        else:
            start = newest.replace(microsecond=0) + timedelta(seconds=1)
        today = t.date()
        covered = [
            start.date() + timedelta(days=i)
            for i in range((today - start.date()).days + 1)
            if day_start(start.date() + timedelta(days=i)) >= start
        ]
        self._read(t, start, None, covered)

    def _pages(self, events: int) -> int:
        return math.ceil(events / self.page_size) + 1

    def outstanding(self) -> list[str]:
        """Events the truth has and the warehouse must not have yet (no read since they arrived)."""
        return [i for i in self.events if i not in self.stored]


# ------------------------------------------------------------------ dimension versions


def values(table: str, row: dict[str, Any]) -> tuple[tuple, tuple]:
    """(key, compared values) of a truth row, canonical, as the reconciliation compares them."""
    cols, key, _ = table_spec(table)
    vals = tuple(canonical(row.get(c.wire), c.type) for c in cols if c.wire is not None)
    rec = dict(zip([c.name for c in cols if c.wire is not None], vals, strict=True))
    return tuple(rec[k] for k in key), vals


@dataclass
class VersionModel:
    """Every version each history table must hold: one per change the syncs could see (a
    key that appears, changes in any field the API sends, disappears or comes back)."""

    last: dict[str, dict[tuple, tuple[tuple, tuple]]] = field(default_factory=dict)
    versions: dict[str, Counter] = field(default_factory=dict)

    def observe(self, table: str, rows: list[dict[str, Any]], extra: tuple[str, ...] = ()) -> None:
        """A full snapshot a sync wrote: `rows` as the API showed them; `extra` fields (schema
        drift the answer key does not name) count as changes too."""
        before = self.last.setdefault(table, {})
        out = self.versions.setdefault(table, Counter())
        now: dict[tuple, tuple[tuple, tuple]] = {}
        for row in rows:
            key, vals = values(table, row)
            seen = (tuple(str(v) for v in vals), tuple(str(row.get(x)) for x in extra if x in row))
            now[key] = (vals, seen)
            prev = before.get(key)
            if prev is None or prev[1] != seen:
                out[(key, vals, False)] += 1
        for key, (vals, _) in before.items():
            if key not in now:
                out[(key, vals, True)] += 1  # the tombstone copies the last values
        self.last[table] = now
