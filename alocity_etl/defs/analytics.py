"""Dagster glue for the dbt project in sql/: the models as assets, dbt tests as asset checks.

dagster-dbt renders the project (``@dbt_assets`` over its manifest): every dbt model is an
asset of group ``analytics`` keyed by its name, every dbt source is mapped onto the product's
own table asset (``source('alocity', 'users')`` and ``source('alocity_history', 'users')``
are both the asset ``users``), so the lineage reads raw -> tables -> models without a break;
dbt tests are asset checks, a model's on the model, a source's (keys and references, from
the catalog) on the table.

All models are one step (one ``dbt build``, run in-process by `analytics.dbt_run`: see there
why not dagster-dbt's CLI resource), taking the loads' pool so it never competes with a sync
for the file. A sync (job ``sync``) runs it last, in the same run as the tables; a run that
selects no model (``alocity-etl sync --select users``) skips dbt. After an ad-hoc
``sync_dimensions`` / ``sync_access_logs`` run the sensor ``refresh_models_after_sync``
starts ``refresh_models``. A model that fails, or an error-severity test, fails the step
with dbt's message in one line; what dbt built before stays, and so do the tables.
"""

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AssetSpec,
    DagsterRunStatus,
    DefaultSensorStatus,
    Failure,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    RunStatusSensorContext,
    TableColumn,
    TableSchema,
    define_asset_job,
    in_process_executor,
    run_status_sensor,
)
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject, dbt_assets

from alocity_etl.analytics.dbt_run import BuildResult, build, build_many, ensure_manifest
from alocity_etl.analytics.project import PROJECT_DIR, SCHEMA
from alocity_etl.defs.accounts import ACCOUNTS_TAG, run_accounts
from alocity_etl.defs.assets import DBT_TEST_ID, MODELS_GROUP, POOL
from alocity_etl.defs.resources import WarehouseResource
from alocity_etl.warehouse import Warehouse

GROUP = MODELS_GROUP
MODELS_JOB = "refresh_models"
# The sync jobs after which the models are refreshed.
SYNC_JOBS = ("sync_dimensions", "sync_access_logs")


class AlocityDbtTranslator(DagsterDbtTranslator):
    """Sources -> the table assets (``AssetKey(table)``); models -> ``AssetKey(model)``, group analytics."""

    def __init__(self) -> None:
        super().__init__(
            DagsterDbtTranslatorSettings(
                enable_source_tests_as_checks=True,  # key and reference tests show on the tables
                enable_duplicate_source_asset_keys=True,  # main.users and history.users: one asset
            )
        )

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            return spec.replace_attributes(key=AssetKey(props["name"]))
        return spec.replace_attributes(key=AssetKey(props["name"]), group_name=GROUP).merge_attributes(
            metadata={
                "dagster/table_name": f"{SCHEMA}.{props['name']}",
                "path": f"sql/{props['original_file_path']}",
            }
        )

    def get_asset_check_spec(
        self,
        asset_spec: AssetSpec,
        manifest: Mapping[str, Any],
        unique_id: str,
        project: DbtProject | None,
    ) -> AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or asset_spec.group_name == GROUP:
            return spec
        # A table's dbt test runs in the models' step, after every table: were it blocking, the
        # loads downstream of the table would wait for that step, which reads them (a cycle
        # Dagster breaks by splitting the step). The warehouse's own checks block the loads.
        return AssetCheckSpec(
            spec.name,
            asset=spec.asset_key,
            description=spec.description,
            additional_deps=spec.additional_deps,
            blocking=False,
            metadata=spec.metadata,
        )


def _tables(warehouse: WarehouseResource, names: list[str]) -> dict[str, dict[str, Any]]:
    """Row count and column schema of each analytics table just built (read-only, after dbt)."""
    out: dict[str, dict[str, Any]] = {}
    if not names:
        return out
    with Warehouse.open(warehouse.path, read_only=True, lock_timeout=warehouse.lock_timeout_s) as wh:
        for name in names:
            cols = wh.con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() "
                "WHERE database_name = current_database() AND schema_name = ? AND table_name = ? "
                "ORDER BY column_index",
                [SCHEMA, name],
            ).fetchall()
            if not cols:
                continue
            rows = wh.con.execute(f'SELECT count(*) FROM {SCHEMA}."{name}"').fetchall()[0][0]
            out[name] = {
                "dagster/row_count": int(rows),
                "dagster/column_schema": TableSchema(columns=[TableColumn(c, t) for c, t in cols]),
            }
    return out


