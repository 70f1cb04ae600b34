"""Helpers of the reliability suite: syncs in-process and as CLI subprocesses, consistency checks."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from alocity_etl.catalog import RESOURCES, tables
from alocity_etl.sandbox import RunningSandbox
from alocity_etl.warehouse.quality import rules_for
from tests.support.pipeline import CLI, TODAY, Paths
from tests.support.reconcile import reconcile, snapshot_tables, truth_rows
from tests.support.syncs import last_days, sync_in_process

VERSIONED = [t for t, (r, _) in tables().items() if r.write_mode.value == "versioned"]


def sync(
    sb: RunningSandbox,
    paths: Paths,
    *,
    select: set[str] | None = None,
    days: int | None = 2,
    env: dict[str, str] | None = None,
    key: str | None = None,
):
    """One `run_sync` in this process (as the CLI does it), NOT asserting success."""
    values = paths.env(sb, **(env or {}))  # no dbt model (Paths.env): the load path is tested
    if key is not None:
        values["ALOCITY_ACCESS_KEY"] = key
    return sync_in_process(values, select, None if days is None else last_days(days))


def cli_env(paths: Paths, sb: RunningSandbox | None, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ALOCITY_", "DAGSTER_"))}
    return {**base, **paths.env(sb, **extra)}


def start_cli_sync(args: list[str], env: dict[str, str], **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([CLI, "sync", *args], env=env, text=True, **kw)


def query(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def sync_row(path: Path, run_id: str) -> tuple[int, datetime, str]:
    rows = query(
        path, "SELECT sync_id, started_at, status FROM meta.syncs WHERE dagster_run_id = ?", [run_id]
    )
    assert rows, f"no meta.syncs row for run {run_id}"
    return int(rows[0][0]), rows[0][1], rows[0][2]


def blocking_violations(path: Path) -> list[str]:
    """Every failed blocking quality rule (PK, SCD2 and duplicate-event checks) of every table.

    Foreign keys and schema-drift warnings are cross-resource or informative: a run killed
    between two resources legitimately leaves e.g. a member of a group deleted meanwhile."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        bad = []
        for table in tables():
            for rule in rules_for(table):
                if rule.blocking:
                    v = rule.run(con)
                    if not v.ok:
                        bad.append(f"{table}.{rule.name}: {v.count} e.g. {v.sample[:2]}")
        return bad
    finally:
        con.close()


def resource_tables(resource: str) -> list[str]:
    return [t for t, (r, _) in tables().items() if r.name == resource]


def resource_snapshot(snap: dict, resource: str) -> dict:
    """The part of a `snapshot_tables` result holding a resource's rows (history/main tables)."""
    names = set(resource_tables(resource))
    return {k: v for k, v in snap.items() if k.split(".", 1)[1] in names and not k.startswith("meta.")}


def each_resource_before_or_applied(
    path: Path, before: dict, truth: dict[str, list], window: tuple[datetime, datetime] | None = None
) -> dict[str, str]:
    """For each resource: "before" (its tables hold exactly the rows they held before the run)
    or "applied" (they reconcile with `truth`, the source now). Events are written day by
    day: "days" = some days written, each row present equal to the source, none duplicated.
    Raises AssertionError when none holds."""
    after = snapshot_tables(path)
    out: dict[str, str] = {}
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        for name, res in RESOURCES.items():
            if resource_snapshot(after, name) == resource_snapshot(before, name):
                out[name] = "before"
                continue
            only = [t for t in resource_tables(name) if t in truth]
            assert only, f"{name} changed but the test has no ground truth for it"
            rec = reconcile(con, truth, window=window, only=only)
            if res.write_mode.value == "append" and not rec.ok:
                partial = rec.rows_duplicated + rec.rows_mismatched + rec.rows_unexpected
                assert partial == 0, f"{name}: written days differ from the source:\n{rec.describe()}"
                out[name] = "days"
                continue
            assert rec.ok, f"{name} is neither as before nor fully applied:\n{rec.describe()}"
            out[name] = "applied"
    finally:
        con.close()
    return out


def version_changes(before: list[dict], after: list[dict], table: str) -> dict[str, int]:
    """inserted/updated/deleted keys of a versioned table between two ground-truth states."""
    b = dict(truth_rows(table, before))
    a = dict(truth_rows(table, after))
    return {
        "inserted": len(a.keys() - b.keys()),
        "deleted": len(b.keys() - a.keys()),
        "updated": sum(1 for k in a.keys() & b.keys() if a[k] != b[k]),
    }


def log_window(days: int) -> tuple[datetime, datetime]:
    from datetime import timedelta

    return (TODAY - timedelta(days=days), TODAY)
