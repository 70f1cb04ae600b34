"""``meta.access_keys``: when each access key (by fingerprint, never the key) was first seen.

The key-expiry estimate when no date is configured (monitoring/key_expiry.py)."""

from __future__ import annotations

from datetime import datetime

import duckdb

from alocity_etl.warehouse.sql import utc


def first_seen(con: duckdb.DuckDBPyConnection, fingerprint: str) -> datetime | None:
    rows = con.execute(
        "SELECT first_seen_at FROM meta.access_keys WHERE fingerprint = ?", [fingerprint]
    ).fetchall()
    return utc(rows[0][0]) if rows else None


def record_first_seen(con: duckdb.DuckDBPyConnection, fingerprint: str, now: datetime) -> datetime:
    """First time `fingerprint` was seen (`now` if it is new)."""
    con.execute(
        "INSERT INTO meta.access_keys (fingerprint, first_seen_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [fingerprint, utc(now)],
    )
    return first_seen(con, fingerprint) or utc(now)
