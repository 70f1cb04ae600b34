"""The weekly deeper re-read (ALOCITY_ACCESS_LOG_RECHECK_DAYS, sync/read_plan.py): when it is
due, and which days a catch-up then reads. Pure functions of the ledger; the simulated year
(tests/year) shows it repairing late uploads end to end."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from alocity_etl.settings import Settings, SettingsError
from alocity_etl.sync.read_plan import OPEN_END, catch_up_windows, recheck_from
from alocity_etl.warehouse.access_log_days import DayState, day_start

TODAY = date(2027, 3, 20)
FIRST = TODAY - timedelta(days=40)


def nightly_ledger(last_night: date, deep_read: datetime | None = None) -> dict[date, DayState]:
    """Every day read each night at 02:00 through `last_night` (so settled after 4 nights);
    `deep_read`: every day up to it read again then too."""
    ledger = {}
    for i in range((last_night - FIRST).days):
        day = FIRST + timedelta(days=i)
        reads = [day_start(day + timedelta(days=k)) + timedelta(hours=2) for k in range(1, 5)]
        reads = [r for r in reads if r.date() <= last_night]
        if deep_read is not None and day < deep_read.date():
            reads.append(deep_read)
        last = max(reads)
        ledger[day] = DayState(day, last, last, 0, None)
    return ledger


def at(day: date) -> datetime:
    return day_start(day) + timedelta(hours=2)


def test_due_once_a_day_of_the_range_was_last_read_a_week_ago() -> None:
    ledger = nightly_ledger(TODAY - timedelta(days=1), deep_read=at(TODAY - timedelta(days=7)))
    assert recheck_from(ledger, FIRST, TODAY, 14, at(TODAY)) == TODAY - timedelta(days=14)
    ledger = nightly_ledger(TODAY - timedelta(days=1), deep_read=at(TODAY - timedelta(days=6)))
    assert recheck_from(ledger, FIRST, TODAY, 14, at(TODAY)) is None


def test_a_week_off_makes_the_next_catch_up_recheck_and_never_before_the_first_event() -> None:
    ledger = nightly_ledger(TODAY - timedelta(days=8))  # the machine was off the last week
    assert recheck_from(ledger, FIRST, TODAY, 14, at(TODAY)) == TODAY - timedelta(days=14)
    assert recheck_from(ledger, FIRST, TODAY, 0, at(TODAY)) is None  # 0: off
    first = TODAY - timedelta(days=9)
    assert recheck_from(ledger, first, TODAY, 14, at(TODAY)) == first


def test_nothing_known_yet_is_not_a_recheck() -> None:
    assert recheck_from({}, FIRST, TODAY, 14, at(TODAY)) is None


def test_a_due_recheck_makes_one_open_window_from_its_first_day() -> None:
    ledger = nightly_ledger(TODAY - timedelta(days=1))
    plain = catch_up_windows(ledger, FIRST, TODAY, 3)
    assert [w.start.date() for w in plain] == [TODAY - timedelta(days=4)]
    deep = catch_up_windows(ledger, FIRST, TODAY, 3, reread_from=TODAY - timedelta(days=14))
    assert len(deep) == 1 and deep[0].start.date() == TODAY - timedelta(days=14) and deep[0].end == OPEN_END


def test_the_setting_is_a_whole_number_of_days() -> None:
    assert Settings.from_env({}).sync.recheck_days == 21
    assert Settings.from_env({"ALOCITY_ACCESS_LOG_RECHECK_DAYS": "0"}).sync.recheck_days == 0
    with pytest.raises(SettingsError, match="ALOCITY_ACCESS_LOG_RECHECK_DAYS"):
        Settings.from_env({"ALOCITY_ACCESS_LOG_RECHECK_DAYS": "a week"})
