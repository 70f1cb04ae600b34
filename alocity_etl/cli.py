"""`alocity-etl` command line: one subcommand per module, each exposing configure(parser) and run(args)."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

# subcommand -> (module, help). Modules are imported lazily so `--help` stays fast.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "alocity_etl.commands.demo",
        "full sync into DuckDB (embedded sandbox unless credentials are set)",
    ),
    "sync": ("alocity_etl.commands.sync", "sync the configured account into DuckDB through Dagster"),
    "check": ("alocity_etl.commands.check", "verify credentials and show what the account exposes"),
    "rebuild": (
        "alocity_etl.commands.rebuild",
        "re-derive every table from the raw page archive (no API calls)",
    ),
    "sandbox": ("alocity_etl.commands.sandbox", "run the local Alocity sandbox in the foreground"),
    "sql": ("alocity_etl.commands.sql", "run SQL on the warehouse (read-only unless --write)"),
    "shell": ("alocity_etl.commands.shell", "interactive SQL session on the warehouse (read-only)"),
    "report": ("alocity_etl.commands.report", "write the HTML report of the warehouse (plots, one file)"),
}


class OneLineErrors(argparse.ArgumentParser):
    """Bad arguments: one line naming what is wrong (no usage block), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the chosen subcommand's module is imported (dagster is slow to import)."""
    parser = OneLineErrors(prog="alocity-etl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            mod = importlib.import_module(module)
            mod.configure(p)
            p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
