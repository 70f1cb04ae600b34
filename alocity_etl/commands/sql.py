"""`alocity-etl sql "SELECT ..."`: ad-hoc SQL on the warehouse, printed as a table or exported.

Read-only by default: the statements are classified by DuckDB's own parser before the file
is opened, and anything but a read (INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, COPY,
ATTACH, EXPORT, INSTALL/LOAD, transactions, ...) is refused unless ``--write`` is given;
the connection itself is also opened read-only, so nothing slips through.

The file is held only while the statements run (opened, queried, closed): a sync that
wants to write waits for the query (it retries for up to 120 s), and a query that finds a
sync writing waits for the write to finish (``--lock-timeout``, default 60 s), saying so
once on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from alocity_etl.settings import Settings, SettingsError
from alocity_etl.warehouse import Warehouse, WarehouseError, WarehouseLockedError
from alocity_etl.warehouse.raw_archive import body_text
from alocity_etl.warehouse.union import UnionWarehouse

DEFAULT_LOCK_TIMEOUT = 60.0
DEFAULT_MAX_ROWS = 40
# Statement types that only read (DuckDB's StatementType names).
READ_TYPES = {"SELECT", "EXPLAIN", "PRAGMA", "SET", "VARIABLE_SET", "CALL"}
_parser = duckdb.connect(":memory:")  # classifies statements without touching the warehouse


class QueryError(Exception):
    """A one-line message for the user (bad SQL, refused write, lock, export failure)."""


def one_line(exc: BaseException) -> str:
    """DuckDB's message on one line (it adds LINE n / caret context on the following lines)."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


@dataclass(frozen=True)
class Statement:
    sql: str
    kind: str  # DuckDB statement type, e.g. SELECT, INSERT

    @property
    def writes(self) -> bool:
        return self.kind not in READ_TYPES


def split(sql: str) -> list[Statement]:
    """The statements of ``sql``, each with its type; bad SQL -> QueryError with DuckDB's message."""
    try:
        found = _parser.extract_statements(sql)
    except duckdb.Error as e:
        raise QueryError(one_line(e)) from None
    out = [Statement(s.query.strip().rstrip(";").strip(), str(s.type).rsplit(".", 1)[-1]) for s in found]
    out = [s for s in out if s.sql]
    if not out:
        raise QueryError("no SQL statement given")
    return out


def refuse_writes(statements: list[Statement], allow_write: bool) -> None:
    bad = [s for s in statements if s.writes]
    if bad and not allow_write:
        raise QueryError(
            f"refused: {bad[0].kind} statement writes to the warehouse; connections are read-only "
            "unless you pass --write"
        )


@contextmanager
def open_warehouse(
    path: str | None,
    *,
    write: bool,
    lock_timeout: float,
    notify: Callable[[str], None],
    account: str | None = None,
    all_accounts: bool = False,
) -> Iterator[Warehouse | UnionWarehouse]:
    """Open for one query: read-only unless ``write``; wait for a writer to let go, saying so.
    ``path`` None: the settings' warehouse (ALOCITY_WAREHOUSE), or with an accounts file
    ``account``'s; ``all_accounts``: every account's, read-only, as union views."""
    try:
        if all_accounts:
            if write or path:
                raise QueryError("--all-accounts is read-only and reads the accounts file's warehouses")
            settings = _accounts_settings("--all-accounts")
            paths = {n: settings.for_account(n).warehouse.path for n in settings.account_names()}
            union = UnionWarehouse.open(paths, lock_timeout=lock_timeout)
            try:
                yield union
            finally:
                union.close()
            return
        if account is not None:
            if path:
                raise QueryError("give --account or --warehouse, not both")
            path = _accounts_settings("--account").for_account(account).warehouse.path
        elif path is None:
            settings = Settings.from_env()
            if settings.multi_account:
                raise QueryError(
                    f"several accounts ({', '.join(settings.account_names())}): "
                    "pass --account NAME or --all-accounts"
                )
            path = settings.warehouse.path
        try:
            wh = Warehouse.open(path, read_only=not write)
        except WarehouseLockedError as e:
            if lock_timeout <= 0:
                raise
            notify(f"{e} - waiting up to {lock_timeout:.0f}s (a sync holds the file only while it writes)")
            t0 = time.monotonic()
            wh = Warehouse.open(path, read_only=not write, lock_timeout=lock_timeout)
            notify(f"got the warehouse after {time.monotonic() - t0:.1f}s")
    except (WarehouseError, SettingsError) as e:
        raise QueryError(str(e)) from None
    try:
        if not sys.stderr.isatty():  # DuckDB's progress bar only makes sense on a terminal
            wh.con.execute("SET enable_progress_bar = false")
        # raw.pages keeps payloads compressed; raw_json(body_z) shows one as JSON text. The
        # function belongs to the process's DuckDB instance (warehouse/connection.py): once is enough.
        with contextlib.suppress(duckdb.CatalogException):
            wh.con.create_function("raw_json", body_text, ["BLOB"], "VARCHAR", null_handling="special")
        yield wh
    finally:
        wh.close()


@dataclass
class Result:
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    total: int  # rows the statement returned (may exceed len(rows))
    seconds: float


def target_error(args: argparse.Namespace) -> str | None:
    """Before anything opens: --account / --all-accounts against the accounts file (bad
    input, exit 2), in one line naming the account and the fix."""
    try:
        settings = Settings.from_env()
        if not (args.account or args.all_accounts):
            if settings.multi_account and not args.warehouse:
                names = ", ".join(settings.account_names())
                return f"several accounts ({names}): pass --account NAME or --all-accounts"
            return None
        if not settings.multi_account:
            flag = "--account" if args.account else "--all-accounts"
            return f"{flag} needs an accounts file: set ALOCITY_ACCOUNTS_FILE (see docs/accounts.md)"
        if args.account:
            settings.for_account(args.account)
    except SettingsError as e:
        return str(e)
    return None


