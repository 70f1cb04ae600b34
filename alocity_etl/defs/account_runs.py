"""`run_sync` with an accounts file: the chosen accounts in runs of ALOCITY_ACCOUNTS_PER_RUN.

Each run covers a block of consecutive accounts x the days they read (defs/accounts.py);
its steps sync the block's accounts side by side. The sync lock of every account of the
block is held for the run, and each account's ledger entry is closed with its own requests
and its own first error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, date, datetime

from dagster import AssetKey, DagsterInstance

from alocity_etl.defs.accounts import block_tags, blocks, each_account
from alocity_etl.defs.build import build_definitions
from alocity_etl.defs.jobs import ACCOUNT_TAG, SYNC_JOB, block_label
from alocity_etl.defs.runs import (
    QUIET,
    AccountLine,
    SyncSummary,
    access_log_partitions,
    close_interrupted,
    collect_run,
    model_keys,
    read_tags,
    selected_tables,
)
from alocity_etl.settings import Settings
from alocity_etl.sync.lock import sync_lock
from alocity_etl.sync.pipeline import finish_run
from alocity_etl.sync.read_plan import Read
from alocity_etl.warehouse import WarehouseError
from alocity_etl.warehouse.write_hooks import WriteHooks


def run_accounts_sync(
    instance: DagsterInstance,
    settings: Settings,
    select: set[str] | None,
    read: Read,
    tags: dict[str, str] | None,
    log: Callable[[str], None],
    today: date | None,
    hooks: WriteHooks,
    accounts: list[str] | None,
) -> SyncSummary:
    summary = SyncSummary()
    t0 = time.monotonic()
    today = today or datetime.now(UTC).date()
    names = accounts or settings.account_names()
    for block in blocks(settings.account_names(), names, settings.sync.accounts_per_run):
        with ExitStack() as stack:
            for name in block:  # name order: two syncs never wait on each other in a circle
                wh = settings.for_account(name).warehouse
                stack.enter_context(sync_lock(wh.path, settings.sync.sync_wait_s, log))
            for name in block:
                closed = close_interrupted(settings.for_account(name))
                if closed:
                    log(f"{name}: marked {closed} sync(s) left running by a killed process as interrupted")
            _run_block(instance, settings, hooks, block, select, read, tags, log, today, summary)
    summary.seconds = time.monotonic() - t0
    return summary


def _run_block(
    instance: DagsterInstance,
    settings: Settings,
    hooks: WriteHooks,
    block: list[str],
    select: set[str] | None,
    read: Read,
    tags: dict[str, str] | None,
    log: Callable[[str], None],
    today: date,
    summary: SyncSummary,
) -> None:
    dims, events = selected_tables(select)
    first = last = today  # dimensions alone: today's partitions
    run_tags = {ACCOUNT_TAG: block_label(block), **(tags or {})}
    if events:
        # Where each account's history starts (one small request for an account seen first).
        found = each_account(
            block,
            lambda n: access_log_partitions(settings.for_account(n), read, today, lambda m: log(f"{n}: {m}")),
        )
        problems = {n: r for n, r in found.items() if isinstance(r, BaseException)}
        if problems:
            raise next(iter(problems.values()))
        ranges = [r for r in found.values() if r is not None]
        if ranges:
            first, last = min(r[0] for r in ranges), max(r[1] for r in ranges)
            run_tags.update(read_tags(read))
        else:
            events = []
    keys = [AssetKey(t) for t in (*dims, *events)]
    if not keys:
        return
    # Built after the origins are known: the day partitions begin at the earliest account's.
    job = build_definitions(settings, hooks).resolve_job_def(SYNC_JOB)
    keys += model_keys(job, select)
    result = job.execute_in_process(
        instance=instance,
        tags={**run_tags, **block_tags(block, first, last)},
        run_config=QUIET,
        asset_selection=keys,
        raise_on_error=False,
    )
    summary.runs.append((SYNC_JOB, result.run_id, result.success))
    collect_run(instance, result.run_id, summary)
    for name in block:
        line = summary.accounts.setdefault(name, AccountLine(name))
        wh = settings.for_account(name).warehouse
        first_error = line.errors[0] if line.errors else (summary.errors[0] if summary.errors else None)
        try:
            finish_run(
                wh.path,
                result.run_id,
                result.success and not line.errors,
                line.requests,
                first_error,
                lock_timeout_s=wh.lock_timeout_s,
            )
        except WarehouseError as exc:
            line.errors.append(f"ledger: {exc}")
