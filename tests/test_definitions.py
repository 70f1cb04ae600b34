"""The one Definitions loads, and its assets and lineage are derived from the catalog."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from alocity_etl.analytics.project import models
from alocity_etl.catalog import CATALOG, tables
from alocity_etl.definitions import defs


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


def test_one_nightly_run_syncs_every_table_and_model_for_yesterday() -> None:
    (schedule,) = defs.schedules
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    tick = datetime(2026, 11, 29, 2, tzinfo=UTC)
    ctx = dg.build_schedule_context(scheduled_execution_time=tick, repository_def=defs.get_repository_def())
    (request,) = schedule.evaluate_tick(ctx).run_requests
    assert (schedule.job_name, request.partition_key) == ("sync", "2026-11-28")
    job = defs.resolve_job_def("sync")
    selected = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert selected == set(tables()) | {m.name for m in models() if m.materialized != "ephemeral"}
