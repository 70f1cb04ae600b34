"""`alocity-etl rebuild`: re-derive every table from raw.pages, with zero API calls."""

from __future__ import annotations

import argparse
import sys

from alocity_etl.settings import Settings, SettingsError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--warehouse", help="DuckDB file (default: ALOCITY_WAREHOUSE or warehouse/alocity.duckdb)"
    )


def run(args: argparse.Namespace) -> int:
    from alocity_etl.warehouse import WarehouseError, rebuild

    try:
        path = args.warehouse or Settings.from_env().warehouse.path
        counts = rebuild(path)
    except (SettingsError, WarehouseError) as exc:
        print(f"alocity-etl rebuild: {exc}", file=sys.stderr)
        return 1
    for table, rows in counts.items():
        print(f"{table:28} {rows:>10} rows")
    return 0
