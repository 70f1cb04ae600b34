"""`alocity-etl shell`: an interactive SQL session on the warehouse (the duckdb CLI is not needed).

A small read-eval loop: type SQL ending with ``;`` (it may span lines); results print as
tables. Dot commands: ``.tables``, ``.schema TABLE``, ``.models``, ``.maxrows N``,
``.help``, ``.quit``. The same rules as `alocity-etl sql` apply to every statement:
read-only unless ``--write``; the file is opened for each statement and closed right after,
so an idle session never blocks the nightly sync.

``--python`` instead opens Python's interactive console with ``con``, a read-only DuckDB
connection (``con.sql("...").show()``); that connection holds the file until you leave,
and a sync waits for up to 120 s, then fails its step - use it for short sessions.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from alocity_etl.commands.sql import (
    DEFAULT_MAX_ROWS,
    QueryError,
    add_connection_args,
    open_warehouse,
    print_result,
    refuse_writes,
    run_statements,
    split,
    target_error,
)

HELP = """SQL ends with ';' and may span lines. Dot commands:
  .tables            tables and views, by schema
  .schema TABLE      columns of a table (e.g. .schema main.users)
  .models            the analytics models (sql/models)
  .maxrows N         rows shown per result (now {max_rows})
  .help  .quit"""

TABLES_SQL = (
    "SELECT table_schema AS schema, string_agg(table_name, ', ' ORDER BY table_name) AS tables "
    "FROM information_schema.tables WHERE table_schema NOT IN ('information_schema', 'pg_catalog') "
    "GROUP BY 1 ORDER BY 1"
)


def configure(parser: argparse.ArgumentParser) -> None:
    add_connection_args(parser)
    parser.add_argument(
        "--python", action="store_true", help="Python's interactive console with `con` (read-only)"
    )


class Session:
    def __init__(self, args: argparse.Namespace, out: Any = None) -> None:
        from rich.console import Console

        self.args = args
        self.max_rows = DEFAULT_MAX_ROWS
        self.console = out or Console()

    def notify(self, message: str) -> None:
        print(message, file=sys.stderr)

    def execute(self, sql: str) -> bool:
        """Run SQL; print the result or the one-line error. True on success."""
        try:
            statements = split(sql)
            refuse_writes(statements, self.args.write)
            with open_warehouse(
                self.args.warehouse,
                write=self.args.write,
                lock_timeout=self.args.lock_timeout,
                notify=self.notify,
                account=self.args.account,
                all_accounts=self.args.all_accounts,
            ) as wh:
                result = run_statements(wh.con, statements, self.max_rows)
        except QueryError as e:
            self.console.print(f"[red]error:[/red] {e}", highlight=False, markup=True)
            return False
        print_result(result, self.console)
        return True

    def dot(self, line: str) -> bool:
        """A dot command; False to quit."""
        cmd, _, rest = line.partition(" ")
        rest = rest.strip()
        if cmd in (".quit", ".exit", ".q"):
            return False
        if cmd == ".help":
            self.console.print(HELP.format(max_rows=self.max_rows), highlight=False, markup=False)
        elif cmd == ".tables":
            self.execute(TABLES_SQL)
        elif cmd == ".schema" and rest:
            schema, _, name = rest.rpartition(".")
            where = f"table_name = '{name.replace(chr(39), '')}'"
            if schema:
                where += f" AND table_schema = '{schema.replace(chr(39), '')}'"
            self.execute(
                "SELECT table_schema, column_name, data_type FROM information_schema.columns "
                f"WHERE {where} ORDER BY table_schema, ordinal_position"
            )
        elif cmd == ".models":
            from alocity_etl.analytics.project import models

            for m in models():
                if m.materialized != "ephemeral":
                    self.console.print(f"[bold]analytics.{m.name}[/bold]  {m.description}", highlight=False)
        elif cmd == ".maxrows" and rest.isdigit():
            self.max_rows = int(rest)
        else:
            self.console.print(f"unknown command {line!r}; .help lists them", highlight=False, markup=False)
        return True

    def loop(self) -> int:
        mode = "read-write" if self.args.write else "read-only"
        self.console.print(
            f"alocity-etl shell ({mode}). End SQL with ';'. .help for commands, .quit to leave.",
            highlight=False,
        )
        buffer: list[str] = []
        while True:
            try:
                line = input("   ...> " if buffer else "alocity> ")
            except EOFError:
                if buffer:
                    self.execute("\n".join(buffer))
                self.console.print("")
                return 0
            except KeyboardInterrupt:
                buffer.clear()
                self.console.print("")
                continue
            stripped = line.strip()
            if not buffer and stripped.startswith("."):
                if not self.dot(stripped):
                    return 0
                continue
            if not stripped and not buffer:
                continue
            buffer.append(line)
            if stripped.endswith(";"):
                self.execute("\n".join(buffer))
                buffer.clear()


def python_console(args: argparse.Namespace) -> int:
    import code

    try:
        with open_warehouse(
            args.warehouse,
            write=args.write,
            lock_timeout=args.lock_timeout,
            notify=lambda m: print(m, file=sys.stderr),
            account=args.account,
            all_accounts=args.all_accounts,
        ) as wh:
            mode = "read-write" if args.write else "read-only"
            banner = (
                f"alocity-etl: `con` is a {mode} DuckDB connection to {wh.path}; "
                "e.g. con.sql('select * from users limit 5').show(). It holds the file until you "
                "exit (Ctrl-D): a sync waits for it."
            )
            code.interact(banner=banner, local={"con": wh.con, "wh": wh}, exitmsg="")
    except QueryError as e:
        print(f"alocity-etl shell: {e}", file=sys.stderr)
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    problem = target_error(args)
    if problem:
        print(f"alocity-etl shell: {problem}", file=sys.stderr)
        return 2
    if args.python:
        return python_console(args)
    return Session(args).loop()
