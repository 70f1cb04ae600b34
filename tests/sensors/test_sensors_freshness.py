"""Freshness: per-partition checks for access logs, a policy for every table."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dagster import AssetKey, AssetSpec, DefaultSensorStatus

from alocity_etl.defs import checks
from alocity_etl.settings import SettingsError


def test_access_log_partitions_have_a_freshness_check() -> None:
    keys = {k.asset_key for c in checks.freshness_checks for k in c.check_keys}
    assert keys == {AssetKey("access_logs")}
    assert checks.freshness_sensor.default_status == DefaultSensorStatus.RUNNING
    all_checks = {k.asset_key for c in checks.asset_checks for k in c.check_keys}
    assert {AssetKey(t) for t in checks.DIMENSION_TABLES + checks.EVENT_TABLES} <= all_checks


def test_bad_freshness_settings_name_the_variable() -> None:
    with pytest.raises(SettingsError, match="ALOCITY_ACCESS_LOG_FRESHNESS_CRON"):
        checks.build_partition_freshness_checks({"ALOCITY_ACCESS_LOG_FRESHNESS_CRON": "every morning"})
    with pytest.raises(SettingsError, match="ALOCITY_FRESHNESS_MAX_AGE_HOURS"):
        checks.max_age({"ALOCITY_FRESHNESS_MAX_AGE_HOURS": "a day"})


def test_freshness_policy_for_tables_only() -> None:
    policy = checks.freshness_policy_for("users", {"ALOCITY_FRESHNESS_MAX_AGE_HOURS": "30"})
    assert policy.fail_window.to_timedelta() == timedelta(hours=30)
    assert AssetSpec("users", freshness_policy=policy).freshness_policy == policy
    assert checks.with_freshness_policy(AssetSpec("users")).freshness_policy is not None
    assert checks.with_freshness_policy(AssetSpec("alocity_access_key")).freshness_policy is None
