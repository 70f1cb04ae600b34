"""The product's Dagster instance (dagster_home/dagster.yaml): Dagster's SQLite storage,
with connections kept open instead of one new SQLite connection per statement."""

from __future__ import annotations

import multiprocessing
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from alocity_etl.defs.instance_storage import (
    OPEN_RUN_SHARDS,
    PooledSqliteEventLogStorage,
    PooledSqliteRunStorage,
)

REPO = Path(__file__).resolve().parents[1]


@dg.asset
def first() -> int:
    return 1


@dg.asset
def second(first: int) -> int:
    return first + 1


@dg.asset_check(asset=second)
def second_is_positive() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def _instance(home: Path, product_yaml: bool) -> dg.DagsterInstance:
    home.mkdir(parents=True, exist_ok=True)
    if product_yaml:
        shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    else:  # Dagster's own storage classes on the same directory
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return dg.DagsterInstance.from_config(str(home))


def _materialize(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    result = dg.materialize([first, second, second_is_positive], instance=instance)
    assert result.success
    return result


@pytest.fixture
def sqlite_connects() -> Iterator[list[int]]:
    """Counts every new DB-API connection SQLAlchemy opens while the test runs."""
    opened = [0]

    def on_connect(dbapi_con, record) -> None:
        opened[0] += 1

    event.listen(Engine, "connect", on_connect)
    yield opened
    event.remove(Engine, "connect", on_connect)


def test_the_product_instance_reuses_connections_where_dagsters_opens_one_per_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_connects: list[int]
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "pooled"))
    pooled = _instance(tmp_path / "pooled", product_yaml=True)
    assert isinstance(pooled.event_log_storage, PooledSqliteEventLogStorage)
    assert isinstance(pooled.run_storage, PooledSqliteRunStorage)
    _materialize(pooled)  # first run: creates the shard files
    sqlite_connects[0] = 0
    run = _materialize(pooled)
    events = len(pooled.all_logs(run.run_id))
    pooled_connects = sqlite_connects[0]

    stock = _instance(tmp_path / "stock", product_yaml=False)
    _materialize(stock)
    sqlite_connects[0] = 0
    _materialize(stock)
    stock_connects = sqlite_connects[0]

    assert events >= 20
    # The new run's own file (created, then written): a couple of connections, not one per statement.
    assert pooled_connects <= 3, pooled_connects
    assert stock_connects > 2 * events, stock_connects


def test_dagsters_own_storage_reads_what_the_pooled_storage_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dh"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    pooled = _instance(home, product_yaml=True)
    run = _materialize(pooled)
    written = [e.dagster_event.event_type_value for e in pooled.all_logs(run.run_id) if e.dagster_event]

    stock = _instance(home, product_yaml=False)  # overwrites dagster.yaml: same files, stock classes
    assert stock.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.SUCCESS
    read = [e.dagster_event.event_type_value for e in stock.all_logs(run.run_id) if e.dagster_event]
    assert read == written
    mat = stock.get_latest_materialization_event(dg.AssetKey("second"))
    assert mat is not None and mat.run_id == run.run_id
    check = stock.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("second"), "second_is_positive")]
    )
    assert len(check) == 1


def test_open_run_files_stay_bounded_and_closed_ones_reopen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    instance = _instance(tmp_path / "dh", product_yaml=True)
    storage = instance.event_log_storage
    assert isinstance(storage, PooledSqliteEventLogStorage)
    runs = [_materialize(instance).run_id for _ in range(OPEN_RUN_SHARDS + 3)]

    open_files = list(storage._engine_cache._engines)
    assert len(open_files) <= OPEN_RUN_SHARDS + 1  # the run shards plus the index, always kept
    assert any(url.endswith("index.db") for url in open_files)
    assert not any(runs[0] in url for url in open_files)  # the oldest run's file was closed
    assert instance.get_run_by_id(runs[0]).status == dg.DagsterRunStatus.SUCCESS
    per_run = len(instance.all_logs(runs[-1]))
    assert len(instance.all_logs(runs[0])) == per_run  # and reopens

    instance.wipe()  # deletes the run files: nothing may keep writing to an unlinked one
    assert all(url.endswith("index.db") for url in storage._engine_cache._engines)
    after = _materialize(instance).run_id
    assert instance.get_runs() and instance.get_runs()[0].run_id == after
    assert len(instance.all_logs(after)) == per_run


def _child_reads_runs(queue: multiprocessing.Queue) -> None:
    instance, parent_engine = _INHERITED
    runs = len(instance.get_runs())
    engine = instance.run_storage._engine_cache.get(instance.run_storage._conn_string)
    queue.put((runs, engine is parent_engine))


_INHERITED: list = []


def test_a_forked_child_opens_its_own_connections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    instance = _instance(tmp_path / "dh", product_yaml=True)
    _materialize(instance)
    parent_engine = instance.run_storage._engine_cache.get(instance.run_storage._conn_string)
    _INHERITED[:] = [instance, parent_engine]
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_reads_runs, args=(queue,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == (1, False)  # read the runs, on a connection of its own
    # The parent's pooled connections were left alone and still work.
    _materialize(instance)
    assert instance.run_storage._engine_cache.get(instance.run_storage._conn_string) is parent_engine
    assert len(instance.get_runs()) == 2
