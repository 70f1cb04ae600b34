"""Which access-log windows a sync reads: the incremental contract (README, "Access logs").

* **Catch-up** (a plain sync, the nightly schedule): every UTC day from the account's first
  event through today that is not settled (warehouse/access_log_days.py), as few
  contiguous windows as the ledger allows. The window that reaches today has no end: it
  returns today so far, and any event the API holds after that, in the same listing.
  Once a week (`recheck_from`) it also re-reads the last ALOCITY_ACCESS_LOG_RECHECK_DAYS
  days, settled or not: events uploaded later than the settle window land then, counted late.
* **Range** (``--days``, ``--since/--until``, ``--full-refresh``, a backfill from the UI):
  exactly those days, settled or not.
* **Intraday** (the 15-minute schedule): the events newer than the newest one stored. It
  never counts as a read of a day: the next catch-up reads today in full.

Pure functions of the ledger and the date: no I/O, no clock of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from alocity_etl.catalog import WIDEST_WINDOW
from alocity_etl.warehouse.access_log_days import DayState, day_start

OPEN_END = WIDEST_WINDOW[1]
# How often a catch-up re-reads the last ALOCITY_ACCESS_LOG_RECHECK_DAYS days, settled or not.
RECHECK_EVERY = timedelta(days=7)


@dataclass(frozen=True)
class Window:
    """[start, end) of one listing; `end` is OPEN_END for a listing with no end."""

    start: datetime
    end: datetime

    @property
    def open(self) -> bool:
        return self.end >= OPEN_END

    @property
    def first_day(self) -> date:
        return self.start.date()

    def days_through(self, today: date) -> list[date]:
        """The UTC days the window covers (an open window: through `today`)."""
        last = today if self.open else (self.end - timedelta(microseconds=1)).date()
        return [self.first_day + timedelta(days=i) for i in range((last - self.first_day).days + 1)]


@dataclass(frozen=True)
class CatchUp:
    """Every day not settled yet, from the account's first event through today."""


@dataclass(frozen=True)
class DayRange:
    """Exactly the days first..last (inclusive). first=None: from the account's first event;
    last=None: through today, with no end."""

    first: date | None
    last: date | None = None


@dataclass(frozen=True)
class Intraday:
    """Events newer than the newest stored (today so far, cheaply)."""


@dataclass(frozen=True)
class Span:
    """Exactly [start, end), whole days or not (a day only partly inside is written, but
    not noted as read)."""

    window: Window


Read = CatchUp | DayRange | Intraday | Span


def unsettled_days(
    ledger: dict[date, DayState],
    first_day: date,
    today: date,
    settle_days: int,
    reread_from: date | None = None,
) -> list[date]:
    """Days first_day..today that are not settled, and every day from `reread_from` on."""
    days = [first_day + timedelta(days=i) for i in range((today - first_day).days + 1)]
    return [
        d
        for d in days
        if d not in ledger or not ledger[d].settled(settle_days) or (reread_from and d >= reread_from)
    ]


def recheck_from(
    ledger: dict[date, DayState], first_day: date, today: date, recheck_days: int, now: datetime
) -> date | None:
    """The first day of a deeper re-read this catch-up owes (None: none due, or
    recheck_days = 0): the last `recheck_days` days before today, once one of those already
    read was last read `RECHECK_EVERY` ago or more. Due is judged from the ledger alone, so a
    re-read missed (the machine off that night) is made by the next catch-up."""
    if recheck_days <= 0:
        return None
    start = max(first_day, today - timedelta(days=recheck_days))
    reads = [s.last_read_at for d, s in ledger.items() if start <= d < today]
    if not reads or now - min(reads) < RECHECK_EVERY:
        return None
    return start


def catch_up_windows(
    ledger: dict[date, DayState],
    first_day: date,
    today: date,
    settle_days: int,
    reread_from: date | None = None,
) -> list[Window]:
    """Contiguous runs of unsettled days (and every day from `reread_from` on), one window
    each; the run that reaches today has no end (today is never settled, so there always is one)."""
    runs: list[list[date]] = []
    for day in unsettled_days(ledger, first_day, today, settle_days, reread_from):
        if runs and runs[-1][-1] + timedelta(days=1) == day:
            runs[-1].append(day)
        else:
            runs.append([day])
    return [
        Window(day_start(run[0]), OPEN_END if run[-1] >= today else day_start(run[-1]) + timedelta(days=1))
        for run in runs
    ]


def range_window(first: date, last: date | None) -> Window:
    return Window(day_start(first), OPEN_END if last is None else day_start(last) + timedelta(days=1))


def first_unsettled(
    ledger: dict[date, DayState],
    first_day: date | None,
    today: date,
    settle_days: int,
    reread_from: date | None = None,
) -> date:
    """The first day a catch-up reads (today when nothing is known yet): where its partition
    range starts."""
    if first_day is None:
        return today
    days = unsettled_days(ledger, first_day, today, settle_days, reread_from)
    return days[0] if days else today
