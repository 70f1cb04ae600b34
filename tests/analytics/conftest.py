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
from datetime import UTC, datetime, timedelta
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


# ------------------------------------------------------------------ the dbt models' world

WORLD_START = "2026-03-10T00:00:00Z"


@dataclass
class World:
    """A warehouse built over eight months of a tiny account, its dbt models built once.

    Sync A (every table) covers the account's first days, 7-9 March 2026: 8 March is the
    spring-forward day in New York (23 hours). 238 simulated days later, sync B (every table)
    covers 28 October - 2 November, with New York's fall-back day (1 November, 25 hours). One
    more simulated day, then sync C reads only `users` (and its `cards`): the other tables keep
    what sync B saw, so some cloud keys are still listed for users deleted since. dbt builds
    every model with `as_of` = the sandbox clock (frozen: only the simulation moves it) and
    `WORLD_VARS` (a burst window wide enough for the tiny account to have bursts).

    `truth[table]` is the sandbox's ground truth (wire rows) as of that table's last sync;
    `seen_users` every user row each sync read, in order; `events` every access-log event of
    the synced windows, read right after each sync; `synced_between` the wall clock before the
    first and after the last sync (the warehouse stamps versions with it)."""

    path: Path
    as_of: datetime
    truth: dict[str, list[dict]]
    seen_users: list[list[dict]]
    events: list[dict]
    synced_between: tuple[datetime, datetime]
    build: object  # alocity_etl.analytics.dbt_run.BuildResult


def _sync_world(sb, path: Path, run_id: str, cache: Path, resources, window) -> None:
    settings = ClientSettings.from_values(
        base_url=sb.base_url, access_key=sb.access_key, rate_limit="100000/1s", cache_dir=str(cache)
    )
    with AlocityClient(settings) as client:
        for res in resources:
            sync_resource(
                client,
                str(path),
                res,
                run_id=run_id,
                window=window if res.write_mode is WriteMode.APPEND else None,
                log=lambda _m: None,
            )
    finish_run(str(path), run_id, True, 0)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from reference import WORLD_VARS

    from alocity_etl.analytics.dbt_run import build

    root = tmp_path_factory.mktemp("world")
    path = root / "alocity.duckdb"
    sb = Sandbox(
        SandboxConfig(preset="tiny", seed=7, rate_limit="none", start=WORLD_START, freeze_clock=True)
    ).serve(port=0)
    truth: dict[str, list[dict]] = {}
    seen_users: list[list[dict]] = []
    events: dict[str, dict] = {}
    first = datetime.now(UTC)
    try:
        for run_id, days_before, resources in (
            ("sync-a", 5, CATALOG),
            ("sync-b", 6, CATALOG),
            ("sync-c", 0, [r for r in CATALOG if r.name == "users"]),
        ):
            if run_id == "sync-b":
                sb.admin.simulate(238)
            if run_id == "sync-c":
                sb.admin.simulate(1)
            now = sb.admin.clock()
            window = (now - timedelta(days=days_before), now)
            _sync_world(sb, path, run_id, root / "cache", resources, window)
            state = sb.admin.ground_truth()
            seen_users.append(state["users"])
            for res in resources:
                for table in [res.name, *(c.name for c in res.children)]:
                    if table != "access_logs":
                        truth[table] = state[table]
            if any(r.name == "access_logs" for r in resources):
                for e in sb.admin.ground_truth(table="access_logs", from_=window[0], to=window[1]):
                    events[e["id"]] = e
        as_of = sb.admin.clock()
    finally:
        sb.stop()
    last = datetime.now(UTC)
    result = build(path, dbt_vars={"as_of": as_of.isoformat(), **WORLD_VARS})
    assert result.success, result.failure()
    yield World(path, as_of, truth, seen_users, list(events.values()), (first, last), result)
