"""`alocity-etl report [--out FILE.html] [--days N]`: the HTML report of the warehouse (plots).

One self-contained page (see alocity_etl/analytics/report.py). Exit 0 with the path printed;
1 with one line when there is nothing to report (no warehouse, no access logs, no models);
2 for a bad argument.
"""

from __future__ import annotations

import argparse
import sys

from alocity_etl.settings import Settings, SettingsError

DEFAULT_OUT = "warehouse/report.html"


def days(raw: str) -> int:
    """`--days`: a whole number of days from 1 to 3660."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number of days") from None
    if not 1 <= value <= 3660:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and 3660 days")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"the HTML file to write (default {DEFAULT_OUT})")
    parser.add_argument("--days", type=days, default=30, help="days of history the plots cover (default 30)")
    parser.add_argument(
        "--warehouse", help="DuckDB file (default: ALOCITY_WAREHOUSE or warehouse/alocity.duckdb)"
    )


def run(args: argparse.Namespace) -> int:
    from alocity_etl.analytics.report import ReportError, write_report

    try:
        out = write_report(args.warehouse or Settings.from_env().warehouse.path, args.out, args.days)
    except (ReportError, SettingsError) as exc:
        print(f"alocity-etl report: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({out.stat().st_size // 1024} KB): open it in a browser")
    return 0
