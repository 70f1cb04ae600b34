"""Many accounts in one asset graph: the account is a partition dimension.

With an accounts file every table and model asset is partitioned by ``account`` (static,
the file's names) x ``day`` (UTC days of access logs; for a dimension, the days a snapshot
brought up to date). Dimensions take the account x day partitions too, not the account
alone, because Dagster runs only assets of one partitions definition together: this way a
night of an account (its dimensions, the days of access logs it catches up, its models) is
one run, as it is for a single account. The lineage stays one graph whatever the number of
accounts.

A run covers a block of accounts x a range of days (Dagster's ranges over two dimensions are
rectangles). Its steps sync every account of the block side by side in threads, each at its
own API budget into its own warehouse file: accounts spend most of a sync waiting on their
budgets, so one process serves many of them in a few hundred MB where a process per account
would take ~250 MB each (docs/architecture.md).
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


def accounts_of(context: AssetExecutionContext) -> list[str]:
    """The accounts of the run's partitions, in order."""
    seen: dict[str, None] = {}
    for k in context.partition_keys:
        seen.setdefault(k.split("|", 1)[0], None)
    return list(seen)


def run_accounts(tags: Mapping[str, str], names: list[str]) -> list[str]:
    """The accounts a run covers, from its partition tags (for what runs before any step)."""
    if PARTITION in tags:
        return [tags[PARTITION].split("|", 1)[0]]
    if RANGE_START in tags and RANGE_END in tags:
        first, last = tags[RANGE_START].split("|", 1)[0], tags[RANGE_END].split("|", 1)[0]
        if first in names and last in names:
            return names[names.index(first) : names.index(last) + 1]
    return []


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
