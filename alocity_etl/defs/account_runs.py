"""`run_sync` with an accounts file: the chosen accounts in runs of blocks (`run_blocks`:
ALOCITY_ACCOUNT_RUNS runs of at most ALOCITY_ACCOUNTS_PER_RUN accounts).

Each run covers a block of consecutive accounts x the days they read (defs/accounts.py);
its steps sync the block's accounts side by side (threads: they wait on their budgets).
The runs themselves go side by side, each in its own process, as the daemon would launch
them: one process holds one GIL, and 50 accounts' normalising, writing and dbt builds are
minutes of CPU that a single process would spend on one core while the budgets refill.
The sync lock of every account of a block is held by its process for the run, and each
account's ledger entry is closed with its own requests and its own first error.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from dagster import AssetKey, DagsterInstance

from alocity_etl.defs.accounts import block_tags, each_account, run_blocks
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
from alocity_etl.warehouse.write_hooks import NO_HOOKS, WriteHooks

PLANNED_EVENTS_AS_RANGE = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


@dataclass(frozen=True)
class BlockSync:
    """What every block's run of one sync shares (it travels to the runs' processes)."""

    settings: Settings
    select: set[str] | None
    read: Read
    tags: dict[str, str] | None
    today: date
    hooks: WriteHooks = NO_HOOKS


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
    # Dagster's own switch (read when a run is created): one "materialization planned" event
    # per asset of a run, naming its partition range, instead of one per partition. A first
    # sync of 25 accounts x 31 days recorded 775 of them, ~15 s of CPU before its first
    # request. The price: a failed run leaves its partitions "missing" in the UI rather than
    # "failed"; what is read again is decided by each account's day ledger, not by that.
    os.environ.setdefault(PLANNED_EVENTS_AS_RANGE, "true")
    sync = BlockSync(settings, select, read, tags, today or datetime.now(UTC).date(), hooks)
    runs = run_blocks(settings, accounts or settings.account_names())
    # A run in a process of its own needs an instance other processes can open (not an
    # in-memory one) and nothing injected into this process (test hooks).
    if len(runs) > 1 and not instance.is_ephemeral and hooks is NO_HOOKS:
        _runs_in_processes(instance, sync, runs, log, summary)
    else:
        for block in runs:
            _locked_block(instance, sync, block, log, summary)
    summary.seconds = time.monotonic() - t0
    return summary


def _locked_block(
    instance: DagsterInstance,
    sync: BlockSync,
    block: list[str],
    log: Callable[[str], None],
    summary: SyncSummary,
) -> None:
    settings = sync.settings
    with ExitStack() as stack:
        for name in block:  # name order: two syncs never wait on each other in a circle
            wh = settings.for_account(name).warehouse
            stack.enter_context(sync_lock(wh.path, settings.sync.sync_wait_s, log))
        for name in block:
            closed = close_interrupted(settings.for_account(name))
            if closed:
                log(f"{name}: marked {closed} sync(s) left running by a killed process as interrupted")
        _run_block(instance, sync, block, log, summary)


def _runs_in_processes(
    instance: DagsterInstance,
    sync: BlockSync,
    runs: list[list[str]],
    log: Callable[[str], None],
    summary: SyncSummary,
) -> None:
    """The first block's run in this process, each other one in a fresh process of its own
    (spawn), all at once; their runs are recorded in the same instance, from which this
    summary is collected."""
    log(f"{len(runs)} runs side by side: " + ", ".join(block_label(b) for b in runs))
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=len(runs) - 1, mp_context=ctx) as pool:
        futures = [pool.submit(_block_process, instance.get_ref(), sync, b) for b in runs[1:]]
        here = SyncSummary()
        try:
            _locked_block(instance, sync, runs[0], log, here)
            done: list = [here.runs]
        except Exception as exc:
            done = [exc]
        done += [f.result() if f.exception() is None else f.exception() for f in futures]
    failures = [d for d in done if isinstance(d, BaseException)]
    for block_runs in (d for d in done if not isinstance(d, BaseException)):
        for job, run_id, ok in block_runs:
            summary.runs.append((job, run_id, ok))
            collect_run(instance, run_id, summary)
    if failures:
        raise failures[0]


def _block_process(
    ref: Any,  # DagsterInstance.get_ref(): how another process opens the same instance
    sync: BlockSync,
    block: list[str],
) -> list[tuple[str, str, bool]]:
    """One block's run, in a worker process; its progress goes to this process's stderr."""

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    block_summary = SyncSummary()
    with DagsterInstance.from_ref(ref) as instance:
        _locked_block(instance, sync, block, log, block_summary)
    return block_summary.runs


def _run_block(
    instance: DagsterInstance,
    sync: BlockSync,
    block: list[str],
    log: Callable[[str], None],
    summary: SyncSummary,
) -> None:
    settings, select, read, today = sync.settings, sync.select, sync.read, sync.today
    dims, events = selected_tables(select)
    first = last = today  # dimensions alone: today's partitions
    run_tags = {ACCOUNT_TAG: block_label(block), **(sync.tags or {})}
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
    job = build_definitions(settings, sync.hooks).resolve_job_def(SYNC_JOB)
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
