"""Open the DuckDB warehouse file, with one-line errors for the usual failures.

The file is never created over something that is not a DuckDB database: the header is
checked before DuckDB sees the file.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import threading
from pathlib import Path
from typing import Any

import duckdb

DEFAULT_PATH = Path("warehouse/alocity.duckdb")
_MAGIC = b"DUCK"  # DuckDB files carry it at byte offset 8
# Rows per row group (DuckDB's default is 122,880). A commit's checkpoint rewrites a table's
# last, still-filling row group whole, so its memory grows with that row group's bytes;
# with raw payload parts of raw_archive.PART_BYTES this caps one at ~8 MB of payload (a
# 90-day backfill peaked at 499 MB RSS with the default, see benchmarks/README.md). Not
# stored in the file: it applies to what this connection writes, so it is set on every open.
ROW_GROUP_ROWS = 16_384
_ALIAS = "warehouse"

# Every open attaches the file to one in-memory DuckDB instance per process, on a cursor of
# its own: a new instance costs ~22 ms (DuckDB builds its catalog of built-in functions), a
# cursor ~0.01 ms, and a sync opens the file ~40 times (each step, each check). DuckDB refuses
# a second attach of a file already attached to the instance, which Warehouse.open treats
# like another process's lock: threads of one process take turns on the file.
_host: duckdb.DuckDBPyConnection | None = None
_host_pid = 0
_host_lock = threading.Lock()
_aliases = itertools.count(1)


def _cursor() -> duckdb.DuckDBPyConnection:
    global _host, _host_pid
    with _host_lock:
        if _host is None or _host_pid != os.getpid():  # a forked child builds its own
            _host, _host_pid = duckdb.connect(":memory:"), os.getpid()
        return _host.cursor()


class WarehouseError(Exception):
    """Base class: the message is one line a user can act on."""


class WarehousePathError(WarehouseError):
    """The path cannot be created, written or read."""


class WarehouseLockedError(WarehouseError):
    """Another process holds the write lock."""


class WarehouseCorruptError(WarehouseError):
    """The file exists but is not a DuckDB database (left untouched)."""


def warehouse_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The path given, else warehouse/alocity.duckdb (ALOCITY_WAREHOUSE is read by the settings)."""
    return Path(path or DEFAULT_PATH)


def check_header(p: Path) -> None:
    try:
        with p.open("rb") as f:
            head = f.read(16)
    except PermissionError:
        raise WarehousePathError(f"cannot read warehouse {p}: permission denied") from None
    if len(head) < 12 or head[8:12] != _MAGIC:
        raise WarehouseCorruptError(
            f"{p} exists but is not a DuckDB database (corrupted or another file); "
            "it was left untouched - move it away or set ALOCITY_WAREHOUSE"
        )


def connect(
    path: str | os.PathLike[str] | None = None, *, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed, unless read_only) the warehouse; session time zone UTC.

    Close it with `disconnect` (a plain close leaves the file attached to the process)."""
    p = warehouse_path(path)
    if p.exists():
        if p.is_dir():
            raise WarehousePathError(f"warehouse path {p} is a directory, not a file")
        check_header(p)
        if not read_only and not os.access(p, os.W_OK):
            raise WarehousePathError(f"cannot write warehouse {p}: permission denied (open read-only?)")
    elif read_only:
        raise WarehousePathError(f"no warehouse at {p}: run a sync first")
    else:
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise WarehousePathError(f"cannot create warehouse directory {p.parent}: {e.strerror}") from None
        if not os.access(p.parent, os.W_OK):
            raise WarehousePathError(f"cannot create warehouse {p}: directory {p.parent} is not writable")
    # The file is attached (the only way to give ROW_GROUP_ROWS) and made this cursor's
    # default database, so every query names its tables as on a plain duckdb.connect(path).
    con = _cursor()
    alias = f"{_ALIAS}_{next(_aliases)}"
    options = f"ROW_GROUP_SIZE {ROW_GROUP_ROWS}" + (", READ_ONLY" if read_only else "")
    try:
        con.execute(f"ATTACH ? AS {alias} ({options})", [str(p)])
    except duckdb.Error as e:
        con.close()
        raise translate_error(p, e) from None
    con.execute(f"USE {alias}")
    con.execute("SET TimeZone = 'UTC'")  # row hashes and text casts of TIMESTAMPTZ depend on it
    return con


def disconnect(con: duckdb.DuckDBPyConnection) -> None:
    """Close a connection from `connect`: roll back what it left open, detach the file
    (a writer's detach checkpoints it, as closing a database did) and close the cursor."""
    try:
        with contextlib.suppress(duckdb.Error):
            con.rollback()  # raises when no transaction is open
        alias = con.execute("SELECT current_database()").fetchone()
        con.execute("USE memory")
        if alias and alias[0].startswith(f"{_ALIAS}_"):
            con.execute(f"DETACH {alias[0]}")
    finally:
        con.close()


def translate_error(p: Path, e: Exception) -> WarehouseError:
    msg = str(e)
    if "Could not set lock" in msg:
        pid = re.search(r"PID (\d+)", msg)
        who = f"process {pid.group(1)}" if pid else "another process"
        return WarehouseLockedError(
            f"warehouse {p} is locked by {who} (a sync or a client holding it open); "
            "wait for it to finish or close it"
        )
    if "Unique file handle conflict" in msg:  # DuckDB's own lock does not span one process
        return WarehouseLockedError(
            f"warehouse {p} is open in this process (another step or thread holds it); "
            "wait for it to finish or close it"
        )
    if "not a valid DuckDB database" in msg or "Corrupt" in msg or "corrupt" in msg:
        return WarehouseCorruptError(f"{p} is not a valid DuckDB database; it was left untouched")
    if "Permission denied" in msg or "Read-only file system" in msg:
        return WarehousePathError(f"cannot open warehouse {p}: permission denied")
    return WarehousePathError(f"cannot open warehouse {p}: {msg.splitlines()[0]}")


def sqlalchemy_engine(path: str | os.PathLike[str] | None = None, *, read_only: bool = True) -> Any:
    """A SQLAlchemy engine on the warehouse (duckdb-engine), read-only by default for analysts."""
    from sqlalchemy import create_engine

    p = warehouse_path(path)
    if p.exists():
        check_header(p)
    return create_engine(f"duckdb:///{p}", connect_args={"read_only": read_only})
