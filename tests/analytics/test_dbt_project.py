"""The dbt project and its Dagster rendering: sources generated from the catalog (and kept
current), every model documented and tested, the lineage tables -> models, dbt tests as
checks, the refresh sensor, and a manifest re-made whenever the project changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
from reference import rows

from alocity_etl.analytics import project, sources
from alocity_etl.catalog import tables
from alocity_etl.definitions import defs
from alocity_etl.defs.runs import DbtTests
from alocity_etl.warehouse.quality import foreign_keys

MODELS = {m.name: m for m in project.models() if m.materialized != "ephemeral"}


def test_the_committed_sources_are_generated_from_the_catalog(tmp_path: Path) -> None:
    assert sources.SOURCES_PATH.read_text(encoding="utf-8") == sources.generate(), (
        "sql/models/sources.yml is stale: run .venv/bin/python -m alocity_etl.analytics.sources"
    )
    out = tmp_path / "sources.yml"
    assert sources.main(["--output", str(out), "--check"]) == 1
    assert sources.main(["--output", str(out)]) == 0
    assert sources.main(["--output", str(out), "--check"]) == 0


def test_sources_describe_every_table_and_column_and_test_keys_and_references() -> None:
    import yaml

    doc = yaml.safe_load(sources.generate())
    current = {t["name"]: t for t in doc["sources"][0]["tables"]}
    assert doc["sources"][0]["schema"] == "main" and set(current) == set(tables())
    for name, t in current.items():
        assert t["description"] and all(c["description"] for c in t["columns"]), name
        (key_test,) = t["data_tests"]
        assert list(key_test) == ["primary_key"]
    refs = {
        (t, c["name"]): test["references"]["arguments"]["to"]
        for t, spec in current.items()
        for c in spec["columns"]
        for test in c.get("data_tests", [])
    }
    assert refs == {(fk.table, fk.column): fk.target for fk in foreign_keys()}
    assert refs[("cards", "user_id")] == "users"


def test_every_model_is_documented_column_by_column(world) -> None:
    built = rows(
        world.path,
        "SELECT table_name AS t, list(column_name ORDER BY column_index) AS cols "
        "FROM duckdb_columns() WHERE schema_name = 'analytics' GROUP BY 1",
    )
    assert {r["t"]: r["cols"] for r in built} == {n: [c for c, _ in m.columns] for n, m in MODELS.items()}
    assert all(m.description and all(meaning for _, meaning in m.columns) for m in MODELS.values())


def graph_node(key: str):
    return defs.resolve_asset_graph().get(dg.AssetKey(key))


def test_models_render_as_assets_downstream_of_the_table_assets() -> None:
    every = {m.name: m for m in project.models()}
    for name, m in MODELS.items():
        node = graph_node(name)
        assert node.group_name == "analytics", name
        parents = {p.to_user_string() for p in node.parent_keys}
        assert parents == {t.split(".", 1)[1] for t in project.tables_read(m, every)}, name
    # main.users and history.users are the one table asset users; a model reads through ephemeral ones.
    assert {p.to_user_string() for p in graph_node("user_churn_weekly").parent_keys} == {"users"}
    assert {p.to_user_string() for p in graph_node("after_hours_access").parent_keys} == {
        "access_logs",
        "devices",
        "schedule_users",
        "schedule_windows",
        "sites",
    }
    assert graph_node("users").group_name == "tables"  # the table asset itself, not a dbt source


def test_dbt_tests_are_checks_on_models_and_non_blocking_checks_on_tables() -> None:
    graph = defs.resolve_asset_graph()
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert ("attendance_daily", "attendance_daily_key") in checks
    assert ("users", "source_primary_key_alocity_users_id") in checks
    assert ("cards", "source_references_alocity_cards_user_id__id__users") in checks
    every_model_tested = {name for name, _ in checks if name in MODELS}
    assert every_model_tested == set(MODELS)
    job = defs.resolve_job_def("sync")
    # One step for every model; a table's dbt test never blocks the loads (no split step).
    assert [n.name for n in job.graph.nodes if n.name.startswith("analytics_models")] == ["analytics_models"]
    spec = next(
        s
        for a in defs.assets or []
        if isinstance(a, dg.AssetsDefinition)
        for s in a.check_specs
        if s.name == "source_primary_key_alocity_users_id"
    )
    assert not spec.blocking


@pytest.mark.parametrize(
    ("job", "requested"),
    # The per-kind jobs (UI runs, backfills) are followed by a refresh; `sync` runs the models itself.
    [("sync_dimensions", True), ("sync_access_logs", True), ("refresh_models", False), ("sync", False)],
)
def test_models_refresh_after_each_successful_per_kind_sync(job: str, requested: bool) -> None:
    refresh_models_after_sync = defs.resolve_sensor_def("refresh_models_after_sync")
    run = dg.DagsterRun(job_name=job, run_id=f"run-{job}", status=dg.DagsterRunStatus.SUCCESS)
    event = dg.DagsterEvent(event_type_value=dg.DagsterEventType.RUN_SUCCESS.value, job_name=job)
    ctx = dg.build_run_status_sensor_context(
        sensor_name=refresh_models_after_sync.name,
        dagster_instance=dg.DagsterInstance.ephemeral(),
        dagster_run=run,
        dagster_event=event,
    )
    request = refresh_models_after_sync(ctx)
    assert (request is not None) == requested
    if requested:
        assert request.run_key == f"models-after-run-{job}"
    refresh = defs.resolve_job_def("refresh_models")
    assert ("users", "source_primary_key_alocity_users_id") in {
        (k.asset_key.to_user_string(), k.name) for k in refresh.asset_layer.asset_graph.asset_check_keys
    }


def test_the_manifest_is_remade_when_the_project_changes(tmp_path: Path) -> None:
    copy = tmp_path / "sql"
    shutil.copytree(project.PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs"))
    before = project.fingerprint(copy)
    assert before == project.fingerprint(project.PROJECT_DIR)  # same files, same fingerprint
    (copy / "target").mkdir()
    (copy / "target" / "run_results.json").write_text("{}")  # dbt's own output does not count
    assert project.fingerprint(copy) == before
    model = copy / "models" / "daily_door_activity.sql"
    model.write_text(model.read_text() + "\n")
    assert project.fingerprint(copy) != before
    assert not project.is_current(project.fingerprint(copy), copy)


def test_the_dbt_test_line_of_the_sync_summary() -> None:
    tests = DbtTests(passed=40, warned=["schedule_windows_every_cron_understood (2 rows)"])
    assert tests.ran == 41
    assert tests.line() == (
        "dbt tests: 40 passed, 1 warned, 0 failed (WARN schedule_windows_every_cron_understood (2 rows))"
    )


def test_with_models_off_the_definitions_hold_no_dbt_model_and_never_import_dbt(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    code = (
        "import sys; from alocity_etl.definitions import defs; "
        "keys = defs.resolve_asset_graph().get_all_asset_keys(); "
        "print(sorted(k.to_user_string() for k in keys if k.to_user_string() in sys.argv[1:]), "
        "'dagster_dbt' in sys.modules, 'dbt' in sys.modules, "
        "[j.name for j in defs.resolve_all_job_defs() if j.name == 'refresh_models'])"
    )
    env = {**os.environ, "ALOCITY_MODELS": "off", "ALOCITY_WAREHOUSE": str(tmp_path / "w.duckdb")}
    out = subprocess.run(
        [sys.executable, "-c", code, *MODELS], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip() == "[] False False []", out.stderr[-2000:]
