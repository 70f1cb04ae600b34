"""The one Definitions loads, and its assets and lineage are derived from the catalog."""

from __future__ import annotations

import dagster as dg

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


def test_nightly_schedules_run_by_default() -> None:
    names = {s.name: s for s in defs.schedules}
    assert set(names) == {"nightly_dimensions", "nightly_access_logs"}
    assert all(s.default_status == dg.DefaultScheduleStatus.RUNNING for s in names.values())
