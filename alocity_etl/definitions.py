"""The single Dagster `Definitions` of alocity-etl (loaded by workspace.yaml).

`build_definitions(settings)` makes them from one settings object; `defs` is what the
environment says. A run started by `alocity-etl sync` rebuilds them from the settings it
was started with (sync_runner.job_def), so a run never sees another environment's.
"""

from __future__ import annotations

from dagster import Definitions

from alocity_etl.defs import checks as quality
from alocity_etl.defs import sensors as alerting
from alocity_etl.defs.assets import build_assets, build_raw_sources
from alocity_etl.defs.jobs import access_logs_job, build_schedules, dimensions_job, sync_job
from alocity_etl.defs.models import build_model_assets, refresh_models_after_sync, refresh_models_job
from alocity_etl.defs.resources import default_resources
from alocity_etl.settings import PipelineSettings, env_settings


def build_definitions(settings: PipelineSettings) -> Definitions:
    return Definitions(
        assets=[*build_raw_sources(), *build_assets(settings), *build_model_assets(), *alerting.assets],
        asset_checks=[*quality.asset_checks, *alerting.asset_checks],
        sensors=[*alerting.sensors, *quality.sensors, refresh_models_after_sync],
        jobs=[sync_job, dimensions_job, access_logs_job, refresh_models_job],
        schedules=build_schedules(settings),
        resources=default_resources(settings),
    )


defs = build_definitions(env_settings())
