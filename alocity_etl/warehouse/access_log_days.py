"""The access-log day ledger (``meta.access_log_days``, ``meta.access_log_origin``).

For each UTC day: when a sync last read it, and the newest read that began after the day
had ended (a *complete* read). A day is **settled** once a complete read began at least
``settle_days`` after the day ended: events uploaded later than that are beyond the
contract (see README, "Access logs"). Defined by read time, not by the calendar, so a day
whose settle period passed while no sync ran is read again at the next one.

An event that lands in a day already read complete is **late**; the ledger counts them
per day. Reads and the events they wrote commit in one transaction (`record_read`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import duckdb

from alocity_etl.warehouse.sql import utc


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def day_of(ts: datetime) -> date:
    return utc(ts).date()


@dataclass(frozen=True)
class DayState:
    day: date
    last_read_at: datetime
    complete_read_at: datetime | None  # newest read that began after the day had ended
    late_events: int
    last_late_at: datetime | None

    def settled(self, settle_days: int) -> bool:
        end = day_start(self.day) + timedelta(days=1 + settle_days)
        return self.complete_read_at is not None and self.complete_read_at >= end

    @property
    def partial(self) -> bool:
        """Last read before the day was over ("today so far")."""
        return self.complete_read_at is None


@dataclass(frozen=True)
class Origin:
    lower_bound: datetime  # the earliest time the API was asked for
    first_event_at: datetime | None  # the first event from there; None: none yet


@dataclass(frozen=True)
class DayRead:
    """What one read of one day did to the ledger."""

    day: date
    read_at: datetime
    complete: bool  # the read began after the day had ended
    inserted: int
    late: int  # of `inserted`, arrived after an earlier complete read


def days(con: duckdb.DuckDBPyConnection) -> dict[date, DayState]:
    rows = con.execute(
        "SELECT day, last_read_at, complete_read_at, late_events, last_late_at "
        "FROM meta.access_log_days ORDER BY day"
    ).fetchall()
    return {r[0]: DayState(r[0], r[1], r[2], int(r[3]), r[4]) for r in rows}


def completed(con: duckdb.DuckDBPyConnection, wanted: list[date]) -> list[date]:
    """Those of `wanted` that a complete read has already written, in order."""
    rows = con.execute(
        "SELECT day FROM meta.access_log_days WHERE complete_read_at IS NOT NULL AND list_contains(?, day) "
        "ORDER BY day",
        [wanted],
    ).fetchall()
    return [r[0] for r in rows]


def record_read(
    con: duckdb.DuckDBPyConnection, day: date, read_at: datetime, inserted: int, sync_id: int
) -> DayRead:
    """Note one read of `day` that began at `read_at` and stored `inserted` new events. The
    caller holds the transaction that wrote them."""
    read_at = utc(read_at)
    complete = read_at >= day_start(day) + timedelta(days=1)
    row = con.execute("SELECT complete_read_at FROM meta.access_log_days WHERE day = ?", [day]).fetchone()
    was_complete = row is not None and row[0] is not None
    late = inserted if was_complete else 0
    con.execute(
        "INSERT INTO meta.access_log_days VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (day) DO UPDATE SET "
        # greatest() skips NULLs: a partial read never clears an earlier complete one.
        "last_read_at = greatest(last_read_at, excluded.last_read_at), "
        "complete_read_at = greatest(complete_read_at, excluded.complete_read_at), "
        "late_events = late_events + excluded.late_events, "
        "last_late_at = coalesce(excluded.last_late_at, last_late_at), "
        "last_sync_id = excluded.last_sync_id",
        [day, read_at, read_at, read_at if complete else None, late, read_at if late else None, sync_id],
    )
    return DayRead(day, read_at, complete, inserted, late)


def origin(con: duckdb.DuckDBPyConnection) -> Origin | None:
    row = con.execute(
        "SELECT lower_bound, first_event_at FROM meta.access_log_origin ORDER BY checked_at DESC LIMIT 1"
    ).fetchone()
    return Origin(row[0], row[1]) if row else None


def set_origin(
    con: duckdb.DuckDBPyConnection, lower_bound: datetime, first_event_at: datetime | None
) -> None:
    con.execute("DELETE FROM meta.access_log_origin")
    con.execute(
        "INSERT INTO meta.access_log_origin VALUES (?, ?, now())",
        [utc(lower_bound), utc(first_event_at) if first_event_at else None],
    )


def events_per_day(con: duckdb.DuckDBPyConnection, first: date, last: date) -> dict[date, int]:
    """Events stored for each day of [first, last] that has any."""
    rows = con.execute(
        "SELECT CAST(created_at AS DATE), count(*) FROM main.access_logs "
        "WHERE created_at >= ? AND created_at < ? GROUP BY 1",
        [day_start(first), day_start(last) + timedelta(days=1)],
    ).fetchall()
    return {d: int(n) for d, n in rows}


def newest_event(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """createdAt of the newest event stored."""
    row = con.execute("SELECT max(created_at) FROM main.access_logs").fetchone()
    return utc(row[0]) if row and row[0] is not None else None
