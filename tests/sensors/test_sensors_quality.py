"""Data-quality rules (warehouse/quality.py) and their Dagster wrappers (defs/checks.py):
pass on a clean warehouse, fail on each deliberate corruption."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest
from dagster import (
    AssetCheckSeverity,
    AssetKey,
    AssetSelection,
    AssetSpec,
    DagsterInstance,
    Definitions,
    define_asset_job,
)

from alocity_etl.catalog import tables
from alocity_etl.warehouse import Warehouse
from alocity_etl.warehouse import quality as qa


def _violations(path: Path, table: str) -> dict[str, int]:
    with Warehouse.open(path, read_only=True) as wh:
        return {r.name: r.run(wh.con).count for r in qa.rules_for(table)}


def _sql(path: Path, sql: str) -> None:
    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(sql)
    con.close()


def test_rules_are_derived_from_the_catalog() -> None:
    fks = {(f.table, f.column): f.target for f in qa.foreign_keys()}
    assert fks[("cards", "user_id")] == "users"
    assert fks[("cloud_keys", "user_id")] == "users"
    assert fks[("group_members", "user_id")] == "users"
    assert fks[("schedule_users", "user_id")] == "users"
    assert fks[("group_members", "group_id")] == "groups"
    assert fks[("device_access_settings", "serial_number")] == "devices"
    assert not any(t == "access_logs" for t, _ in fks)  # events may name users deleted since
    for table in tables():
        names = [r.name for r in qa.rules_for(table)]
        assert len(names) == len(set(names)) and "column_schema_unchanged" in names


def test_clean_warehouse_passes_every_rule(clean_warehouse: Path) -> None:
    for table in tables():
        bad = {k: v for k, v in _violations(clean_warehouse, table).items() if v}
        assert bad == {}, table
    with Warehouse.open(clean_warehouse, read_only=True) as wh:  # the fixture really has history
        (versions,) = wh.con.execute("SELECT count(*) FROM history.users").fetchone()
        assert versions == 6  # 4 + rename + tombstone


def test_duplicate_current_row(clean_warehouse: Path) -> None:
    _sql(
        clean_warehouse,
        "INSERT INTO history.users SELECT * FROM history.users WHERE is_current AND first_name = 'U1'",
    )
    v = _violations(clean_warehouse, "users")
    assert v["primary_key_unique"] == 1
    assert v["scd2_one_current_version"] == 1
    assert v["scd2_no_overlapping_versions"] == 1


def test_overlapping_versions(clean_warehouse: Path) -> None:
    # Re-open the closed first version of the renamed user: it now overlaps its successor.
    _sql(
        clean_warehouse,
        "UPDATE history.users SET valid_to = valid_to + INTERVAL 1 HOUR WHERE NOT is_current",
    )
    v = _violations(clean_warehouse, "users")
    assert v["scd2_no_overlapping_versions"] >= 1
    assert v["primary_key_unique"] == 0 and v["scd2_one_current_version"] == 0


def test_closed_range_reversed(clean_warehouse: Path) -> None:
    _sql(
        clean_warehouse,
        "UPDATE history.cards SET valid_to = valid_from - INTERVAL 1 DAY WHERE NOT is_current",
    )
    assert _violations(clean_warehouse, "cards")["scd2_valid_ranges"] == 1


def test_orphan_card(clean_warehouse: Path) -> None:
    _sql(
        clean_warehouse,
        "INSERT INTO history.cards (id, card_number, user_id, valid_from, is_current, is_deleted, "
        "row_hash, sync_id) VALUES (999, 1, '00000000-0000-0000-0000-0000000000ff', "
        "TIMESTAMPTZ '2026-11-02', true, false, 'x', 2)",
    )
    with Warehouse.open(clean_warehouse, read_only=True) as wh:
        fk = next(f for f in qa.foreign_keys() if f.table == "cards")
        v = qa.foreign_key(wh.con, fk)
    assert v.count == 1 and v.sample[0]["id"] == "999"


def test_orphan_group_member(clean_warehouse: Path) -> None:
    # Delete a user's current version but leave their membership current.
    _sql(clean_warehouse, "DELETE FROM history.users WHERE first_name = 'Renamed'")
    assert _violations(clean_warehouse, "group_members")["user_id_references_users"] == 1


def test_duplicate_access_log_id(clean_warehouse: Path) -> None:
    _sql(clean_warehouse, "INSERT INTO main.access_logs SELECT * FROM main.access_logs LIMIT 1")
    assert _violations(clean_warehouse, "access_logs")["no_duplicate_event_ids"] == 1
    with Warehouse.open(clean_warehouse, read_only=True) as wh:
        assert qa.access_log_duplicate_ids(wh.con, day=date(2026, 11, 2)).count == 1
        assert qa.access_log_duplicate_ids(wh.con, day=date(2026, 11, 3)).count == 0


def test_schema_change_of_latest_sync(clean_warehouse: Path) -> None:
    _sql(
        clean_warehouse,
        "INSERT INTO meta.schema_changes "
        "VALUES ('users', 'badge_colour', 'added', NULL, 'VARCHAR', 2, now())",
    )
    assert _violations(clean_warehouse, "users")["column_schema_unchanged"] == 1
    # A change recorded by an older sync is history, not news.
    _sql(clean_warehouse, "UPDATE meta.schema_changes SET sync_id = 1")
    assert _violations(clean_warehouse, "users")["column_schema_unchanged"] == 0


def _run_checks(
    path: Path, table: str, lock_timeout_s: float = 120.0
) -> dict[str, tuple[bool, AssetCheckSeverity]]:
    from alocity_etl.defs.checks import build_quality_check
    from alocity_etl.defs.resources import WarehouseResource

    check = build_quality_check(table)
    defs = Definitions(
        assets=[AssetSpec(table)],
        asset_checks=[check],
        jobs=[define_asset_job("checks", selection=AssetSelection.all_asset_checks())],
        resources={"warehouse": WarehouseResource(path=str(path), lock_timeout_s=lock_timeout_s)},
    )
    result = defs.resolve_job_def("checks").execute_in_process(
        instance=DagsterInstance.ephemeral(), raise_on_error=False
    )
    out = {}
    for ev in result.get_asset_check_evaluations():
        out[ev.check_name] = (ev.passed, ev.severity)
        assert ev.asset_key == AssetKey(table)
    return out


@pytest.mark.parametrize("table", ["users", "cards", "access_logs"])
def test_dagster_checks_wrap_the_rules(clean_warehouse: Path, table: str) -> None:
    out = _run_checks(clean_warehouse, table)
    assert set(out) == {r.name for r in qa.rules_for(table)}
    assert all(passed for passed, _ in out.values())


def test_dagster_check_reports_failure_and_severity(clean_warehouse: Path) -> None:
    _sql(
        clean_warehouse,
        "INSERT INTO history.users SELECT * FROM history.users WHERE is_current AND first_name = 'U1'",
    )
    _sql(
        clean_warehouse,
        "INSERT INTO meta.schema_changes VALUES ('users', 'x', 'added', NULL, 'VARCHAR', 2, now())",
    )
    out = _run_checks(clean_warehouse, "users")
    assert out["primary_key_unique"] == (False, AssetCheckSeverity.ERROR)
    assert out["column_schema_unchanged"] == (False, AssetCheckSeverity.WARN)


HOLD_WRITER = (
    "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(2)"
)


def test_dagster_checks_wait_for_a_writer_in_another_process(clean_warehouse: Path) -> None:
    """A second sync's preflight or an analyst's --write session holds the file for a moment:
    the checks wait for it (the warehouse resource's lock_timeout_s) instead of failing."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITER, str(clean_warehouse)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        out = _run_checks(clean_warehouse, "users", lock_timeout_s=30)
        assert time.monotonic() - started > 0.5  # it did wait
        assert set(out) == {r.name for r in qa.rules_for("users")}
        assert all(passed for passed, _ in out.values())
    finally:
        holder.kill()
        holder.wait()
