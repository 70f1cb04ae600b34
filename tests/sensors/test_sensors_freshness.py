"""Freshness: per-partition checks for access logs, a policy for every dimension table."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest
from dagster import AssetKey, AssetSpec, DefaultSensorStatus

from alocity_etl.defs import checks
from alocity_etl.defs.build import build_definitions
from alocity_etl.settings import Settings, SettingsError


def test_access_log_partitions_have_a_freshness_check() -> None:
    built = checks.build_checks(Settings.from_env({}))
    freshness = checks.build_partition_freshness_checks(Settings.from_env({}))
    assert {k.asset_key for c in freshness for k in c.check_keys} == {AssetKey("access_logs")}
    (sensor,) = built.sensors
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    all_checks = {k.asset_key for c in built.asset_checks for k in c.check_keys}
    assert {AssetKey(t) for t in checks.DIMENSION_TABLES + checks.EVENT_TABLES} <= all_checks


def test_bad_freshness_settings_name_the_variable() -> None:
    with pytest.raises(SettingsError, match="ALOCITY_ACCESS_LOG_FRESHNESS_CRON"):
        Settings.from_env({"ALOCITY_ACCESS_LOG_FRESHNESS_CRON": "every morning"})
    with pytest.raises(SettingsError, match="ALOCITY_FRESHNESS_MAX_AGE_HOURS"):
        Settings.from_env({"ALOCITY_FRESHNESS_MAX_AGE_HOURS": "a day"})


def test_every_dimension_table_has_the_freshness_policy() -> None:
    settings = Settings.from_env({"ALOCITY_FRESHNESS_MAX_AGE_HOURS": "30"})
    policy = checks.freshness_policy_for("users", settings)
    assert policy.fail_window.to_timedelta() == timedelta(hours=30)
    assert checks.with_freshness_policy(AssetSpec("users"), settings).freshness_policy is not None
    assert checks.with_freshness_policy(AssetSpec("alocity_access_key"), settings).freshness_policy is None
    # ... and the Definitions carry it on every dimension table (not on the event table).
    graph = build_definitions(settings).resolve_asset_graph()
    for table in checks.DIMENSION_TABLES:
        got = graph.get(dg.AssetKey(table)).freshness_policy
        assert got is not None and got.fail_window.to_timedelta() == timedelta(hours=30), table
    assert graph.get(dg.AssetKey("access_logs")).freshness_policy is None
