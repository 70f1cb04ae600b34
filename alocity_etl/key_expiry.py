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
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

KEY_VAR = "ALOCITY_ACCESS_KEY"
EXPIRES_AT_VAR = "ALOCITY_ACCESS_KEY_EXPIRES_AT"
CREATED_AT_VAR = "ALOCITY_ACCESS_KEY_CREATED_AT"
# 365 days, as the sandbox models it; never later than a calendar year, so never optimistic.
KEY_LIFETIME = timedelta(days=365)
# Alocity issues a replacement when a key is used within this window before expiry (§2.1).
RENEWAL_WINDOW = timedelta(days=30)


class KeyExpiryError(ValueError):
    """A setting has a bad value (one line naming the variable), or no key is configured."""


def fingerprint(key: str) -> str:
    """Truncated sha256 of the key: stable per key, not reversible, safe to log and store."""
    return hashlib.sha256(key.strip().encode()).hexdigest()[:16]


def parse_utc(name: str, raw: str) -> datetime:
    """ISO date or datetime from variable ``name`` as an aware UTC datetime (naive = UTC)."""
    text = raw.strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise KeyExpiryError(
            f"{name}={text!r} is not an ISO date or datetime; use e.g. 2027-03-31 or 2027-03-31T09:00:00Z"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class KeyExpiry:
    expires_at: datetime
    source: str  # the variable it came from, or "first seen <date> (estimate)"
    fingerprint: str | None = None

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


def expiry_from_settings(
    environ: Mapping[str, str] | None = None, now: datetime | None = None
) -> KeyExpiry | None:
    """The expiry from EXPIRES_AT or CREATED_AT, None when neither is set."""
    env = os.environ if environ is None else environ
    key = env.get(KEY_VAR, "").strip()
    fp = fingerprint(key) if key else None
    raw = env.get(EXPIRES_AT_VAR, "").strip()
    if raw:
        return KeyExpiry(parse_utc(EXPIRES_AT_VAR, raw), EXPIRES_AT_VAR, fp)
    raw = env.get(CREATED_AT_VAR, "").strip()
    if raw:
        created = parse_utc(CREATED_AT_VAR, raw)
        if created > _utc(now or datetime.now(UTC)) + timedelta(days=1):
            raise KeyExpiryError(f"{CREATED_AT_VAR}={raw!r} is in the future; use the key's creation date")
        return KeyExpiry(created + KEY_LIFETIME, CREATED_AT_VAR, fp)
    return None


def record_first_seen(con: duckdb.DuckDBPyConnection, fp: str, now: datetime) -> datetime:
    """First time ``fp`` was seen (inserting ``now`` if it is new); needs migration 0003."""
    con.execute(
        "INSERT INTO meta.access_keys (fingerprint, first_seen_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [fp, _utc(now)],
    )
    return first_seen(con, fp) or _utc(now)


def first_seen(con: duckdb.DuckDBPyConnection, fp: str) -> datetime | None:
    rows = con.execute("SELECT first_seen_at FROM meta.access_keys WHERE fingerprint = ?", [fp]).fetchall()
    return _utc(rows[0][0]) if rows else None


def _first_seen_in_warehouse(path: str | os.PathLike[str] | None, fp: str, now: datetime) -> datetime:
    # Imported here so settings-only callers never load the warehouse stack.
    from alocity_etl.warehouse import Warehouse, WarehouseError, WarehouseLockedError

    try:  # read-only first: the usual case (already recorded) then needs no write lock
        with Warehouse.open(path, read_only=True) as wh:
            seen = first_seen(wh.con, fp)
        if seen is not None:
            return seen
    except WarehouseLockedError:
        raise
    except WarehouseError:
        pass  # no file yet, or an older schema: the write-open below creates / migrates it
    with Warehouse.open(path) as wh:  # creates / migrates (0003 adds meta.access_keys)
        return record_first_seen(wh.con, fp, now)


def resolve_expiry(
    environ: Mapping[str, str] | None = None,
    *,
    warehouse: str | os.PathLike[str] | None = None,
    now: datetime | None = None,
    known_first_seen: Mapping[str, datetime] | None = None,
) -> KeyExpiry:
    """The key's expiry by precedence EXPIRES_AT > CREATED_AT > first seen + 1 year (estimate).

    ``known_first_seen`` ({fingerprint: first seen}) is what a caller already read from the
    warehouse (the sensor keeps it in its cursor), so the warehouse is opened once per key,
    not on every tick where it could collide with a running sync's write lock.
    Raises KeyExpiryError for a bad value or a missing key, and the warehouse's
    WarehouseError (e.g. locked by a running sync) when the estimate cannot be read.
    """
    env = os.environ if environ is None else environ
    now = _utc(now or datetime.now(UTC))
    found = expiry_from_settings(env, now)
    if found is not None:
        return found
    key = env.get(KEY_VAR, "").strip()
    if not key:
        raise KeyExpiryError(
            f"{KEY_VAR} is not set, and neither is {EXPIRES_AT_VAR} or {CREATED_AT_VAR}: nothing to watch"
        )
    fp = fingerprint(key)
    path = warehouse if warehouse is not None else env.get("ALOCITY_WAREHOUSE") or None
    seen = (known_first_seen or {}).get(fp)
    if seen is None:
        seen = _first_seen_in_warehouse(Path(path) if path else None, fp, now)
    return KeyExpiry(seen + KEY_LIFETIME, f"first seen {seen.date().isoformat()} (estimate)", fp)
