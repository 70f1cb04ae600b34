"""Pipeline settings read from the environment (the client validates its own, see client/settings.py).

Each is read where Definitions are built, so a bad value fails with one line naming the
variable instead of deep inside a run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
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
    access_log_start: str  # first daily partition, YYYY-MM-DD
    access_log_lookback_hours: int  # re-fetch window for late events
    schedule_cron: str
    schedule_timezone: str
    lock_timeout_s: int  # how long a writer waits for the DuckDB file held by another process
    sync_wait_s: int = 3600  # how long `alocity-etl sync` waits for another sync of the same warehouse
    models: bool = True  # ALOCITY_MODELS=off: the Definitions load no dbt model, a sync writes tables only


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number; set it to e.g. {default}") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be at least {minimum}")
    return value


def _on_off(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("on", "true", "1", "yes"):
        return True
    if raw in ("off", "false", "0", "no"):
        return False
    raise SettingsError(f"{name}={raw!r} is neither on nor off")


def env_settings() -> PipelineSettings:
    start = os.environ.get("ALOCITY_ACCESS_LOG_START", "").strip() or "2026-01-01"
    try:
        date.fromisoformat(start)
    except ValueError:
        raise SettingsError(
            f"ALOCITY_ACCESS_LOG_START={start!r} is not a date; use YYYY-MM-DD, e.g. 2026-01-01"
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
        access_log_lookback_hours=_int("ALOCITY_ACCESS_LOG_LOOKBACK_HOURS", 6),
        schedule_cron=os.environ.get("ALOCITY_SCHEDULE_CRON", "").strip() or "0 2 * * *",
        schedule_timezone=tz,
        lock_timeout_s=_int("ALOCITY_LOCK_TIMEOUT_S", 120),
        sync_wait_s=_int("ALOCITY_SYNC_WAIT_S", 3600),
        models=_on_off("ALOCITY_MODELS", True),
    )