def _events(
    context: AssetExecutionContext, warehouse: WarehouseResource, result: BuildResult
) -> Iterator[MaterializeResult | AssetCheckResult]:
    built = [m for m in result.models if m.status == "success"]
    tables = _tables(warehouse, [m.name for m in built])
    for m in built:
        yield MaterializeResult(
            asset_key=AssetKey(m.name),
            metadata={**tables.get(m.name, {}), "dbt/unique_id": m.unique_id, "dbt/seconds": m.seconds},
        )
    checks = {k.name: k for k in context.selected_asset_check_keys}
    for t in result.tests:
        key = checks.get(t.name)
        if key is None or t.status == "skipped":
            continue
        yield AssetCheckResult(
            asset_key=key.asset_key,
            check_name=key.name,
            passed=t.status == "pass",
            severity=AssetCheckSeverity.WARN if t.status == "warn" else AssetCheckSeverity.ERROR,
            description=None if t.status == "pass" else t.message,
            metadata={DBT_TEST_ID: t.unique_id, "dbt/status": t.status, "failed_rows": t.failures or 0},
        )


def _accounts_events(
    context: AssetExecutionContext, results: dict[str, BuildResult], warehouses: dict[str, WarehouseResource]
) -> Iterator[MaterializeResult | AssetCheckResult]:
    """With an accounts file: one materialization per model and one result per test for the
    run's accounts together (a test passes when it passes on every account)."""
    rows: dict[str, dict[str, int]] = {}
    for account, result in results.items():
        built = [m.name for m in result.models if m.status == "success"]
        for name, meta in _tables(warehouses[account], built).items():
            rows.setdefault(name, {})[account] = meta["dagster/row_count"]
    for name, per in rows.items():
        yield MaterializeResult(
            asset_key=AssetKey(name),
            metadata={"dagster/row_count": sum(per.values()), "by_account": MetadataValue.json(per)},
        )
    checks = {k.name: k for k in context.selected_asset_check_keys}
    outcomes: dict[str, list[tuple[str, Any]]] = {}
    for account, result in results.items():
        for t in result.tests:
            if t.name in checks and t.status != "skipped":
                outcomes.setdefault(t.name, []).append((account, t))
    for name, per in outcomes.items():
        bad = [(a, t) for a, t in per if t.status != "pass"]
        worst = "fail" if any(t.status != "warn" for _, t in bad) else "warn"
        yield AssetCheckResult(
            asset_key=checks[name].asset_key,
            check_name=name,
            passed=not bad,
            severity=AssetCheckSeverity.WARN if worst == "warn" else AssetCheckSeverity.ERROR,
            description="; ".join(f"{a}: {t.message}" for a, t in bad) or None,
            metadata={
                DBT_TEST_ID: per[0][1].unique_id,
                "dbt/status": "pass" if not bad else worst,
                "failed_rows": sum(t.failures or 0 for _, t in bad),
            },
        )


