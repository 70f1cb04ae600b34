"""Dagster resources: the Alocity API client and the DuckDB warehouse."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from dagster import ConfigurableResource, EnvVar, InitResourceContext

from alocity_etl.client import AlocityClient, ClientSettings
from alocity_etl.settings import PipelineSettings
from alocity_etl.sync_lock import sync_lock


class AlocityApi(ConfigurableResource):
    """The Alocity account. The access key comes from `EnvVar("ALOCITY_ACCESS_KEY")`, never config."""

    base_url: str
    access_key: str
    rate_limit: str = "100"
    page_size: int = 500
    cache_dir: str | None = None

    def settings(self) -> ClientSettings:
        # The resource's config wins; the client's other variables (ALOCITY_READ_TIMEOUT,
        # ALOCITY_CONNECT_TIMEOUT, ALOCITY_MAX_ATTEMPTS, ALOCITY_RETRY_MAX_SECONDS,
        # ALOCITY_CONCURRENCY) are read
        # from the environment as everywhere else, instead of being silently ignored.
        env = {
            **os.environ,
            "ALOCITY_BASE_URL": self.base_url,
            "ALOCITY_ACCESS_KEY": self.access_key,
            "ALOCITY_RATE_LIMIT": str(self.rate_limit),
            "ALOCITY_PAGE_SIZE": str(self.page_size),
        }
        if self.cache_dir:
            env["ALOCITY_CACHE_DIR"] = self.cache_dir
        return ClientSettings.from_env(env)

    def client(self) -> AlocityClient:
        return AlocityClient(self.settings())


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


def default_resources(env: PipelineSettings) -> dict[str, ConfigurableResource]:
    warehouse = WarehouseResource(path=env.warehouse, lock_timeout_s=env.lock_timeout_s)
    return {
        "alocity": AlocityApi(
            base_url=env.base_url,
            access_key=EnvVar("ALOCITY_ACCESS_KEY"),
            rate_limit=env.rate_limit,
            page_size=env.page_size,
            cache_dir=env.cache_dir,
        ),
        "warehouse": warehouse,
        "sync_guard": SyncGuard(warehouse=warehouse, wait_s=env.sync_wait_s),
    }
