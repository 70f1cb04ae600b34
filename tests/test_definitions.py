"""The one Definitions loads, and its assets and lineage are derived from the catalog."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg

from alocity_etl.analytics.project import models
from alocity_etl.catalog import CATALOG, tables
from alocity_etl.definitions import defs
from alocity_etl.defs.build import build_definitions
from alocity_etl.settings import Settings
from alocity_etl.warehouse import Warehouse, access_log_days


def test_definitions_load_as_the_workspace_would() -> None:
    dg.Definitions.validate_loadable(defs)


def test_one_asset_per_warehouse_table_with_fan_out_lineage() -> None:
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert set(tables()) <= keys
    for r in CATALOG:
        parents = {p.to_user_string() for p in graph.get(dg.AssetKey(r.name)).parent_keys}
        raw = f"alocity/{r.name}"  # the external source asset of its endpoint (group raw)
        assert parents == ({r.fan_out.parent, raw} if r.fan_out else {raw}), r.name


def test_access_logs_are_daily_partitioned_and_backfill_in_one_run() -> None:
    node = defs.resolve_asset_graph().get(dg.AssetKey("access_logs"))
    assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition)
    assert node.backfill_policy == dg.BackfillPolicy.single_run()


def _schedule(d: dg.Definitions, name: str) -> dg.ScheduleDefinition:
    return next(s for s in d.schedules if s.name == name)  # type: ignore[union-attr]


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"ALOCITY_WAREHOUSE": str(tmp_path / "w.duckdb"), **env})


def _ledger(path: Path, first_event: datetime, complete_reads: dict[date, datetime]) -> None:
    """A warehouse whose ledger says where history starts and when each day was read."""
    with Warehouse.open(path) as wh:
        access_log_days.set_origin(wh.con, datetime(2000, 1, 1, tzinfo=UTC), first_event)
        for day, read_at in complete_reads.items():
            access_log_days.record_read(wh.con, day, read_at, 0, 1)


def test_one_nightly_run_catches_up_every_unsettled_day_and_the_models(tmp_path: Path) -> None:
    # History from 11-20; days through 11-25 read at 11-26 02:00. Three settle days: 11-20..11-22
    # are settled, so the tick of 11-29 reads 11-23..11-29 (today so far) in one run.
    _ledger(
        tmp_path / "w.duckdb",
        datetime(2026, 11, 20, 7, tzinfo=UTC),
        {date(2026, 11, 20) + timedelta(days=i): datetime(2026, 11, 26, 2, tzinfo=UTC) for i in range(6)},
    )
    d = build_definitions(_settings(tmp_path, ALOCITY_ACCESS_LOG_SETTLE_DAYS="3"))
    nightly = _schedule(d, "nightly_sync")
    assert nightly.default_status == dg.DefaultScheduleStatus.RUNNING
    tick = datetime(2026, 11, 29, 2, tzinfo=UTC)
    ctx = dg.build_schedule_context(scheduled_execution_time=tick, repository_def=d.get_repository_def())
    (request,) = nightly.evaluate_tick(ctx).run_requests
    assert nightly.job_name == "sync"
    assert request.tags["dagster/asset_partition_range_start"] == "2026-11-23"
    assert request.tags["dagster/asset_partition_range_end"] == "2026-11-29"
    assert request.tags["alocity/access_logs"] == "catch-up"
    # The partitions begin with the account's first event: no phantom days before it.
    logs = d.resolve_asset_graph().get(dg.AssetKey("access_logs")).partitions_def
    assert logs.get_first_partition_key() == "2026-11-20"
    job = d.resolve_job_def("sync")
    selected = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert selected == set(tables()) | {m.name for m in models() if m.materialized != "ephemeral"}


def test_intraday_schedule_is_off_until_turned_on(tmp_path: Path) -> None:
    off = _schedule(build_definitions(_settings(tmp_path)), "intraday_access_logs")
    assert off.default_status == dg.DefaultScheduleStatus.STOPPED
    on_settings = _settings(tmp_path, ALOCITY_INTRADAY_SYNC="on", ALOCITY_ACCESS_LOG_START="2026-11-01")
    d = build_definitions(on_settings)
    on = _schedule(d, "intraday_access_logs")
    assert on.default_status == dg.DefaultScheduleStatus.RUNNING
    assert (on.cron_schedule, on.job_name) == ("*/15 * * * *", "sync_access_logs")
    tick = datetime(2026, 11, 29, 15, 15, tzinfo=UTC)
    ctx = dg.build_schedule_context(scheduled_execution_time=tick, repository_def=d.get_repository_def())
    (request,) = on.evaluate_tick(ctx).run_requests
    assert request.partition_key == "2026-11-29" and request.tags["alocity/access_logs"] == "intraday"
