"""Sandbox configuration: presets (account size) and the rate-limit spec."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Preset:
    """Size and shape of a generated account."""

    users: int
    sites: int
    devices: int
    groups: int
    schedules: int
    log_days: int  # days of access-log history before the start
    events: int  # approximate number of access-log events over log_days
    cards_per_user: float  # mean
    cloud_key_share: float  # share of users holding cloud keys


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        users=20,
        sites=2,
        devices=4,
        groups=3,
        schedules=2,
        log_days=3,
        events=300,
        cards_per_user=0.8,
        cloud_key_share=0.3,
    ),
    "small": Preset(
        users=200,
        sites=4,
        devices=30,
        groups=20,
        schedules=10,
        log_days=30,
        events=20_000,
        cards_per_user=1.0,
        cloud_key_share=0.2,
    ),
    "quarter": Preset(  # `small`'s account with a quarter of history (benchmarks/incremental.py)
        users=200,
        sites=4,
        devices=30,
        groups=20,
        schedules=10,
        log_days=90,
        events=60_000,
        cards_per_user=1.0,
        cloud_key_share=0.2,
    ),
    "large": Preset(
        users=10_000,
        sites=12,
        devices=300,
        groups=200,
        schedules=60,
        log_days=90,
        events=1_000_000,
        cards_per_user=1.0,
        cloud_key_share=0.1,
    ),
}

_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_rate_limit(spec: str | None) -> tuple[int, float] | None:
    """'100/60s' -> (100, 60.0); '20/2s', '100/1m', '5/1'; 'none', '', '0', None -> None (no limit).

    Raises ValueError with a message that says how to write it.
    """
    if spec is None:
        return None
    text = str(spec).strip().lower()
    if text in ("", "none", "off", "0"):
        return None
    m = _RATE_RE.match(text)
    if not m:
        raise ValueError(f"bad rate limit {spec!r}: write N/WINDOW, e.g. 100/60s, 20/2s, 100/1m, or 'none'")
    count, window = int(m.group(1)), float(m.group(2)) * _UNIT_S[m.group(3)]
    if count == 0:
        return None
    if window <= 0:
        raise ValueError(f"bad rate limit {spec!r}: the window must be longer than 0")
    return count, window


def today_utc() -> datetime:
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def as_utc(value: datetime | str | None) -> datetime | None:
    """Accept an aware/naive datetime or an ISO string; naive means UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass
class SandboxConfig:
    """Everything a sandbox run depends on. Same config (with an explicit start) -> same data."""

    preset: str = "tiny"
    seed: int = 7
    access_key: str | None = None  # None -> a random key
    key_created_at: datetime | str | None = None  # None -> 30 days before start
    rate_limit: str | None = "100/60s"  # N/WINDOW, or None/'none'/'0' = off
    token_lifetime_s: int = 3600
    start: datetime | str | None = None  # initial sandbox clock; None -> today 00:00 UTC
    freeze_clock: bool = False  # True: the clock moves only through the admin interface

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}: choose one of {', '.join(PRESETS)}")
        parse_rate_limit(self.rate_limit)  # fail early on a bad spec
        if int(self.token_lifetime_s) <= 0:
            raise ValueError("token_lifetime_s must be a positive number of seconds")
        self.start = as_utc(self.start) or today_utc()
        self.key_created_at = as_utc(self.key_created_at)

    @property
    def rate(self) -> tuple[int, float] | None:
        return parse_rate_limit(self.rate_limit)

    @property
    def shape(self) -> Preset:
        return PRESETS[self.preset]