def build_analytics_assets(
    warehouse_path: str,
    project_dir: Path = PROJECT_DIR,
    accounts: dict[str, WarehouseResource] | None = None,
    workers: int | None = None,
):
    """The dbt models as one multi-asset, from the project's manifest (parsed now if missing
    or stale). ``project_dir``: another copy of the project (tests). With an accounts file,
    ``accounts`` (each account's warehouse): a run builds the models of each account its
    partition tags cover, in `workers` processes (`build_many`; default one per core)."""
    manifest = ensure_manifest(warehouse_path, project_dir)
    if accounts:
        return _accounts_models(manifest, project_dir, accounts, workers)

    @dbt_assets(
        manifest=manifest,
        project=DbtProject(project_dir=project_dir),
        dagster_dbt_translator=AlocityDbtTranslator(),
        name="analytics_models",
        pool=POOL,
    )
    def analytics_models(context: AssetExecutionContext, warehouse: WarehouseResource):
        chosen = sorted(k.path[-1] for k in context.selected_asset_keys)
        if not chosen:
            context.log.info("no analytics model selected: dbt does not run (its tests run with the models)")
            return
        # Wait, as the loads do, for a reader or another writer to let go of the file.
        Warehouse.open(warehouse.path, lock_timeout=warehouse.lock_timeout_s).close()
        every = {k.path[-1] for k in context.assets_def.keys}
        result = build(
            warehouse.path,
            None if set(chosen) == every else chosen,
            log=context.log.debug,  # one line per node; the summary below
            project_dir=project_dir,
        )
        ran = {status: sum(t.status == status for t in result.tests) for status in ("pass", "warn", "fail")}
        context.log.info(
            f"dbt build: {result.seconds:.1f} s, {sum(m.status == 'success' for m in result.models)} of "
            f"{len(result.models)} models built, tests {ran['pass']} passed, {ran['warn']} warned, "
            f"{ran['fail']} failed"
        )
        yield from _events(context, warehouse, result)
        if not result.success:
            raise Failure(description=result.failure())

    return analytics_models


def _accounts_models(
    manifest, project_dir: Path, accounts: dict[str, WarehouseResource], workers: int | None
):
    @dbt_assets(
        manifest=manifest,
        project=DbtProject(project_dir=project_dir),
        dagster_dbt_translator=AlocityDbtTranslator(),
        name="analytics_models",
        # no pool, as the loads of many accounts (defs/assets.py)
    )
    def analytics_models(context: AssetExecutionContext):
        chosen = sorted(k.path[-1] for k in context.selected_asset_keys)
        if not chosen:
            context.log.info("no analytics model selected: dbt does not run (its tests run with the models)")
            return
        every = {k.path[-1] for k in context.assets_def.keys}
        chosen_accounts = run_accounts(context.run.tags, sorted(accounts))
        for account in chosen_accounts:  # wait, as the loads do, for a reader to let go
            Warehouse.open(accounts[account].path, lock_timeout=accounts[account].lock_timeout_s).close()
        results: dict[str, BuildResult] = {}
        paths = {a: accounts[a].path for a in chosen_accounts}
        for account, r in build_many(
            paths, None if set(chosen) == every else chosen, workers=workers, project_dir=project_dir
        ):
            results[account] = r
            context.log.info(
                f"{account}: dbt build {r.seconds:.1f} s, {sum(m.status == 'success' for m in r.models)} of "
                f"{len(r.models)} models built"
            )
        results = {a: results[a] for a in chosen_accounts}  # the accounts' order, not finishing order
        yield from _accounts_events(context, results, accounts)
        failed = [f"{a}: {r.failure()}" for a, r in results.items() if not r.success]
        if failed:
            raise Failure(description="; ".join(failed))

    return analytics_models


def build_refresh(analytics_models, accounts: list[str] | None = None) -> tuple[Any, Any]:
    """The job ``refresh_models`` (every model, and the tables' dbt tests that run with them)
    and the sensor that starts it after each successful per-kind sync run."""
    on_tables = [k for k in analytics_models.check_keys if k.asset_key not in analytics_models.keys]
    job = define_asset_job(
        MODELS_JOB,
        selection=AssetSelection.groups(GROUP) | AssetSelection.checks(*on_tables),
        description="Re-build every analytics model (dbt build of sql/) from the current warehouse.",
        executor_def=in_process_executor,
    )

    @run_status_sensor(
        run_status=DagsterRunStatus.SUCCESS,
        name="refresh_models_after_sync",
        request_job=job,
        default_status=DefaultSensorStatus.RUNNING,
        description="After each successful per-kind sync run, refresh the analytics models.",
    )
    def refresh_models_after_sync(context: RunStatusSensorContext):
        if context.dagster_run.job_name not in SYNC_JOBS:
            return None
        tags = {}
        if accounts:  # the same accounts as the sync
            tags = {ACCOUNTS_TAG: ",".join(run_accounts(context.dagster_run.tags, accounts))}
        return RunRequest(run_key=f"models-after-{context.dagster_run.run_id}", tags=tags)

    return job, refresh_models_after_sync
