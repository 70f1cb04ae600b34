"""Data-quality rules as plain SQL functions over an open warehouse connection (no Dagster).

Each rule returns `Violations`: how many rows/keys break it and a small sample. Which rules
apply to which table is derived from the catalog (`rules_for`), so a new resource gets
its checks without code here; the Dagster asset checks (defs/checks.py) only wrap them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import duckdb

from alocity_etl.catalog import RESOURCES, WriteMode, snake, tables
from alocity_etl.warehouse.layout import is_versioned, primary_key
from alocity_etl.warehouse.sql import q, utc

SAMPLE = 5


@dataclass(frozen=True)
class Violations:
    count: int
    sample: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.count == 0


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Violations:
    """``sql`` selects one row per violation; count them and keep the first few (as text)."""
    params = params or []
    row = con.execute(f"SELECT count(*) FROM ({sql})", params).fetchall()[0]
    n = int(row[0]) if row else 0
    if not n:
        return Violations(0)
    cur = con.execute(f"SELECT * FROM ({sql}) LIMIT {SAMPLE}", params)
    names = [d[0] for d in cur.description]
    sample = [
        {k: (None if v is None else str(v)) for k, v in zip(names, r, strict=True)} for r in cur.fetchall()
    ]
    return Violations(n, sample)


def _keys(table: str) -> str:
    return ", ".join(q(k) for k in primary_key(table))


def _current(table: str) -> str:
    """Current live rows: the main view of a versioned table, the events table otherwise."""
    return f"main.{q(table)}"


# ---------------------------------------------------------------- rules


def pk_unique_current(con: duckdb.DuckDBPyConnection, table: str) -> Violations:
    """Primary keys duplicated among current rows (for events: duplicated event ids)."""
    k = _keys(table)
    return _run(
        con, f"SELECT {k}, count(*) AS copies FROM {_current(table)} GROUP BY {k} HAVING count(*) > 1"
    )


def scd2_one_current(con: duckdb.DuckDBPyConnection, table: str) -> Violations:
    """Keys with more than one is_current version (tombstones included)."""
    k = _keys(table)
    return _run(
        con,
        f"SELECT {k}, count(*) AS current_versions FROM history.{q(table)} WHERE is_current "
        f"GROUP BY {k} HAVING count(*) > 1",
    )


def scd2_valid_ranges(con: duckdb.DuckDBPyConnection, table: str) -> Violations:
    """Versions whose validity is malformed: closed with valid_from >= valid_to, a current
    version that is closed, or a closed-off version left open."""
    k = _keys(table)
    return _run(
        con,
        f"SELECT {k}, valid_from, valid_to, is_current FROM history.{q(table)} "
        "WHERE (valid_to IS NOT NULL AND valid_from >= valid_to) "
        "OR (is_current AND valid_to IS NOT NULL) OR (NOT is_current AND valid_to IS NULL)",
    )


def scd2_no_overlap(con: duckdb.DuckDBPyConnection, table: str) -> Violations:
    """Versions of one key whose validity overlaps the next version's (sorted by valid_from,
    any overlap shows up between neighbours)."""
    k = _keys(table)
    return _run(
        con,
        f"SELECT {k}, valid_from, valid_to, next_from FROM ("
        f"SELECT {k}, valid_from, valid_to, lead(valid_from) OVER (PARTITION BY {k} "
        "ORDER BY valid_from, valid_to NULLS LAST) AS next_from "
        f"FROM history.{q(table)}) WHERE next_from IS NOT NULL "
        "AND (valid_to IS NULL OR valid_to > next_from)",
    )


@dataclass(frozen=True)
class ForeignKey:
    table: str
    column: str
    target: str
    target_column: str

    @property
    def name(self) -> str:
        return f"{self.column}_references_{self.target}"


def foreign_keys() -> list[ForeignKey]:
    """References between current rows, derived from the catalog:

    - ``<x>_id`` columns point at table ``<x>s`` when its key is ``id`` (user_id -> users);
    - a fan-out table's call parameter column points at its parent's key
      (device_access_settings.serial_number -> devices).
    """
    all_tables = tables()
    out: dict[tuple[str, str], ForeignKey] = {}

    def cols(name: str) -> dict[str, str]:
        res, child = all_tables[name]
        spec = child.columns if child else res.columns
        extra = [res.fan_out.carry_as] if (res.fan_out and res.fan_out.carry_as and not child) else []
        return {c.name: c.type for c in [*extra, *spec]}

    for name, (res, child) in all_tables.items():
        if res.write_mode is not WriteMode.VERSIONED:
            continue  # events keep ids of users deleted since: not an integrity error
        mine = cols(name)
        for col in mine:
            target = col[: -len("_id")] + "s" if col.endswith("_id") else None
            if target and target != name and target in all_tables and primary_key(target) == ("id",):
                out[(name, col)] = ForeignKey(name, col, target, "id")
        fan = res.fan_out if not child else None
        if fan:
            param = snake(fan.path_param or fan.query_param or "")
            parent_pk = primary_key(fan.parent)
            if param in mine and len(parent_pk) == 1:
                out[(name, param)] = ForeignKey(name, param, fan.parent, parent_pk[0])
    return sorted(out.values(), key=lambda f: (f.table, f.column))


def foreign_key(con: duckdb.DuckDBPyConnection, fk: ForeignKey) -> Violations:
    """Current rows of fk.table whose fk.column names no current row of fk.target."""
    k = _keys(fk.table)
    c, tc = q(fk.column), q(fk.target_column)
    extra = f", {c}" if fk.column not in primary_key(fk.table) else ""
    return _run(
        con,
        f"SELECT {k}{extra} FROM {_current(fk.table)} s WHERE s.{c} IS NOT NULL AND NOT EXISTS "
        f"(SELECT 1 FROM {_current(fk.target)} t WHERE t.{tc} = s.{c})",
    )


def access_log_duplicate_ids(
    con: duckdb.DuckDBPyConnection, day: date | None = None, table: str = "access_logs"
) -> Violations:
    """Event ids stored more than once, optionally within one UTC day (one partition)."""
    k = _keys(table)
    where, params = "", []
    if day is not None:
        start = utc(datetime.combine(day, time()))
        where, params = "WHERE created_at >= ? AND created_at < ?", [start, start + timedelta(days=1)]
    return _run(
        con,
        f"SELECT {k}, count(*) AS copies, min(created_at)::DATE AS day FROM main.{q(table)} {where} "
        f"GROUP BY {k} HAVING count(*) > 1",
        params,
    )


def schema_changes_latest(con: duckdb.DuckDBPyConnection, table: str) -> Violations:
    """Column changes (added, missing, type_changed) recorded by the latest sync of ``table``."""
    return _run(
        con,
        "SELECT column_name, change_kind, old_type, new_type, sync_id FROM meta.schema_changes "
        "WHERE table_name = ? AND sync_id = (SELECT max(sync_id) FROM meta.table_syncs WHERE table_name = ?) "
        "ORDER BY column_name",
        [table, table],
    )


# ---------------------------------------------------------------- which rules apply


@dataclass(frozen=True)
class Rule:
    name: str  # check name, unique per table
    table: str
    description: str
    run: Callable[[duckdb.DuckDBPyConnection], Violations]
    severity: str = "ERROR"  # ERROR or WARN
    blocking: bool = False  # bad data here would spread downstream


def rules_for(table: str) -> list[Rule]:
    """Every rule that applies to ``table``, in a stable order."""
    pk = ", ".join(primary_key(table))
    rules: list[Rule] = []
    if is_versioned(table):
        rules += [
            Rule(
                "primary_key_unique",
                table,
                f"({pk}) is unique among current rows",
                lambda con: pk_unique_current(con, table),
                blocking=True,
            ),
            Rule(
                "scd2_one_current_version",
                table,
                f"at most one is_current version per ({pk})",
                lambda con: scd2_one_current(con, table),
                blocking=True,
            ),
            Rule(
                "scd2_valid_ranges",
                table,
                "valid_from < valid_to on closed versions; only current ones open",
                lambda con: scd2_valid_ranges(con, table),
                blocking=True,
            ),
            Rule(
                "scd2_no_overlapping_versions",
                table,
                f"versions of one ({pk}) never overlap in time",
                lambda con: scd2_no_overlap(con, table),
                blocking=True,
            ),
        ]
    else:
        rules.append(
            Rule(
                "no_duplicate_event_ids",
                table,
                f"({pk}) appears once (per partition and overall)",
                lambda con: access_log_duplicate_ids(con, table=table),
                blocking=True,
            )
        )
    for fk in foreign_keys():
        if fk.table == table:
            inferred = RESOURCES[tables()[fk.target][0].name].inferred
            rules.append(
                Rule(
                    fk.name,
                    table,
                    f"{table}.{fk.column} points at a current {fk.target}.{fk.target_column}"
                    + (" (target endpoint is inferred: warning only)" if inferred else ""),
                    lambda con, fk=fk: foreign_key(con, fk),
                    severity="WARN" if inferred else "ERROR",
                )
            )
    rules.append(
        Rule(
            "column_schema_unchanged",
            table,
            "the latest sync saw no column added, missing or retyped",
            lambda con: schema_changes_latest(con, table),
            severity="WARN",
        )
    )
    return rules
