"""Assets derived from the catalog: one asset per warehouse table, one step per Alocity resource.

A resource with child tables (users -> cards, schedules -> cron_schedules) is one
multi-asset, because one fetch fills all of its tables in one transaction. A fan-out
resource depends on its parent's asset (cloud keys are fetched per user), so the
lineage graph shows the real flow of requests.
"""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    BackfillPolicy,
    DailyPartitionsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    multi_asset,
)

from alocity_etl.catalog import API_PREFIX, CATALOG, ENDPOINTS, ChildTable, Resource, WriteMode
from alocity_etl.client import AlocityClient
from alocity_etl.defs.accounts import account_days, accounts_of, each_account, run_accounts
from alocity_etl.defs.checks import with_freshness_policy
from alocity_etl.defs.resources import AccountsSyncGuard, AlocityApi, SyncGuard, WarehouseResource
from alocity_etl.settings import Settings
from alocity_etl.sync.events import EventsRead, first_partition_day
from alocity_etl.sync.pipeline import ResourceResult, sync_resource
from alocity_etl.sync.read_plan import CatchUp, DayRange, Intraday, Read
from alocity_etl.warehouse.write_hooks import NO_HOOKS, WriteHooks

# Every asset takes this pool: one step at a time spends the API budget and writes the file.
POOL = "alocity"
GROUP = "tables"
RAW_GROUP = "raw"
MODELS_GROUP = "analytics"  # the dbt models (defs/analytics.py)
DBT_TEST_ID = "dbt/unique_id"  # on every dbt check result, to tell them from the warehouse's own checks
RAW_PREFIX = "alocity"
DICTIONARY = "docs/data_dictionary.md"
PRIORITY_TAG = "dagster/priority"
# How a run reads the access logs (absent: exactly its partitions).
READ_TAG = "alocity/access_logs"
CATCH_UP = "catch-up"
INTRADAY = "intraday"


def priority(resource: Resource) -> int:
    """Step order in a run that loads several resources (higher first; checks and models keep 0).

    The in-process executor runs one step at a time and the API budget is a sliding window:
    a moment when the window has room and no call goes out is lost for good. So resources
    whose per-item detail calls go out at once come first (users: 200 calls spend the first
    window at once), then the other dimensions, then the access logs: their fetcher takes what
    the window has left in one burst (sync/fetch_ahead.py) and their CPU-bound writes
    run while it refills. Fan-outs of users wait for the users' blocking checks anyway.
    """
    if resource.write_mode is WriteMode.APPEND:
        return 1
    return 3 if resource.detail_endpoint else 2


def _schema(resource: Resource, child: ChildTable | None) -> TableSchema:
    cols = child.columns if child else resource.columns
    extra = (
        [resource.fan_out.carry_as] if (resource.fan_out and resource.fan_out.carry_as and not child) else []
    )
    return TableSchema(
        columns=[TableColumn(c.name, c.type, description=c.description) for c in [*extra, *cols]]
    )


def raw_key(resource: Resource) -> AssetKey:
    """The external (raw) asset of a resource's Alocity endpoint."""
    return AssetKey([RAW_PREFIX, resource.name])


def endpoint_paths(resource: Resource) -> list[str]:
    """Every API path a resource is read from: its list call, then its detail call if any."""
    paths = [resource.path]
    if resource.detail_endpoint:
        paths.append(f"{API_PREFIX}/{ENDPOINTS[resource.detail_endpoint]}")
    return paths


def build_raw_sources() -> list[AssetSpec]:
    """One external asset per Alocity resource (group ``raw``): the API the tables come from."""
    return [
        AssetSpec(
            key=raw_key(r),
            description=(
                f"Alocity API: {' then '.join(f'`GET {p}`' for p in endpoint_paths(r))}"
                + (f" (once per `{r.fan_out.parent}` row)" if r.fan_out else "")
                + (" - INFERRED endpoint, may be absent on an account" if r.inferred else "")
                + f".\n\n{r.description}"
            ),
            group_name=RAW_GROUP,
            kinds={"api"},
            metadata={"endpoint": endpoint_paths(r)[0], "paging": r.paging.value},
        )
        for r in CATALOG
    ]


def _spec(resource: Resource, child: ChildTable | None, partitions) -> AssetSpec:
    name = child.name if child else resource.name
    deps = [raw_key(resource)]
    deps += [AssetKey(resource.fan_out.parent)] if resource.fan_out and not child else []
    description = (child.description if child else resource.description) + (
        f"\n\nSource: `GET {resource.path}`"
        + (" (fan-out per parent)" if resource.fan_out else "")
        + f". Column meanings: [docs/data_dictionary.md]({DICTIONARY}#{name})."
    )
    return AssetSpec(
        key=name,
        deps=deps,
        description=description,
        group_name=GROUP,
        kinds={"duckdb", "pandas"},
        partitions_def=partitions,
        metadata={
            "dagster/column_schema": _schema(resource, child),
            "dagster/table_name": f"main.{name}",
            "endpoint": resource.path,
            "write_mode": resource.write_mode.value,
        },
    )


