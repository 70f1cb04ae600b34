"""Dagster assets for the analytics models (sql/models/*.sql -> analytics.<name>).

One asset per model in group ``analytics``; its deps come from parsing the SQL
(alocity_etl.models), so the lineage graph reads raw -> tables -> analytics without a
hand-kept list. All models are one subsettable step: a refresh of several models is one
transaction (readers see all of it or none), and the step takes the same pool as the
loads, so it never competes with a sync for the file.

A sync (job ``sync``, defs/jobs.py) runs them last, in the same run as the tables. After an
ad-hoc run of ``sync_dimensions`` or ``sync_access_logs`` the sensor
``refresh_models_after_sync`` starts ``refresh_models``, so they always see the new rows.
"""

from collections.abc import Iterator

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AssetSpec,
    DagsterRunStatus,
    DefaultSensorStatus,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    RunStatusSensorContext,
    TableColumn,
    TableSchema,
    define_asset_job,
    in_process_executor,
    multi_asset,
    run_status_sensor,
)

from alocity_etl.defs.assets import POOL
from alocity_etl.defs.resources import WarehouseResource
from alocity_etl.models import SCHEMA, Model, discover, materialise

GROUP = "analytics"
MODELS_JOB = "refresh_models"
# The sync jobs after which the models are refreshed.
SYNC_JOBS = ("sync_dimensions", "sync_access_logs")


def _spec(m: Model) -> AssetSpec:
    return AssetSpec(
        key=m.name,
        deps=[AssetKey(d) for d in m.deps] + [AssetKey(d) for d in m.model_deps],
        description=f"{m.description}\n\nTable `{SCHEMA}.{m.name}`, from `sql/models/{m.path.name}`.",
        group_name=GROUP,
        kinds={"duckdb", "sql"},
        skippable=True,
        metadata={
            "dagster/table_name": f"{SCHEMA}.{m.name}",
            "sql": MetadataValue.md(f"```sql\n{m.body}\n```"),
            "reads": MetadataValue.md("\n".join(f"- `{t}`" for t in m.tables)),
            "path": f"sql/models/{m.path.name}",
        },
    )


def build_model_assets() -> list:
    """The analytics models as one subsettable multi-asset (one asset per model)."""
    models = discover()
    if not models:
        return []
    by_name = {m.name: m for m in models}

    @multi_asset(
        name="refresh_analytics_models",
        specs=[_spec(m) for m in models],
        can_subset=True,
        pool=POOL,
        description="Materialise the selected sql/models into analytics.* in one transaction.",
    )
    def _models(context: AssetExecutionContext, warehouse: WarehouseResource) -> Iterator[MaterializeResult]:
        chosen = [k.path[-1] for k in context.selected_asset_keys]
        done = materialise(warehouse.path, chosen, lock_timeout=warehouse.lock_timeout_s)
        for name, r in done.items():
            yield MaterializeResult(
                asset_key=name,
                metadata={
                    "dagster/row_count": r.rows,
                    "dagster/column_schema": TableSchema(columns=[TableColumn(c, t) for c, t in r.columns]),
                    "sql": MetadataValue.md(f"```sql\n{by_name[name].body}\n```"),
                },
            )

    return [_models]


refresh_models_job = define_asset_job(
    MODELS_JOB,
    selection=AssetSelection.groups(GROUP),
    description="Re-materialise every analytics model (sql/models) from the current warehouse.",
    executor_def=in_process_executor,
)


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    name="refresh_models_after_sync",
    request_job=refresh_models_job,
    default_status=DefaultSensorStatus.RUNNING,
    description="After each successful sync run, refresh the analytics models.",
)
def refresh_models_after_sync(context: RunStatusSensorContext):
    if context.dagster_run.job_name not in SYNC_JOBS:
        return None
    return RunRequest(run_key=f"models-after-{context.dagster_run.run_id}")
