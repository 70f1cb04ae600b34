"""The table a sync prints when it ends: rows and changes per table, access-log days, requests."""

from __future__ import annotations

import sys

from alocity_etl.defs.runs import SyncSummary


def print_summary(summary: SyncSummary, warehouse: str) -> None:
    from rich.console import Console
    from rich.table import Table

    # Piped output (CI logs) gets a fixed width instead of rich's 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=120)
    table = Table(title="alocity-etl sync", show_lines=False)
    for col in ("table", "rows", "inserted", "updated", "deleted", "unchanged", "note"):
        table.add_column(col, justify="right" if col not in ("table", "note") else "left")
    for line in summary.tables.values():
        table.add_row(
            line.table,
            *(str(getattr(line, k)) for k in ("rows", "inserted", "updated", "deleted", "unchanged")),
            line.note,
        )
    console.print(table)
    if summary.accounts:
        _print_accounts(console, summary)
    logs = summary.access_logs
    if logs is not None and logs.days_read:
        line = f"access logs: {logs.days_read} day(s) read from {logs.first_day}"
        if logs.partial_days:
            line += f"; so far (partial): {logs.partial_days}"
        console.print(line)
        if logs.late_events:
            late = ", ".join(f"{n} on {d}" for d, n in sorted(logs.late_by_day.items()))
            console.print(f"late events: {logs.late_events} arrived after their day was read ({late})")
    if summary.models:
        built = ", ".join(f"{name} ({rows} rows)" for name, rows in summary.models.items())
        console.print(f"analytics models: {built}", highlight=False)
    if summary.dbt_tests.ran:
        console.print(summary.dbt_tests.line(), highlight=False, markup=False)
    console.print(
        f"requests: {summary.requests}   429s: {summary.responses_429}   "
        f"throttled: {summary.throttled_seconds:.1f}s   time: {summary.seconds:.1f}s"
    )
    for job, run_id, ok in summary.runs:
        console.print(f"run {job} {run_id[:8]}: {'succeeded' if ok else 'FAILED'}")
    for err in summary.errors:
        console.print(f"[red]error[/red] {err}")
    console.print(f"\nWarehouse: {warehouse}")


def _print_accounts(console, summary: SyncSummary) -> None:  # type: ignore[no-untyped-def]
    """With an accounts file: one line per account (the table above sums them)."""
    from rich.table import Table

    table = Table(title="accounts", show_lines=False)
    cols = (
        "account",
        "rows",
        "inserted",
        "updated",
        "deleted",
        "days read",
        "late",
        "requests",
        "429s",
        "error",
    )
    for col in cols:
        table.add_column(col, justify="left" if col in ("account", "error") else "right")
    for a in summary.accounts.values():
        figures = (a.rows, a.inserted, a.updated, a.deleted, a.days_read, a.late_events, a.requests)
        table.add_row(a.account, *map(str, figures), str(a.responses_429), a.errors[0] if a.errors else "")
    console.print(table)
