"""`alocity-etl sync`: materialise the pipeline through Dagster against the configured account."""

from __future__ import annotations

import argparse
import sys

from alocity_etl.catalog import tables
from alocity_etl.commands.instance import dagster_instance
from alocity_etl.commands.preflight import preflight
from alocity_etl.sync_runner import print_summary, run_sync


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--select",
        help="comma-separated tables to sync (default: all); e.g. users,cards,access_logs",
    )
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="re-fetch every access-log day since ALOCITY_ACCESS_LOG_START (dimensions are always full)",
    )
    parser.add_argument("--days", type=int, default=1, help="access-log days to (re)fetch, ending yesterday")


def parse_select(raw: str | None) -> set[str] | None:
    if not raw:
        return None
    chosen = {s.strip() for s in raw.split(",") if s.strip()}
    unknown = chosen - set(tables())
    if unknown:
        _fail(f"unknown table(s) {', '.join(sorted(unknown))}; choose from {', '.join(tables())}")
    return chosen


def run(args: argparse.Namespace) -> int:
    select = parse_select(args.select)
    settings = preflight("sync")
    days = None if args.full_refresh else args.days
    summary = run_sync(
        dagster_instance(),
        select,
        access_log_days=days,
        access_log_start=settings.access_log_start,
        warehouse=settings.warehouse,
        lock_timeout_s=settings.lock_timeout_s,
    )
    print_summary(summary, settings.warehouse)
    return 0 if summary.ok else 1


def _fail(message: str) -> None:
    print(f"alocity-etl sync: {message}", file=sys.stderr)
    raise SystemExit(2)
