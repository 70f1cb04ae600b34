"""Pipeline settings read from the environment (the client validates its own, see client/settings.py).

Each is read where Definitions are built, so a bad value fails with one line naming the
variable instead of deep inside a run.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class SettingsError(ValueError):
    """A setting has a bad value; the message names the variable and how to fix it."""


@dataclass(frozen=True)
class PipelineSettings:
    base_url: str
    rate_limit: str
    page_size: int
    cache_dir: str | None
    warehouse: str
    access_log_start: date | None  # history is not read before it; None: from the first event
    settle_days: int  # a day is settled once read this many days after it ended
    schedule_cron: str
    schedule_timezone: str
    lock_timeout_s: int  # how long a writer waits for the DuckDB file held by another process
    sync_wait_s: int = 3600  # how long `alocity-etl sync` waits for another sync of the same warehouse
    intraday: bool = False  # the access-log schedule for today so far runs
    intraday_cron: str = "*/15 * * * *"

    def to_json(self) -> str:
        """For a run's reconstructable job: the settings its process rebuilds Definitions from."""
        values = asdict(self)
        values["access_log_start"] = self.access_log_start.isoformat() if self.access_log_start else None
        return json.dumps(values, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PipelineSettings:
        values = json.loads(text)
        start = values.get("access_log_start")
        values["access_log_start"] = date.fromisoformat(start) if start else None
        return cls(**values)


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(
            f"{name}={raw!r} is not a whole number; set it to a whole number >= {minimum}, e.g. {default}"
        ) from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be a whole number >= {minimum}, e.g. {default}")
    return value


def _switch(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "0", "off", "false", "no"):
        return False
    if raw in ("1", "on", "true", "yes"):
        return True
    raise SettingsError(f"{name}={raw!r} is not on or off; set it to on or off")


def env_settings() -> PipelineSettings:
    raw_start = os.environ.get("ALOCITY_ACCESS_LOG_START", "").strip()
    try:
        start = date.fromisoformat(raw_start) if raw_start else None
    except ValueError:
        raise SettingsError(
            f"ALOCITY_ACCESS_LOG_START={raw_start!r} is not a date; use YYYY-MM-DD, e.g. 2026-01-01, "
            "or leave it unset to read from the account's first event"
        ) from None
    tz = os.environ.get("ALOCITY_SCHEDULE_TIMEZONE", "").strip() or "UTC"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"ALOCITY_SCHEDULE_TIMEZONE={tz!r} is not a time zone; use an IANA name such as Europe/Madrid"
        ) from None
    return PipelineSettings(
        base_url=os.environ.get("ALOCITY_BASE_URL", "").strip() or "https://api.alocity.com",
        rate_limit=os.environ.get("ALOCITY_RATE_LIMIT", "").strip() or "100",
        page_size=_int("ALOCITY_PAGE_SIZE", 500, minimum=1),
        cache_dir=os.environ.get("ALOCITY_CACHE_DIR", "").strip() or None,
        warehouse=os.environ.get("ALOCITY_WAREHOUSE", "").strip() or "warehouse/alocity.duckdb",
        access_log_start=start,
        settle_days=_int("ALOCITY_ACCESS_LOG_SETTLE_DAYS", 3),
        schedule_cron=os.environ.get("ALOCITY_SCHEDULE_CRON", "").strip() or "0 2 * * *",
        schedule_timezone=tz,
        lock_timeout_s=_int("ALOCITY_LOCK_TIMEOUT_S", 120),
        sync_wait_s=_int("ALOCITY_SYNC_WAIT_S", 3600),
        intraday=_switch("ALOCITY_INTRADAY_SYNC"),
        intraday_cron=os.environ.get("ALOCITY_INTRADAY_CRON", "").strip() or "*/15 * * * *",
    )
