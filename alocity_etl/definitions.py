"""The single Dagster `Definitions` of alocity-etl (loaded by workspace.yaml)."""

from __future__ import annotations

from dagster import Definitions

from alocity_etl.defs.assets import build_assets
from alocity_etl.defs.jobs import access_logs_job, build_schedules, dimensions_job
from alocity_etl.defs.resources import default_resources
from alocity_etl.settings import env_settings

_settings = env_settings()

defs = Definitions(
    assets=build_assets(_settings),
    jobs=[dimensions_job, access_logs_job],
    schedules=build_schedules(_settings),
    resources=default_resources(),
)
