"""`alocity-etl sync`: materialise the pipeline through Dagster against the configured account."""

from __future__ import annotations

import argparse
import sys

from alocity_etl.catalog import tables
from alocity_etl.commands.instance import dagster_instance
from alocity_etl.commands.preflight import preflight
from alocity_etl.sync_runner import print_summary, run_sync
from alocity_etl.warehouse import WarehouseError


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
    parser.add_argument(
        "--days", type=positive_days, default=1, help="access-log days to (re)fetch, ending yesterday"
    )


def positive_days(raw: str) -> int:
    """`--days`: a whole number of days, at least 1 (0 or less would silently sync no events)."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number of days") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1 (the days ending yesterday)")
    return value


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
    try:
        summary = run_sync(
            dagster_instance(),
            select,
            access_log_days=days,
            access_log_start=settings.access_log_start,
            warehouse=settings.warehouse,
            lock_timeout_s=settings.lock_timeout_s,
            sync_wait_s=settings.sync_wait_s,
        )
    except WarehouseError as exc:  # another sync kept the lock, or the file stayed locked
        print(f"alocity-etl sync: {exc}", file=sys.stderr)
        return 1
    print_summary(summary, settings.warehouse)
    return 0 if summary.ok else 1


def _fail(message: str) -> None:
    print(f"alocity-etl sync: {message}", file=sys.stderr)
    raise SystemExit(2)
