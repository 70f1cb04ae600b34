"""The single Dagster `Definitions` of alocity-etl (loaded by workspace.yaml)."""

from __future__ import annotations

from dagster import Definitions

from alocity_etl.defs import checks as quality
from alocity_etl.defs import sensors as alerting
from alocity_etl.defs.analytics import build_analytics_assets, build_refresh
from alocity_etl.defs.assets import build_assets, build_raw_sources
from alocity_etl.defs.jobs import access_logs_job, build_schedules, dimensions_job, sync_job
from alocity_etl.defs.resources import default_resources
from alocity_etl.settings import env_settings

_settings = env_settings()
_models = build_analytics_assets(_settings.warehouse)
refresh_models_job, refresh_models_after_sync = build_refresh(_models)

defs = Definitions(
    assets=[*build_raw_sources(), *build_assets(_settings), _models, *alerting.assets],
    asset_checks=[*quality.asset_checks, *alerting.asset_checks],
    sensors=[*alerting.sensors, *quality.sensors, refresh_models_after_sync],
    jobs=[sync_job, dimensions_job, access_logs_job, refresh_models_job],
    schedules=build_schedules(_settings),
    resources=default_resources(),
)
