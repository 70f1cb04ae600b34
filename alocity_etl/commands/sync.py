"""`alocity-etl sync`: materialise the pipeline through Dagster against the configured account.

With no flag, the access logs catch up (sync/read_plan.py): every day not settled yet,
from the account's first event through today so far. `--days`, `--since/--until` and
`--full-refresh` read exactly the days they name instead. With an accounts file
(ALOCITY_ACCOUNTS_FILE) every account is synced, or those `--account` names.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, timedelta

from alocity_etl.catalog import tables
from alocity_etl.commands.instance import dagster_instance
from alocity_etl.commands.preflight import preflight
from alocity_etl.commands.sync_summary import print_summary
from alocity_etl.defs.runs import run_sync
from alocity_etl.sync.read_plan import CatchUp, DayRange, Read
from alocity_etl.warehouse import WarehouseError
from alocity_etl.warehouse.write_hooks import NO_HOOKS, WriteHooks


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--select",
        help="comma-separated tables to sync (default: all); e.g. users,cards,access_logs",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--full-refresh",
        action="store_true",
        help="re-read every access-log day from the account's first event (dimensions are always full)",
    )
    which.add_argument(
        "--days", type=positive_days, help="re-read the access logs of the last N days, ending yesterday"
    )
    which.add_argument(
        "--since", type=iso_day, metavar="DATE", help="re-read the access logs from DATE (YYYY-MM-DD)"
    )
    parser.add_argument(
        "--until", type=iso_day, metavar="DATE", help="with --since: through DATE (default: today so far)"
    )
    parser.add_argument(
        "--account",
        metavar="NAME[,NAME]",
        help="with an accounts file: sync only these accounts (default: every account)",
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


def iso_day(raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a date; use YYYY-MM-DD, e.g. 2026-11-01") from None


def access_log_read(args: argparse.Namespace, today: date) -> Read:
    """What the flags ask of the access logs; a contradiction exits 2 before anything runs."""
    if args.until is not None and args.since is None:
        _fail("--until needs --since DATE (the first day to read)")
    for flag, value in (("--since", args.since), ("--until", args.until)):
        if value is not None and value > today:
            _fail(f"{flag} {value} is in the future; the latest day is today ({today})")
    if args.since is not None:
        if args.until is not None and args.until < args.since:
            _fail(f"--since {args.since} is after --until {args.until}; give the earlier day first")
        return DayRange(args.since, args.until)
    if args.days is not None:
        return DayRange(today - timedelta(days=args.days), today - timedelta(days=1))
    if args.full_refresh:
        return DayRange(None, None)
    return CatchUp()


def parse_select(raw: str | None) -> set[str] | None:
    if not raw:
        return None
    chosen = {s.strip() for s in raw.split(",") if s.strip()}
    unknown = chosen - set(tables())
    if unknown:
        _fail(f"unknown table(s) {', '.join(sorted(unknown))}; choose from {', '.join(tables())}")
    return chosen


def run(args: argparse.Namespace, hooks: WriteHooks = NO_HOOKS) -> int:
    """The command; `hooks` observe its writes (the crash-safety tests stop it with them)."""
    select = parse_select(args.select)
    read = access_log_read(args, datetime.now(UTC).date())
    accounts = [a.strip() for a in (args.account or "").split(",") if a.strip()] or None
    settings = preflight("sync", accounts=accounts)
    try:
        summary = run_sync(dagster_instance(), settings, select, read, hooks=hooks, accounts=accounts)
    except WarehouseError as exc:  # another sync kept the lock, or the file stayed locked
        print(f"alocity-etl sync: {exc}", file=sys.stderr)
        return 1
    where = settings.warehouse.path
    if settings.multi_account:  # each account its own file
        chosen = accounts or settings.account_names()
        where = ", ".join(settings.for_account(n).warehouse.path for n in chosen[:3]) + (
            f" and {len(chosen) - 3} more" if len(chosen) > 3 else ""
        )
    print_summary(summary, where)
    return 0 if summary.ok and not any(a.errors for a in summary.accounts.values()) else 1


def _fail(message: str) -> None:
    print(f"alocity-etl sync: {message}", file=sys.stderr)
    raise SystemExit(2)
