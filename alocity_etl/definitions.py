"""The single Dagster `Definitions` of alocity-etl (loaded by workspace.yaml).

With ALOCITY_MODELS=off there is no dbt model (and dbt is not imported: ~2.5 s less per
process that loads these Definitions); a sync then writes the tables only.
"""

from __future__ import annotations

from dagster import Definitions

from alocity_etl.defs import checks as quality
from alocity_etl.defs import sensors as alerting
from alocity_etl.defs.assets import build_assets, build_raw_sources
from alocity_etl.defs.jobs import access_logs_job, build_schedules, dimensions_job, sync_job
from alocity_etl.defs.resources import default_resources
from alocity_etl.settings import env_settings

_settings = env_settings()
_models: list = []
_model_jobs: list = []
_model_sensors: list = []
if _settings.models:
    from alocity_etl.defs.analytics import build_analytics_assets, build_refresh

    _models = [build_analytics_assets(_settings.warehouse)]
    refresh_models_job, refresh_models_after_sync = build_refresh(_models[0])
    _model_jobs, _model_sensors = [refresh_models_job], [refresh_models_after_sync]

defs = Definitions(
    assets=[*build_raw_sources(), *build_assets(_settings), *_models, *alerting.assets],
    asset_checks=[*quality.asset_checks, *alerting.asset_checks],
    sensors=[*alerting.sensors, *quality.sensors, *_model_sensors],
    jobs=[sync_job, dimensions_job, access_logs_job, *_model_jobs],
    schedules=build_schedules(_settings),
    resources=default_resources(),
)
