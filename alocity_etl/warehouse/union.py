"""Several accounts' warehouses as one read-only database: `alocity-etl sql --all-accounts`.

Each account's file is attached read-only under the account's name (``hq.main.users``), and
every table or view of the schemas analysts query (main, history, analytics, meta) is a
view of the same name over all of them, with an ``account`` column first:
``SELECT account, count(*) FROM users GROUP BY 1`` answers across accounts. An account
whose file lacks a table (older schema, no models yet) is left out of that view, not an
error. The files are held only while the query runs, like a single warehouse.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import duckdb

from alocity_etl.warehouse.connection import (
    WarehouseLockedError,
    WarehousePathError,
    check_header,
    translate_error,
)

SCHEMAS = ("main", "history", "analytics", "meta")
RESERVED = {"memory", "system", "temp", "main"}  # DuckDB's own catalog names


class UnionWarehouse:
    """An in-memory DuckDB with every account's file attached read-only and the union views."""

    def __init__(self, con: duckdb.DuckDBPyConnection, paths: Mapping[str, Path]) -> None:
        self.con, self.paths = con, dict(paths)
        self.path = ", ".join(str(p) for p in self.paths.values())

    @classmethod
    def open(cls, paths: Mapping[str, str], lock_timeout: float = 0.0) -> UnionWarehouse:
        """Attach each `{account: file}`; waits up to `lock_timeout` for a file a sync writes."""
        con = duckdb.connect(":memory:")
        try:
            con.execute("SET TimeZone = 'UTC'")
            files = {name: Path(p) for name, p in paths.items()}
            for name, p in files.items():
                if name in RESERVED:
                    raise WarehousePathError(f"account name {name!r} is one of DuckDB's own; rename it")
                if not p.exists():
                    raise WarehousePathError(f"no warehouse for account {name} at {p}: sync it first")
                check_header(p)
                _attach(con, name, p, lock_timeout)
            _create_views(con, list(files))
        except BaseException:
            con.close()
            raise
        return cls(con, files)

    def close(self) -> None:
        self.con.close()


def _attach(con: duckdb.DuckDBPyConnection, name: str, p: Path, lock_timeout: float) -> None:
    deadline = time.monotonic() + lock_timeout
    while True:
        try:
            con.execute(f'ATTACH ? AS "{name}" (READ_ONLY)', [str(p)])
            return
        except duckdb.Error as e:
            err = translate_error(p, e)
            if not isinstance(err, WarehouseLockedError) or time.monotonic() >= deadline:
                raise err from None
            time.sleep(0.2)


def _create_views(con: duckdb.DuckDBPyConnection, accounts: list[str]) -> None:
    found = con.execute(
        "SELECT database_name, schema_name, table_name FROM duckdb_tables() WHERE NOT internal "
        "UNION ALL SELECT database_name, schema_name, view_name FROM duckdb_views() WHERE NOT internal"
    ).fetchall()
    where: dict[tuple[str, str], list[str]] = {}
    for db, schema, table in found:
        if db in accounts and schema in SCHEMAS:
            where.setdefault((schema, table), []).append(db)
    for schema in SCHEMAS:
        if schema != "main":
            con.execute(f'CREATE SCHEMA IF NOT EXISTS memory."{schema}"')
    for (schema, table), dbs in sorted(where.items()):
        parts = [f'SELECT \'{db}\' AS account, * FROM "{db}"."{schema}"."{table}"' for db in sorted(dbs)]
        con.execute(f'CREATE VIEW memory."{schema}"."{table}" AS ' + " UNION ALL BY NAME ".join(parts))
