"""Schema migrations: ``sql/migrations/NNNN_name.sql`` applied in order, in place.

``meta.schema_version`` holds one row per applied migration. Each migration runs in its
own transaction together with its version row, so a failure leaves the previous version.

A migration that changes how tables are derived from the API's payloads starts with
``-- rederive: <resource>, ...``: after its SQL, in the same transaction, those
resources' tables are re-derived from ``raw.pages`` (no API calls, see rebuild.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from alocity_etl.warehouse.rebuild import drop_tables, replay_loads

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "sql" / "migrations"
_NAME = re.compile(r"^(\d{4})_[\w-]+\.sql$")
_REDERIVE = re.compile(r"^--\s*rederive:\s*(.+)$", re.MULTILINE)


def rederived(sql: str) -> list[str]:
    """Resources a migration re-derives from raw.pages (its ``-- rederive:`` line)."""
    m = _REDERIVE.search(sql)
    return [r.strip() for r in m.group(1).split(",") if r.strip()] if m else []


def available(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, Path]]:
    """(version, file) of every migration, in order."""
    out = [(int(m.group(1)), f) for f in directory.iterdir() if (m := _NAME.match(f.name))]
    return sorted(out)


def latest_version(directory: Path = MIGRATIONS_DIR) -> int:
    mig = available(directory)
    return mig[-1][0] if mig else 0


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """Applied schema version, 0 for an empty database. Outside a transaction (a missing
    table is asked for directly, and the failed query would abort an open transaction)."""
    try:
        row = con.execute("SELECT coalesce(max(version), 0) FROM meta.schema_version").fetchall()[0]
    except duckdb.CatalogException:
        return 0
    return int(row[0]) if row else 0


def migrate(
    con: duckdb.DuckDBPyConnection,
    target: int | None = None,
    directory: Path = MIGRATIONS_DIR,
    current: int | None = None,
) -> list[int]:
    """Apply pending migrations up to ``target`` (default: all). Returns the versions applied.
    ``current``: the version the caller just read, so it is not read twice."""
    cur = current_version(con) if current is None else current
    applied: list[int] = []
    for version, f in available(directory):
        if version <= cur or (target is not None and version > target):
            continue
        con.begin()
        try:
            con.execute("CREATE SCHEMA IF NOT EXISTS meta")
            con.execute(
                "CREATE TABLE IF NOT EXISTS meta.schema_version "
                "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
            )
            sql = f.read_text()
            con.execute(sql)
            if rederived(sql):
                drop_tables(con, rederived(sql))
                replay_loads(con, rederived(sql))
            con.execute("INSERT INTO meta.schema_version VALUES (?, ?, now())", [version, f.name])
            con.commit()
        except Exception:
            con.rollback()
            raise
        applied.append(version)
    return applied
