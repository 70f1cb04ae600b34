"""Dagster resources: the Alocity API client and the DuckDB warehouse."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import fields
from pathlib import Path

from dagster import ConfigurableResource, EnvVar, InitResourceContext

from alocity_etl.client import AlocityClient, ClientSettings, Secret
from alocity_etl.defs.accounts import run_accounts
from alocity_etl.settings import ApiSettings, Settings
from alocity_etl.sync.lock import sync_lock

# The settings the resource carries as they are (the key, the state URL and the cache dir
# change form: secrets through EnvVar, paths as text).
API_FIELDS = tuple(
    f.name for f in fields(ApiSettings) if f.name not in ("access_key", "state_url", "cache_dir")
)


class AlocityApi(ConfigurableResource):
    """The Alocity account, configured from the settings tree; the access key comes from
    `EnvVar("ALOCITY_ACCESS_KEY")`, never from config."""

    base_url: str
    access_key: str
    rate_limit: str
    page_size: int
    cache_dir: str
    state_url: str | None = None  # may carry a password: EnvVar("ALOCITY_STATE_URL")
    connect_timeout_s: float
    read_timeout_s: float
    max_attempts: int
    retry_max_seconds: float
    retry_backoff_s: float
    concurrency: int

    def client_settings(self) -> ClientSettings:
        values = {name: getattr(self, name) for name in API_FIELDS}
        secret_url = Secret(self.state_url) if self.state_url else None
        api = ApiSettings(
            access_key=Secret(self.access_key), cache_dir=Path(self.cache_dir), state_url=secret_url, **values
        )
        return api.client()

    def client(self) -> AlocityClient:
        return AlocityClient(self.client_settings())


class WarehouseResource(ConfigurableResource):
    """The DuckDB warehouse file (`ALOCITY_WAREHOUSE`, default warehouse/alocity.duckdb)."""

    path: str
    lock_timeout_s: float = 120.0  # wait this long for a file held by an analyst or another writer


class SyncGuard(ConfigurableResource):
    """The warehouse's sync lock for a run's whole duration, however the run was launched (UI,
    schedule, `dagster job execute`; already held when `alocity-etl sync` runs it, see
    sync_lock.py), so two syncs never interleave their snapshots. Only the loading assets take
    it: sensors and checks read the warehouse resource without waiting on a sync."""

    warehouse: WarehouseResource
    wait_s: float = 3600.0  # wait this long for another sync of the file (ALOCITY_SYNC_WAIT_S)

    @contextmanager
    def yield_for_execution(self, context: InitResourceContext) -> Iterator[SyncGuard]:
        log = context.log.info if context.log is not None else logging.getLogger(__name__).info
        with sync_lock(self.warehouse.path, self.wait_s, log):
            yield self


class AccountsSyncGuard(ConfigurableResource):
    """With an accounts file: the sync lock of each account the run covers (its partition
    tags say which), taken in name order so two runs never wait on each other in a circle."""

    warehouses: dict[str, str]  # account -> its warehouse file
    wait_s: float = 3600.0

    @contextmanager
    def yield_for_execution(self, context: InitResourceContext) -> Iterator[AccountsSyncGuard]:
        log = context.log.info if context.log is not None else logging.getLogger(__name__).info
        tags = context.run.tags if context.run is not None else {}
        with ExitStack() as stack:
            for name in run_accounts(tags, sorted(self.warehouses)):
                stack.enter_context(sync_lock(self.warehouses[name], self.wait_s, log))
            yield self


def default_resources(settings: Settings) -> dict[str, ConfigurableResource]:
    if settings.multi_account:
        # Each account's key is read with the settings from its own variable; there is no
        # one `alocity` resource. Checks and models read each account's warehouse themselves.
        return {
            "accounts_sync_guard": AccountsSyncGuard(
                warehouses={a.name: a.warehouse.path for a in settings.accounts},
                wait_s=settings.sync.sync_wait_s,
            ),
            "warehouse": WarehouseResource(
                path=settings.warehouse.path, lock_timeout_s=settings.warehouse.lock_timeout_s
            ),
        }
    api, wh = settings.api, settings.warehouse
    warehouse = WarehouseResource(path=wh.path, lock_timeout_s=wh.lock_timeout_s)
    return {
        "alocity": AlocityApi(
            # Secrets through EnvVar: Dagster resolves them at run time and never shows them.
            access_key=EnvVar("ALOCITY_ACCESS_KEY"),
            state_url=EnvVar("ALOCITY_STATE_URL") if api.state_url else None,
            cache_dir=str(api.cache_dir),
            **{name: getattr(api, name) for name in API_FIELDS},
        ),
        "warehouse": warehouse,
        "sync_guard": SyncGuard(warehouse=warehouse, wait_s=settings.sync.sync_wait_s),
    }