def _accounts_settings(flag: str) -> Settings:
    settings = Settings.from_env()
    if not settings.multi_account:
        raise QueryError(f"{flag} needs an accounts file (set ALOCITY_ACCOUNTS_FILE)")
    return settings


def run_statements(con: duckdb.DuckDBPyConnection, statements: list[Statement], max_rows: int) -> Result:
    """Run every statement; keep at most ``max_rows`` rows of the last one (count the rest)."""
    t0 = time.monotonic()
    cur = None
    try:
        for s in statements:
            cur = con.execute(s.sql)
        assert cur is not None
        desc = cur.description or []
        rows = cur.fetchmany(max_rows) if desc else []
        total = len(rows)
        while desc:
            more = cur.fetchmany(10_000)
            if not more:
                break
            total += len(more)
    except duckdb.Error as e:
        raise QueryError(one_line(e)) from None
    return Result([d[0] for d in desc], [str(d[1]) for d in desc], rows, total, time.monotonic() - t0)


def export(con: duckdb.DuckDBPyConnection, statements: list[Statement], target: str, fmt: str) -> int:
    """Write the last statement's result to ``target`` (csv or parquet); returns the row count.

    DuckDB writes a temporary file next to the target, renamed over it only on success:
    a failing query leaves nothing behind (and an existing file untouched)."""
    *before, last = statements
    if last.kind != "SELECT":
        raise QueryError(f"--{fmt} exports the result of a SELECT; the last statement is {last.kind}")
    dest = Path(target)
    if dest.is_dir():
        raise QueryError(f"cannot export to {dest}: it is a directory")
    if not dest.parent.exists():
        raise QueryError(f"cannot export to {dest}: directory {dest.parent} does not exist")
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    options = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT parquet"
    quoted = str(tmp).replace("'", "''")
    try:
        for s in before:
            con.execute(s.sql)
        done = con.execute(f"COPY ({last.sql}) TO '{quoted}' ({options})").fetchall()
        rows = done[0][0] if done else 0
        os.replace(tmp, dest)
    except duckdb.Error as e:
        raise QueryError(one_line(e)) from None
    except OSError as e:
        raise QueryError(f"cannot write {dest}: {e.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return int(rows)


def _cell(v: Any) -> str:
    if v is None:
        return "[dim]NULL[/dim]"
    from rich.markup import escape

    return escape(str(v))


def print_result(result: Result, console: Any = None) -> None:
    """A rich table: column names with their types, the rows kept, and a footer."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    if not result.columns:
        console.print(f"OK ({result.seconds:.2f}s)")
        return
    table = Table(show_lines=False, header_style="bold")
    numeric = ("INT", "DOUBLE", "FLOAT", "DECIMAL", "HUGEINT", "NUMBER")
    for name, typ in zip(result.columns, result.types, strict=True):
        right = any(t in typ.upper() for t in numeric)
        table.add_column(f"{name}\n[dim]{typ.lower()}[/dim]", justify="right" if right else "left")
    for row in result.rows:
        table.add_row(*(_cell(v) for v in row))
    console.print(table)
    shown = len(result.rows)
    more = f", showing the first {shown} (--max-rows N, or --csv FILE)" if result.total > shown else ""
    console.print(f"{result.total} row{'s' if result.total != 1 else ''}{more} ({result.seconds:.2f}s)")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", help="SQL to run (several statements: the last one's result is shown)")
    add_connection_args(parser)
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--csv", metavar="FILE", help="write the result to FILE as CSV (with a header)")
    out.add_argument("--parquet", metavar="FILE", help="write the result to FILE as Parquet")
    parser.add_argument(
        "--max-rows", type=int, default=DEFAULT_MAX_ROWS, help=f"rows shown (default {DEFAULT_MAX_ROWS})"
    )


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--warehouse", help="DuckDB file (default: ALOCITY_WAREHOUSE or warehouse/alocity.duckdb)"
    )
    parser.add_argument(
        "--write", action="store_true", help="allow statements that write (the file is opened read-write)"
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--account", metavar="NAME", help="with an accounts file: this account's warehouse")
    which.add_argument(
        "--all-accounts",
        action="store_true",
        help="with an accounts file: every account's warehouse, read-only; each table a view over all "
        "of them with an `account` column",
    )
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=DEFAULT_LOCK_TIMEOUT,
        help=f"seconds to wait while a sync writes (default {DEFAULT_LOCK_TIMEOUT:.0f})",
    )


def _err(message: str) -> None:
    print(f"alocity-etl sql: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    problem = target_error(args)
    if problem:
        _err(problem)
        return 2
    try:
        statements = split(args.query)
        refuse_writes(statements, args.write)
        notify = _err
        with open_warehouse(
            args.warehouse,
            write=args.write,
            lock_timeout=args.lock_timeout,
            notify=notify,
            account=args.account,
            all_accounts=args.all_accounts,
        ) as wh:
            if args.csv or args.parquet:
                target, fmt = (args.csv, "csv") if args.csv else (args.parquet, "parquet")
                rows = export(wh.con, statements, target, fmt)
                print(f"wrote {rows} rows to {target}")
                return 0
            result = run_statements(wh.con, statements, max(args.max_rows, 0))
    except QueryError as e:
        _err(str(e))
        return 1
    print_result(result)
    return 0