def _results(context: AssetExecutionContext, result: ResourceResult) -> Iterator[MaterializeResult]:
    for table, t in result.tables.items():
        metadata = {
            "dagster/row_count": t.row_count,
            "table": f"main.{table}",
            "inserted": t.inserted,
            "updated": t.updated,
            "deleted": t.deleted,
            "unchanged": t.unchanged,
            "sync_id": result.sync_id,
            "dagster/column_schema": TableSchema(columns=[TableColumn(n, ty) for n, ty in t.columns]),
            **{k: v for k, v in result.client_stats.items()},
        }
        if result.unavailable:
            metadata["unavailable"] = MetadataValue.text(result.unavailable)
        if t.schema_changes:
            metadata["schema_changes"] = MetadataValue.md("\n".join(f"- {c}" for c in t.schema_changes))
        if result.events is not None:
            metadata.update(events_metadata(result.events))
        yield MaterializeResult(asset_key=table, metadata=metadata)


def events_metadata(events: EventsRead) -> dict[str, Any]:
    """What an access-log read did, as the UI shows it: days read, partial days, late events."""
    days = sorted(events.days, key=lambda d: d.day)
    late = [d for d in days if d.late]
    out: dict[str, Any] = {
        "days_read": len(days),
        "first_day_read": MetadataValue.text(days[0].day.isoformat()) if days else MetadataValue.text(""),
        "partial_days": MetadataValue.text(", ".join(d.day.isoformat() for d in days if not d.complete)),
        "late_events": sum(d.late for d in late),
        # The weekly deeper re-read (ALOCITY_ACCESS_LOG_RECHECK_DAYS): where it began, if made.
        "recheck_from": MetadataValue.text(events.recheck_from.isoformat() if events.recheck_from else ""),
    }
    if late:
        out["late_by_day"] = MetadataValue.json({d.day.isoformat(): d.late for d in late})
    return out


def access_log_read(context: AssetExecutionContext) -> Read:
    """What the run asks of the access logs: its tag (catch-up, intraday), else exactly its
    partitions (a backfill from the UI, `--days`, `--since/--until`)."""
    mode = context.run.tags.get(READ_TAG)
    if mode == CATCH_UP:
        return CatchUp()
    if mode == INTRADAY:
        return Intraday()
    window = context.partition_time_window
    return DayRange(window.start.date(), (window.end - timedelta(days=1)).date())


def _multi_results(results: dict[str, ResourceResult]) -> Iterator[MaterializeResult]:
    """One materialization per table for the run's accounts: totals, and each account's
    figures under ``by_account`` (what `alocity-etl sync` prints per account)."""
    first = next(iter(results.values()))
    for table in first.tables:
        per = {}
        for name, r in results.items():
            t = r.tables[table]
            per[name] = {
                "rows": t.row_count,
                "inserted": t.inserted,
                "updated": t.updated,
                "deleted": t.deleted,
                "unchanged": t.unchanged,
                "sync_id": r.sync_id,
                **{k: v for k, v in r.client_stats.items()},
            }
            if r.unavailable:
                per[name]["unavailable"] = r.unavailable
            if r.events is not None:
                late = sum(d.late for d in r.events.days)
                per[name].update(days_read=len(r.events.days), late_events=late)
        metadata: dict[str, Any] = {
            "dagster/row_count": sum(p["rows"] for p in per.values()),
            "table": f"main.{table}",
            **{k: sum(p[k] for p in per.values()) for k in ("inserted", "updated", "deleted", "unchanged")},
            "accounts": len(per),
            "by_account": MetadataValue.json(per),
        }
        # Client accounting is read once per step (runs.collect_run): on the step's first table.
        if table == next(iter(first.tables)):
            for k in ("requests", "responses_429", "throttled_seconds"):
                metadata[k] = round(sum(float(p.get(k, 0) or 0) for p in per.values()), 3)
        yield MaterializeResult(asset_key=table, metadata=metadata)


