"""Independent answers for the dbt models, computed in Python from the sandbox's ground truth.

Nothing here reads the warehouse or reuses the models' SQL: times are parsed from the wire
format, local times come from `zoneinfo`, Quartz crons are read by `quartz` below. The test
modules compare each model's table to these answers exactly (every row, no extras).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from alocity_etl.catalog import ACCESS_RESULT_LABELS

# The dbt vars the `world` fixture builds the models with: a burst window wide enough for the
# tiny account to have bursts.
WORLD_VARS = {"denied_burst_gap_minutes": 30, "denied_burst_min_attempts": 3, "inactive_after_days": 30}
NOT_ATTEMPTS = (7, 8, 9)  # lockdown start/end, doorbell
QUARTZ_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]  # Quartz 1..7


def ts(text: str | None) -> datetime | None:
    """A wire DateTime (``2026-03-08T07:30:00.123Z``) as an aware UTC datetime."""
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def denied(result: int) -> bool:
    return result != 0 and result not in NOT_ATTEMPTS


def label(result: int) -> str:
    return ACCESS_RESULT_LABELS.get(result, f"Unknown ({result})")


def zone(name: str | None) -> tuple[str, ZoneInfo]:
    """The IANA zone a site's time zone names, or UTC when it names none."""
    try:
        return name, ZoneInfo(name)  # type: ignore[arg-type]
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return "UTC", ZoneInfo("UTC")


def local(moment: datetime, tz: ZoneInfo) -> datetime:
    """The wall clock of ``tz`` at ``moment``, without a zone (a DuckDB TIMESTAMP)."""
    return moment.astimezone(tz).replace(tzinfo=None)


def hours_in_day(day: date, tz: ZoneInfo) -> int:
    """Length of a local day: midnight to midnight, subtracted in UTC (subtracting two
    datetimes of one zone in Python ignores a change of offset between them)."""
    start = datetime.combine(day, time(), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC)
    return int((end - start).total_seconds() // 3600)


def by(rows: Iterable[dict], key: str) -> dict[Any, dict]:
    return {r[key]: r for r in rows}


def site_zones(truth: dict[str, list[dict]]) -> dict[int, tuple[str, ZoneInfo, str]]:
    """site id -> (zone name, zone, site name)."""
    return {s["id"]: (*zone(s["timeZone"]), s["name"]) for s in truth["sites"]}


def order_key(event: dict) -> tuple[datetime, str]:
    """Events in time order, ties by id (as the models order them)."""
    return ts(event["createdAt"]), event["id"]  # type: ignore[return-value]


def quartz(expression: str) -> tuple[list[int], list[int]] | None:
    """(ISO weekdays, local start seconds after midnight) of a Quartz cron, or None for a shape
    the models do not read: seconds, minutes and hours as numbers or comma lists; day-of-month
    ``?`` (or ``*`` = every day); month ``*``; day-of-week ``*``/``?`` or comma lists of days
    (SUN-SAT, or 1-7 with 1 = Sunday) and ranges, which may wrap past Saturday; year ``*``."""
    fields = expression.upper().split()
    if len(fields) not in (6, 7) or fields[6:] not in ([], ["*"]):
        return None
    sec, minute, hour, dom, month, dow = fields[:6]

    def numbers(text: str, top: int) -> list[int] | None:
        parts = text.split(",")
        if not all(p.isdigit() and int(p) <= top for p in parts):
            return None
        return [int(p) for p in parts]

    def quartz_day(token: str) -> int | None:
        if token in QUARTZ_DAYS:
            return QUARTZ_DAYS.index(token) + 1
        return int(token) if token.isdigit() and 1 <= int(token) <= 7 else None

    seconds, minutes, hours = numbers(sec, 59), numbers(minute, 59), numbers(hour, 23)
    if seconds is None or minutes is None or hours is None or month != "*":
        return None
    if (dom == "*" and dow in ("?", "*")) or (dom == "?" and dow in ("?", "*")):
        days = set(range(1, 8))
    elif dom == "?":
        days = set()
        for item in dow.split(","):
            first, _, last = item.partition("-")
            lo, hi = quartz_day(first), quartz_day(last or first)
            if lo is None or hi is None:
                return None
            q = lo
            while True:  # walk the week from lo to hi, round past Saturday if need be
                days.add(7 if q == 1 else q - 1)  # Quartz 1 = Sunday -> ISO 7
                if q == hi:
                    break
                q = q % 7 + 1
    else:
        return None
    starts = sorted({h * 3600 + m * 60 + s for h in hours for m in minutes for s in seconds})
    return sorted(days), starts


def rows(path: Any, sql: str) -> list[dict[str, Any]]:
    """A model's rows as dicts of plain Python values (UUIDs as text, times as DuckDB gives)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [
            {n: (str(v) if isinstance(v, UUID) else v) for n, v in zip(names, r, strict=True)}
            for r in cur.fetchall()
        ]
    finally:
        con.close()
