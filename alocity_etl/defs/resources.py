"""Dagster resources: the Alocity API client and the DuckDB warehouse."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster import ConfigurableResource, EnvVar, InitResourceContext

from alocity_etl.client import AlocityClient, ClientSettings, Secret
from alocity_etl.client.settings import parse_rate_limit
from alocity_etl.settings import Settings
from alocity_etl.sync.lock import sync_lock


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
    concurrency: int

    def client_settings(self) -> ClientSettings:
        limit, window = parse_rate_limit(self.rate_limit)
        return ClientSettings(
            access_key=Secret(self.access_key),
            base_url=self.base_url,
            rate_limit=limit,
            rate_window_s=window,
            page_size=self.page_size,
            cache_dir=Path(self.cache_dir),
            state_url=Secret(self.state_url) if self.state_url else None,
            connect_timeout_s=self.connect_timeout_s,
            read_timeout_s=self.read_timeout_s,
            max_attempts=self.max_attempts,
            retry_max_seconds=self.retry_max_seconds,
            concurrency=self.concurrency,
        )

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


def default_resources(settings: Settings) -> dict[str, ConfigurableResource]:
    api, wh = settings.api, settings.warehouse
    warehouse = WarehouseResource(path=wh.path, lock_timeout_s=wh.lock_timeout_s)
    return {
        "alocity": AlocityApi(
            base_url=api.base_url,
            access_key=EnvVar("ALOCITY_ACCESS_KEY"),
            rate_limit=api.rate_limit,
            page_size=api.page_size,
            cache_dir=str(api.cache_dir),
            state_url=EnvVar("ALOCITY_STATE_URL") if api.state_url else None,
            connect_timeout_s=api.connect_timeout_s,
            read_timeout_s=api.read_timeout_s,
            max_attempts=api.max_attempts,
            retry_max_seconds=api.retry_max_seconds,
            concurrency=api.concurrency,
        ),
        "warehouse": warehouse,
        "sync_guard": SyncGuard(warehouse=warehouse, wait_s=settings.sync.sync_wait_s),
    }
