"""Asset checks: data quality (derived from the catalog via warehouse/quality.py) and freshness.

One multi-asset check per warehouse table runs every rule that applies to it against a
read-only connection. Rules whose failure would spread downstream (duplicate keys, broken
SCD2 versions, duplicate events) are blocking; orphans are ERROR but not blocking; a
column-schema change is a WARN.

Freshness: dimensions must have materialized within ALOCITY_FRESHNESS_MAX_AGE_HOURS
(default 26: daily plus slack); each access-log day must be there by
ALOCITY_ACCESS_LOG_FRESHNESS_CRON (default 06:00 in the schedule's time zone, i.e. after
the nightly run). A running sensor evaluates them, so staleness shows without a run.
"""

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetSpec,
    DefaultSensorStatus,
    FreshnessPolicy,
    MetadataValue,
    SensorDefinition,
    SupersessionWarning,
    apply_freshness_policy,
    build_sensor_for_freshness_checks,
    build_time_partition_freshness_checks,
    multi_asset_check,
)

from alocity_etl.catalog import WriteMode, tables
from alocity_etl.defs.accounts import run_accounts
from alocity_etl.defs.resources import WarehouseResource
from alocity_etl.settings import Settings
from alocity_etl.warehouse import Warehouse
from alocity_etl.warehouse.quality import Rule, rules_for

DIMENSION_TABLES = [t for t, (r, _) in tables().items() if r.write_mode is WriteMode.VERSIONED]
EVENT_TABLES = [t for t, (r, _) in tables().items() if r.write_mode is WriteMode.APPEND]


def _result(rule: Rule, wh: Warehouse) -> AssetCheckResult:
    v = rule.run(wh.con)
    return AssetCheckResult(
        asset_key=AssetKey(rule.table),
        check_name=rule.name,
        passed=v.ok,
        severity=AssetCheckSeverity.WARN if rule.severity == "WARN" else AssetCheckSeverity.ERROR,
        description=None if v.ok else f"{v.count} violation(s): {rule.description}",
        metadata={"violations": v.count, "sample": MetadataValue.json(v.sample)},
    )


def build_quality_check(table: str) -> AssetChecksDefinition:
    rules = {r.name: r for r in rules_for(table)}
    specs = [
        AssetCheckSpec(r.name, asset=table, description=r.description, blocking=r.blocking)
        for r in rules.values()
    ]

    @multi_asset_check(name=f"quality_{table}", specs=specs, can_subset=True, compute_kind="duckdb")
    def _check(
        context: AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[AssetCheckResult]:
        selected = context.selected_asset_check_keys
        # Waits like the loading steps do for a file another process holds for writing (an
        # analyst's --write session, a second sync's preflight) instead of failing the check.
        with Warehouse.open(warehouse.path, read_only=True, lock_timeout=warehouse.lock_timeout_s) as wh:
            for name, rule in rules.items():
                if AssetCheckKey(AssetKey(table), name) in selected:
                    yield _result(rule, wh)

    return _check


def build_accounts_quality_check(table: str, settings: Settings) -> AssetChecksDefinition:
    """With an accounts file: each rule on every account the run covers (all when the check
    runs on its own); it fails naming the accounts that break it."""
    rules = {r.name: r for r in rules_for(table)}
    specs = [
        AssetCheckSpec(r.name, asset=table, description=r.description, blocking=r.blocking)
        for r in rules.values()
    ]
    names = settings.account_names()

    @multi_asset_check(name=f"quality_{table}", specs=specs, can_subset=True, compute_kind="duckdb")
    def _check(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
        chosen = [n for n in rules if AssetCheckKey(AssetKey(table), n) in context.selected_asset_check_keys]
        counts: dict[str, dict[str, int]] = {n: {} for n in chosen}
        for account in run_accounts(context.run.tags, names) or names:
            wh_settings = settings.for_account(account).warehouse
            with Warehouse.open(
                wh_settings.path, read_only=True, lock_timeout=wh_settings.lock_timeout_s
            ) as wh:
                for name in chosen:
                    counts[name][account] = rules[name].run(wh.con).count
        for name in chosen:
            rule, bad = rules[name], {a: n for a, n in counts[name].items() if n}
            yield AssetCheckResult(
                asset_key=AssetKey(table),
                check_name=name,
                passed=not bad,
                severity=AssetCheckSeverity.WARN if rule.severity == "WARN" else AssetCheckSeverity.ERROR,
                description=None
                if not bad
                else f"{sum(bad.values())} violation(s) in {', '.join(bad)}: {rule.description}",
                metadata={"violations": sum(bad.values()), "by_account": MetadataValue.json(counts[name])},
            )

    return _check


quality_checks: list[AssetChecksDefinition] = [build_quality_check(t) for t in tables()]


# ---------------------------------------------------------------- freshness


def freshness_policy_for(table: str, settings: Settings) -> FreshnessPolicy:
    """Dagster 1.13's freshness policy for a warehouse table (evaluated by the daemon's
    freshness loop, shown as Fresh / Stale on the asset): a new materialization at least
    every ALOCITY_FRESHNESS_MAX_AGE_HOURS (default 26 = nightly + slack)."""
    del table  # one policy today; per-table windows would go here
    hours = settings.monitoring.freshness_max_age_hours
    return FreshnessPolicy.time_window(fail_window=timedelta(hours=hours))


def with_freshness_policy(spec: AssetSpec, settings: Settings) -> AssetSpec:
    """The spec of a dimension table with its freshness policy; any other spec as it is."""
    name = spec.key.to_user_string()
    if name not in DIMENSION_TABLES or spec.freshness_policy is not None:
        return spec
    return apply_freshness_policy(spec, freshness_policy_for(name, settings))


def build_partition_freshness_checks(settings: Settings) -> list[AssetChecksDefinition]:
    """Per-partition freshness of the access logs: after each deadline tick, the latest
    complete UTC day must be loaded. FreshnessPolicy has no per-partition form, so this
    uses the (superseded, still supported) partition freshness check."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SupersessionWarning)
        return list(
            build_time_partition_freshness_checks(
                assets=EVENT_TABLES,
                deadline_cron=settings.monitoring.access_log_freshness_cron,
                timezone=settings.sync.schedule_timezone,
            )
        )


def build_freshness_sensor(checks: list[AssetChecksDefinition]) -> SensorDefinition:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SupersessionWarning)
        return build_sensor_for_freshness_checks(
            freshness_checks=checks,
            name="alocity_freshness_checks_sensor",
            default_status=DefaultSensorStatus.RUNNING,
        )


@dataclass(frozen=True)
class Checks:
    """The checks of the one Definitions, and the sensor that evaluates the freshness ones."""

    asset_checks: list[AssetChecksDefinition]
    sensors: list[SensorDefinition]


def build_checks(settings: Settings) -> Checks:
    if settings.multi_account:
        # The per-day freshness checks know daily partitions only; with accounts the tables'
        # freshness policies (dimensions) and each account's ledger stand in for them.
        return Checks([build_accounts_quality_check(t, settings) for t in tables()], [])
    freshness = build_partition_freshness_checks(settings)
    return Checks([*quality_checks, *freshness], [build_freshness_sensor(freshness)])
