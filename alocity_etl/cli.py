"""`alocity-etl` command line: one subcommand per module, each exposing configure(parser) and run(args)."""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module, help). Modules are imported lazily so `--help` stays fast.
COMMANDS: dict[str, tuple[str, str]] = {
    "sandbox": ("alocity_etl.sandbox.cli", "run the local Alocity sandbox in the foreground"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alocity-etl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod = importlib.import_module(module)
        mod.configure(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
