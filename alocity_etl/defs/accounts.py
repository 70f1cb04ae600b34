"""Many accounts in one asset graph: the account is a partition dimension.

With an accounts file the access logs are partitioned by ``account`` (static, the file's
names) x ``day`` (UTC days). The dimensions and the models stay unpartitioned, as for one
account, so that a night of a block of accounts (their dimensions, the days of access logs
each catches up, their models) is one run; the run's partition tags say which accounts its
unpartitioned steps sync (`run_accounts`). (Dimensions partitioned by account x day too
were tried: Dagster records a materialization per partition, and a first sync of 50
accounts spent 13 minutes on that bookkeeping before its first request.) The lineage stays
one graph whatever the number of accounts.

A run covers a block of accounts x a range of days (Dagster's ranges over two dimensions are
rectangles). Its steps sync every account of the block side by side in threads, each at its
own API budget into its own warehouse file: accounts spend most of a sync waiting on their
budgets, so one process serves many of them in a few hundred MB where a process per account
would take ~250 MB each; a few such runs go side by side (`run_blocks`), so their CPU work
spreads over the cores (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import TypeVar

from dagster import (
    AssetExecutionContext,
    DailyPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
)

from alocity_etl.settings import Settings
from alocity_etl.sync.events import first_partition_day

ACCOUNT_DIM, DAY_DIM = "account", "day"
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
PARTITION = "dagster/partition"
# The accounts of a run without partitions (a models refresh after a sync): comma-separated.
ACCOUNTS_TAG = "alocity/accounts"
T = TypeVar("T")


def account_days(settings: Settings) -> MultiPartitionsDefinition:
    """account x day; days from the earliest account's first event through today so far."""
    first = min(first_partition_day(settings.for_account(n)) for n in settings.account_names())
    return MultiPartitionsDefinition(
        {
            ACCOUNT_DIM: StaticPartitionsDefinition(settings.account_names()),
            DAY_DIM: DailyPartitionsDefinition(start_date=first.isoformat(), timezone="UTC", end_offset=1),
        }
    )


def key(account: str, day: date) -> str:
    """The partition key of an account's day ("hq|2026-01-03": Dagster orders dimensions by name)."""
    return str(MultiPartitionKey({ACCOUNT_DIM: account, DAY_DIM: day.isoformat()}))


def block_tags(accounts: list[str], first: date, last: date) -> dict[str, str]:
    """A run over the block of (consecutive, sorted) accounts x the days first..last."""
    return {RANGE_START: key(accounts[0], first), RANGE_END: key(accounts[-1], last)}


def blocks(names: list[str], chosen: Iterable[str], size: int) -> list[list[str]]:
    """`chosen` accounts as runs' blocks: consecutive in the file's order (a run's accounts
    are a range, so a block never spans an account left out) and at most `size` each."""
    wanted, out, current = set(chosen), [], []
    for name in names:
        if name in wanted and len(current) < size:
            current.append(name)
            continue
        if current:
            out.append(current)
        current = [name] if name in wanted else []
    if current:
        out.append(current)
    return out


def run_blocks(settings: Settings, chosen: Iterable[str]) -> list[list[str]]:
    """`chosen` accounts as the blocks of the runs that sync them: ALOCITY_ACCOUNT_RUNS runs
    (processes, so the CPU work of many accounts is spread over every core), each of at most
    ALOCITY_ACCOUNTS_PER_RUN accounts."""
    chosen = list(chosen)
    size = -(-len(chosen) // settings.sync.account_runs)  # ceil
    return blocks(settings.account_names(), chosen, max(1, min(settings.sync.accounts_per_run, size)))


def accounts_of(context: AssetExecutionContext) -> list[str]:
    """The accounts of the run's partitions, in order."""
    seen: dict[str, None] = {}
    for k in context.partition_keys:
        seen.setdefault(k.split("|", 1)[0], None)
    return list(seen)


def run_accounts(tags: Mapping[str, str], names: list[str]) -> list[str]:
    """The accounts a run covers, from its partition tags: what the unpartitioned steps (the
    dimensions, the models, the checks) and the run's locks go by. A run without partitions
    (e.g. `sync_dimensions` started from the UI) covers every account."""
    if ACCOUNTS_TAG in tags:
        return [n for n in tags[ACCOUNTS_TAG].split(",") if n in names]
    if PARTITION in tags and tags[PARTITION].split("|", 1)[0] in names:
        return [tags[PARTITION].split("|", 1)[0]]
    if RANGE_START in tags and RANGE_END in tags:
        first, last = tags[RANGE_START].split("|", 1)[0], tags[RANGE_END].split("|", 1)[0]
        if first in names and last in names:
            return names[names.index(first) : names.index(last) + 1]
    return list(names)


def each_account(accounts: list[str], work: Callable[[str], T]) -> dict[str, T | BaseException]:
    """`work(account)` for every account side by side (threads: the work waits on the API);
    each account's result, or the exception it raised: one account's failure stops no other."""
    if len(accounts) == 1:
        try:
            return {accounts[0]: work(accounts[0])}
        except Exception as exc:
            return {accounts[0]: exc}
    with ThreadPoolExecutor(max_workers=len(accounts), thread_name_prefix="account") as pool:
        futures = {name: pool.submit(work, name) for name in accounts}
    out: dict[str, T | BaseException] = {}
    for name, fut in futures.items():
        exc = fut.exception()
        out[name] = exc if exc is not None else fut.result()
    return out
