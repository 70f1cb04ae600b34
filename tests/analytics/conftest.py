"""A warehouse built by two real syncs of a tiny sandbox (one module of tests shares it).

Sync 1 loads the account, the sandbox then simulates 10 days (users come and go, keys
expire, doors are used), sync 2 loads it again: history.users holds versions and
tombstones, access_logs holds both periods. Each resource goes through
`alocity_etl.sync.pipeline.sync_resource` in catalog order, over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from alocity_etl.catalog import CATALOG, WriteMode
from alocity_etl.client import AlocityClient, ClientSettings
from alocity_etl.sandbox import Sandbox, SandboxConfig
from alocity_etl.sync.pipeline import finish_run, sync_resource
from alocity_etl.warehouse import Warehouse


@dataclass
class Built:
    path: Path
    users_after: dict[int, int]  # sync id -> current users right after it

    def copy(self, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.path, dest)
        return dest


def _sync(sb, path: Path, run_id: str, cache: Path) -> int:
    settings = ClientSettings.from_values(
        base_url=sb.base_url, access_key=sb.access_key, rate_limit="100000/1s", cache_dir=str(cache)
    )
    sync_id = 0
    with AlocityClient(settings) as client:
        for res in CATALOG:
            window = None
            if res.write_mode is WriteMode.APPEND:
                now = sb.admin.clock()
                window = (now - timedelta(days=4), now)
            sync_id = sync_resource(
                client, str(path), res, run_id=run_id, window=window, log=lambda _m: None
            ).sync_id
    finish_run(str(path), run_id, True, 0)
    return sync_id


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    root = tmp_path_factory.mktemp("analytics")
    path = root / "alocity.duckdb"
    # Sandbox clock = today, so "now()" in the models and in the account agree.
    sb = Sandbox(SandboxConfig(preset="tiny", seed=7, rate_limit="none")).serve(port=0)
    try:
        users: dict[int, int] = {}
        for run in ("run-1", "run-2"):
            if run == "run-2":
                sb.admin.simulate(10)
            sid = _sync(sb, path, run, root / "cache")
            with Warehouse.open(path, read_only=True) as wh:
                users[sid] = wh.con.execute("SELECT count(*) FROM main.users").fetchall()[0][0]
    finally:
        sb.stop()
    yield Built(path, users)


@pytest.fixture
def warehouse(built: Built, tmp_path: Path) -> Path:
    """A private copy of the built warehouse (tests may write to it)."""
    return built.copy(tmp_path / "wh" / "alocity.duckdb")
