"""`build_definitions`: the one `Definitions` of alocity-etl, made from one settings tree.

`alocity_etl/definitions.py` (what workspace.yaml loads) builds them from the environment;
`run_sync` from the settings it is given (and, in the crash-safety tests, with write
hooks that stop it at a chosen point).
"""

from __future__ import annotations

import os

from dagster import Definitions

from alocity_etl.defs.accounts import account_days, run_blocks
from alocity_etl.defs.assets import build_assets, build_raw_sources
from alocity_etl.defs.checks import build_checks
from alocity_etl.defs.jobs import build_jobs, build_schedules
from alocity_etl.defs.resources import WarehouseResource, default_resources
from alocity_etl.defs.sensors import build_monitoring
from alocity_etl.settings import Settings
from alocity_etl.warehouse.write_hooks import NO_HOOKS, WriteHooks


def build_definitions(settings: Settings, hooks: WriteHooks = NO_HOOKS) -> Definitions:
    jobs = build_jobs(settings)
    checks = build_checks(settings)
    monitoring = build_monitoring(settings)
    # With an accounts file the access logs are partitioned by account x day.
    partitions = account_days(settings) if settings.multi_account else None
    models, model_jobs, model_sensors = [], [], []
    if settings.sync.models:  # off: dbt is not even imported (~2.5 s less per process)
        from alocity_etl.defs.analytics import build_analytics_assets, build_refresh

        if settings.multi_account:
            accounts = {
                a.name: WarehouseResource(path=a.warehouse.path, lock_timeout_s=a.warehouse.lock_timeout_s)
                for a in settings.accounts
            }
            # The runs of a night go side by side: their dbt builds share the cores.
            workers = max(1, (os.cpu_count() or 1) // len(run_blocks(settings, settings.account_names())))
            first = settings.accounts[0].warehouse.path
            models = [build_analytics_assets(first, accounts=accounts, workers=workers)]
        else:
            models = [build_analytics_assets(settings.warehouse.path)]
        refresh_job, refresh_sensor = build_refresh(models[0], settings.account_names() or None)
        model_jobs, model_sensors = [refresh_job], [refresh_sensor]
    return Definitions(
        assets=[
            *build_raw_sources(),
            *build_assets(settings, hooks, partitions),
            *models,
            *monitoring.assets,
        ],
        asset_checks=[*checks.asset_checks, *monitoring.asset_checks],
        sensors=[*monitoring.sensors, *checks.sensors, *model_sensors],
        jobs=[*jobs.all(), *model_jobs],
        schedules=build_schedules(settings, jobs),
        resources=default_resources(settings),
    )