def build_resource_asset(
    resource: Resource, settings: Settings, hooks: WriteHooks = NO_HOOKS, shared_partitions=None
):
    """The multi-asset of one resource. With an accounts file, `shared_partitions` (account x
    day, defs/accounts.py) partitions the access logs, and a run syncs each of its accounts."""
    if settings.multi_account:
        return _accounts_asset(resource, settings, hooks, shared_partitions)
    partitions = None
    backfill = None
    if resource.write_mode is WriteMode.APPEND:
        # From the account's first event (no phantom days before it) through today so far.
        partitions = DailyPartitionsDefinition(
            start_date=first_partition_day(settings).isoformat(), timezone="UTC", end_offset=1
        )
        # A backfill of many days runs as one run that fetches day by day.
        backfill = BackfillPolicy.single_run()
    specs = [_spec(resource, None, partitions)] + [_spec(resource, c, partitions) for c in resource.children]
    specs = [with_freshness_policy(spec, settings) for spec in specs]  # dimensions: stale after a day

    @multi_asset(
        name=f"load_{resource.name}",
        specs=specs,
        pool=POOL,
        op_tags={PRIORITY_TAG: str(priority(resource))},
        partitions_def=partitions,
        backfill_policy=backfill,
        description=f"Fetch {resource.name} from Alocity and write its tables.",
    )
    def _asset(
        context: AssetExecutionContext,
        alocity: AlocityApi,
        warehouse: WarehouseResource,
        sync_guard: SyncGuard,
    ):
        del sync_guard  # held for the run (see SyncGuard)
        with alocity.client() as client:
            result = sync_resource(
                client,
                warehouse.path,
                resource,
                run_id=context.run.run_id,
                read=access_log_read(context) if partitions else None,
                settle_days=settings.sync.settle_days,
                recheck_days=settings.sync.recheck_days,
                access_log_start=settings.sync.access_log_start,
                log=context.log.info,
                lock_timeout_s=warehouse.lock_timeout_s,
                hooks=hooks,
            )
        if result.unavailable:
            context.log.warning(result.unavailable)
        yield from _results(context, result)

    return _asset


def _accounts_asset(resource: Resource, settings: Settings, hooks: WriteHooks, account_days_def):
    events = resource.write_mode is WriteMode.APPEND
    # Dimensions stay unpartitioned: Dagster records a materialization per partition, and a
    # dimension's account x day partitions would be every table x every account x every day
    # of a catch-up (a first sync of 50 accounts: ~57,000 events, 13 minutes of bookkeeping
    # before the first request). The run's tags say which accounts a dimension step syncs.
    partitions = account_days_def if events else None
    specs = [_spec(resource, None, partitions)] + [_spec(resource, c, partitions) for c in resource.children]
    specs = [with_freshness_policy(spec, settings) for spec in specs]
    names = settings.account_names()

    # No pool: a pool is one name for every run, and these steps serve whichever accounts
    # their run covers, so a pool would make the runs of different accounts take turns step
    # by step. One run per account at a time is kept by each account's sync lock (the
    # AccountsSyncGuard) and, under the daemon, by the run queue's per-account tag limit.
    @multi_asset(
        name=f"load_{resource.name}",
        specs=specs,
        op_tags={PRIORITY_TAG: str(priority(resource))},
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run() if events else None,
        description=f"Fetch {resource.name} from each account of the run and write its tables.",
    )
    def _asset(context: AssetExecutionContext, accounts_sync_guard: AccountsSyncGuard):
        del accounts_sync_guard  # held for the run
        read = access_log_read(context) if events else None

        def one(name: str) -> ResourceResult:
            account = settings.for_account(name)
            # The key comes from the account's own variable, read with the settings (never shown).
            with AlocityClient(account.api.client()) as client:
                return sync_resource(
                    client,
                    account.warehouse.path,
                    resource,
                    run_id=context.run.run_id,
                    read=read,
                    settle_days=settings.sync.settle_days,
                    recheck_days=settings.sync.recheck_days,
                    access_log_start=settings.sync.access_log_start,
                    log=lambda m: context.log.info(f"{name}: {m}"),
                    lock_timeout_s=account.warehouse.lock_timeout_s,
                    hooks=hooks,
                )

        accounts = accounts_of(context) if events else run_accounts(context.run.tags, names)
        results = each_account(accounts, one)
        failed = {n: r for n, r in results.items() if isinstance(r, BaseException)}
        for name, r in results.items():
            if not isinstance(r, BaseException) and r.unavailable:
                context.log.warning(f"{name}: {r.unavailable}")
        if failed:
            # Each account's write is its own transaction: the others' tables stay written, and
            # the next catch-up reads the failed ones again. The step fails, as with one account.
            lines = {n: (str(e).strip().splitlines() or [type(e).__name__])[-1] for n, e in failed.items()}
            raise Failure(
                description=f"{len(failed)} of {len(results)} accounts failed: "
                + "; ".join(f"{n}: {line}" for n, line in lines.items()),
                metadata={"by_account": MetadataValue.json(lines)},
            )
        yield from _multi_results(results)  # type: ignore[arg-type]

    return _asset


def build_assets(settings: Settings, hooks: WriteHooks = NO_HOOKS, partitions=None) -> list:
    """One asset per resource; with an accounts file, `partitions` is account x day."""
    if settings.multi_account and partitions is None:
        partitions = account_days(settings)
    return [build_resource_asset(r, settings, hooks, partitions) for r in CATALOG]
