"""When does the Alocity access key expire? (No Dagster here: the sensor is a thin wrapper.)

Alocity keys expire one year after creation and the API has no call that tells us when a
key was created, so the date comes from, in order:

1. ``ALOCITY_ACCESS_KEY_EXPIRES_AT`` (ISO date/datetime, naive = UTC), as shown in the portal;
2. ``ALOCITY_ACCESS_KEY_CREATED_AT`` + 1 year;
3. a conservative estimate: the first time the warehouse saw this key's fingerprint + 1 year
   (``meta.access_keys``). The key was created on or before that day, so the real expiry is
   on or before the estimate - the message says "estimate" and asks for one of the above.

Only a fingerprint (truncated sha256) of the key is ever stored or shown.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from alocity_etl.settings import Settings
from alocity_etl.warehouse import Warehouse, WarehouseError, WarehouseLockedError, access_keys

KEY_VAR = "ALOCITY_ACCESS_KEY"
EXPIRES_AT_VAR = "ALOCITY_ACCESS_KEY_EXPIRES_AT"
CREATED_AT_VAR = "ALOCITY_ACCESS_KEY_CREATED_AT"
# 365 days, as the sandbox models it; never later than a calendar year, so never optimistic.
KEY_LIFETIME = timedelta(days=365)
# Alocity issues a replacement when a key is used within this window before expiry (§2.1).
RENEWAL_WINDOW = timedelta(days=30)


class KeyExpiryError(ValueError):
    """No key is configured, or its creation date is in the future (one line naming the variable)."""


def fingerprint(key: str) -> str:
    """Truncated sha256 of the key: stable per key, not reversible, safe to log and store."""
    return hashlib.sha256(key.strip().encode()).hexdigest()[:16]


@dataclass(frozen=True)
class KeyExpiry:
    expires_at: datetime
    source: str  # the variable it came from, or "first seen <date> (estimate)"
    fingerprint: str | None = None
    account: str | None = None  # with an accounts file: whose key it is

    @property
    def is_estimate(self) -> bool:
        return self.source.endswith("(estimate)")

    def remaining(self, now: datetime) -> timedelta:
        return self.expires_at - _utc(now)

    def days_left(self, now: datetime) -> int:
        """Whole days left, rounded down (0 on the last day, negative once expired)."""
        return math.floor(self.remaining(now) / timedelta(days=1))

    def expired(self, now: datetime) -> bool:
        return self.remaining(now) <= timedelta(0)

    def in_renewal_window(self, now: datetime) -> bool:
        return not self.expired(now) and self.remaining(now) <= RENEWAL_WINDOW


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def expiry_from_settings(settings: Settings, now: datetime) -> KeyExpiry | None:
    """The expiry from EXPIRES_AT or CREATED_AT, None when neither is set."""
    key = settings.api.access_key.reveal().strip()
    fp = fingerprint(key) if key else None
    mon = settings.monitoring
    if mon.key_expires_at is not None:
        return KeyExpiry(mon.key_expires_at, EXPIRES_AT_VAR, fp)
    if mon.key_created_at is not None:
        if mon.key_created_at > _utc(now) + timedelta(days=1):
            raise KeyExpiryError(
                f"{CREATED_AT_VAR}={mon.key_created_at.date().isoformat()!r} is in the future; "
                "use the key's creation date"
            )
        return KeyExpiry(mon.key_created_at + KEY_LIFETIME, CREATED_AT_VAR, fp)
    return None


def _first_seen_in_warehouse(path: str, fp: str, now: datetime) -> datetime:
    try:  # read-only first: the usual case (already recorded) then needs no write lock
        with Warehouse.open(path, read_only=True) as wh:
            seen = access_keys.first_seen(wh.con, fp)
        if seen is not None:
            return seen
    except WarehouseLockedError:
        raise
    except WarehouseError:
        pass  # no file yet, or an older schema: the write-open below creates / migrates it
    with Warehouse.open(path) as wh:  # creates / migrates (0003 adds meta.access_keys)
        return access_keys.record_first_seen(wh.con, fp, now)


def resolve_expiry(
    settings: Settings,
    *,
    now: datetime | None = None,
    known_first_seen: Mapping[str, datetime] | None = None,
) -> KeyExpiry:
    """The key's expiry by precedence EXPIRES_AT > CREATED_AT > first seen + 1 year (estimate).

    ``known_first_seen`` ({fingerprint: first seen}) is what a caller already read from the
    warehouse (the sensor keeps it in its cursor), so the warehouse is opened once per key,
    not on every tick where it could collide with a running sync's write lock.
    Raises KeyExpiryError when no key is configured, and the warehouse's WarehouseError
    (e.g. locked by a running sync) when the estimate cannot be read.
    """
    now = _utc(now or datetime.now(UTC))
    found = expiry_from_settings(settings, now)
    if found is not None:
        return replace(found, account=settings.account)
    key = settings.api.access_key.reveal().strip()
    if not key:
        whose = f"account {settings.account}: its key variable" if settings.account else KEY_VAR
        raise KeyExpiryError(
            f"{whose} is not set, and neither is {EXPIRES_AT_VAR} or {CREATED_AT_VAR}: nothing to watch"
        )
    fp = fingerprint(key)
    seen = (known_first_seen or {}).get(fp)
    if seen is None:
        seen = _first_seen_in_warehouse(settings.warehouse.path, fp, now)
    return KeyExpiry(
        seen + KEY_LIFETIME, f"first seen {seen.date().isoformat()} (estimate)", fp, settings.account
    )
