"""Dagster's SQLite instance storage, with its database connections kept open.

Dagster's `SqliteEventLogStorage` and `SqliteRunStorage` build a new SQLAlchemy engine
(`NullPool`) for every statement and dispose of it afterwards: ~2.7 SQLite connects and
closes per event (78 for a 29-event run), and a full sync writes ~400 events. That time
is spent with no request in flight, so it came straight out of the API budget's window
(benchmarks/api_floor.py, Dagster path: ratio 1.29 with Dagster's classes, ~1.14 with these).

These subclasses change only where connections come from: one engine (a small pool)
per database file, the same files and tables, so a DAGSTER_HOME written by either
works with the other. Run-sharded event logs keep at most `OPEN_RUN_SHARDS` run files
open (least recently used closed first), so a long-lived webserver does not hold every
run's file. A forked child drops its parent's connections instead of sharing them.

Selected in dagster_home/dagster.yaml (`storage: custom:`).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

OPEN_RUN_SHARDS = 8


def _relaxed_sync(dbapi_connection: Any, _record: Any) -> None:
    # Dagster's files are in WAL mode; NORMAL skips the fsync of every commit (~0.3 ms
    # here, three commits an event) and stays corruption-safe: a power cut may lose the
    # last events, never the file.
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class _EngineCache:
    """Engines by connection string, least recently used first; reset in a forked child."""

    def __init__(self, keep: int, **engine_kwargs: Any) -> None:
        self.keep = keep
        self.engine_kwargs = engine_kwargs
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._pinned: set[str] = set()
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def get(self, url: str, pinned: bool = False) -> Engine:
        with self._lock:
            if self._pid != os.getpid():  # the parent's sockets/files are not ours to use
                for engine in self._engines.values():
                    engine.dispose(close=False)
                self._engines.clear()
                self._pid = os.getpid()
            engine = self._engines.get(url)
            if engine is None:
                engine = self._engines[url] = create_engine(url, **self.engine_kwargs)
                event.listen(engine, "connect", _relaxed_sync)
            if pinned:
                self._pinned.add(url)
            else:
                self._engines.move_to_end(url)  # the newest: never among the evicted (keep >= 1)
                unpinned = [u for u in self._engines if u not in self._pinned]
                for old in unpinned[: max(0, len(unpinned) - self.keep)]:
                    self._engines.pop(old).dispose()
            return engine

    def dispose(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` reusing one engine per shard file instead of one per statement."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engine_cache = _EngineCache(
            OPEN_RUN_SHARDS, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
        )
        self._tables_present: set[str] = set()
        super().__init__(base_dir, inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # As the parent's, minus the engine made and disposed of on every call.
        with self._db_lock:
            engine = self._engine_cache.get(
                self.conn_string_for_shard(shard), pinned=shard == INDEX_SHARD_NAME
            )
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        # Asked on every asset event; the parent opens a connection each time. Tables are
        # only ever added (by migrations), so a table once seen stays seen. No _db_lock:
        # this runs inside _connect's transaction too (a second pooled connection).
        if table_name not in self._tables_present:
            engine = self._engine_cache.get(self.conn_string_for_shard(INDEX_SHARD_NAME), pinned=True)
            with engine.connect() as conn:
                if engine.dialect.has_table(conn, table_name):
                    self._tables_present.add(table_name)
        return table_name in self._tables_present

    def wipe(self) -> None:
        self._engine_cache.dispose()  # wipe deletes the shard files
        self._tables_present.clear()
        super().wipe()

    def dispose(self) -> None:
        self._engine_cache.dispose()
        super().dispose()


class PooledSqliteRunStorage(SqliteRunStorage):
    """`SqliteRunStorage` reusing one engine (runs.db) instead of one per statement."""

    def __init__(self, conn_string: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engine_cache = _EngineCache(1)
        super().__init__(conn_string, inst_data)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._engine_cache.get(self._conn_string, pinned=True).connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self._engine_cache.dispose()
        super().dispose()


class PooledSqliteStorage(DagsterSqliteStorage):
    """Dagster's default SQLite layout under `base_dir` (history/, history/runs/, schedules/)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self.base_dir = base_dir
        self._run_storage = PooledSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData, config_value: dict[str, str]
    ) -> PooledSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)
