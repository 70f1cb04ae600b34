"""The access-key sensor evaluated at controlled times against a real webhook receiver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckSeverity,
    AssetObservation,
    DagsterInstance,
    DefaultSensorStatus,
    SensorDefinition,
    SensorResult,
    build_sensor_context,
)

from alocity_etl.defs.sensors import KEY_ASSET, KEY_CHECK, build_access_key_sensor
from alocity_etl.settings import Settings, SettingsError

KEY = "alk_super-secret-key-do-not-leak-42"
EXPIRES = datetime(2027, 1, 1, 9, 0, tzinfo=UTC)
HINT = "copy it from Settings -> Integration into ALOCITY_ACCESS_KEY"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _env(hook: Any, **extra: str) -> dict[str, str]:
    env = {"ALOCITY_ACCESS_KEY": KEY, "ALOCITY_ACCESS_KEY_EXPIRES_AT": EXPIRES.isoformat()}
    if hook:
        env["ALOCITY_ALERT_WEBHOOK_URL"] = hook.url
    return {**env, **extra}


class Ticker:
    """Evaluates the sensor like the daemon does: each tick gets the previous tick's cursor."""

    def __init__(self, env: dict[str, str], tmp_path: Path, start: datetime) -> None:
        self.clock = Clock(start)
        self.warehouse = str(tmp_path / "w.duckdb")
        self.sensor = self.build(env)
        self.cursor: str | None = None
        self.instance = DagsterInstance.ephemeral()

    def build(self, env: dict[str, str]) -> SensorDefinition:
        settings = Settings.from_env({**env, "ALOCITY_WAREHOUSE": self.warehouse})
        return build_access_key_sensor(settings, self.clock)

    def tick(self, at: datetime) -> SensorResult:
        self.clock.now = at
        ctx = build_sensor_context(cursor=self.cursor, instance=self.instance)
        result = self.sensor(ctx)
        assert isinstance(result, SensorResult) and not result.run_requests
        self.cursor = result.cursor
        return result


def _checks(result: SensorResult) -> list[AssetCheckEvaluation]:
    return [e for e in result.asset_events or [] if isinstance(e, AssetCheckEvaluation)]


def _no_key_anywhere(result: SensorResult, hook: Any = None) -> None:
    blobs = [result.skip_reason.skip_message if result.skip_reason else "", result.cursor or ""]
    blobs += [repr(e) for e in result.asset_events or []]
    assert all(KEY not in b for b in blobs)
    if hook:
        assert all(KEY.encode() not in raw for raw in hook.raw)


def test_far_from_expiry_skips_with_days_left(webhook: Any, tmp_path: Path) -> None:
    t = Ticker(_env(webhook), tmp_path, EXPIRES - timedelta(days=200))
    r = t.tick(EXPIRES - timedelta(days=200, hours=1))
    msg = r.skip_reason.skip_message
    assert "200 days left" in msg and "ALOCITY_ACCESS_KEY_EXPIRES_AT" in msg
    (check,) = _checks(r)
    assert check.passed and check.asset_key == KEY_ASSET and check.check_name == KEY_CHECK
    assert any(isinstance(e, AssetObservation) for e in r.asset_events)
    # Same day again: nothing new to report, still a skip.
    r2 = t.tick(EXPIRES - timedelta(days=200, hours=2))
    assert "200 days left" in r2.skip_reason.skip_message and not r2.asset_events
    assert webhook.posts == []
    _no_key_anywhere(r, webhook)


def test_each_threshold_alerts_exactly_once(webhook: Any, tmp_path: Path) -> None:
    t = Ticker(_env(webhook), tmp_path, EXPIRES - timedelta(days=40))
    schedule = [  # (time before expiry, webhook posts expected so far)
        (timedelta(days=40), 0),
        (timedelta(days=30, hours=1), 1),  # 30 days left
        (timedelta(days=30), 1),
        (timedelta(days=20), 1),
        (timedelta(days=14), 2),
        (timedelta(days=13, hours=12), 2),
        (timedelta(days=7), 3),
        (timedelta(days=3), 4),
        (timedelta(days=3) - timedelta(hours=1), 4),
        (timedelta(days=1), 5),
        (timedelta(hours=12), 5),  # last day: ERROR in the UI, but 1-day alert already sent
        (-timedelta(minutes=5), 6),  # expired
        (-timedelta(days=1), 6),
    ]
    severities = []
    for before, posts in schedule:
        r = t.tick(EXPIRES - before)
        assert len(webhook.posts) == posts, before
        severities += [(before, c.passed, c.severity) for c in _checks(r)]
        _no_key_anywhere(r, webhook)
    texts = webhook.texts
    for text, days in zip(texts, ["30 days", "14 days", "7 days", "3 days", "1 day,"], strict=False):
        assert f"expires in {days}" in text and HINT in text, text
    assert "EXPIRED" in texts[-1] and "Every Alocity sync now fails" in texts[-1]
    assert all("ALOCITY_ACCESS_KEY_EXPIRES_AT" in t for t in texts)
    by_time = {b: (p, s) for b, p, s in severities}
    assert by_time[timedelta(days=40)][0] is True
    assert by_time[timedelta(days=14)] == (False, AssetCheckSeverity.WARN)
    assert by_time[timedelta(hours=12)] == (False, AssetCheckSeverity.ERROR)
    assert by_time[-timedelta(minutes=5)] == (False, AssetCheckSeverity.ERROR)


def test_expired_is_error(webhook: Any, tmp_path: Path) -> None:
    t = Ticker(_env(webhook), tmp_path, EXPIRES)
    r = t.tick(EXPIRES + timedelta(days=3))
    (check,) = _checks(r)
    assert not check.passed and check.severity == AssetCheckSeverity.ERROR
    assert "expired" in r.skip_reason.skip_message
    assert len(webhook.posts) == 1 and "EXPIRED" in webhook.texts[0]
    t.tick(EXPIRES + timedelta(days=3, hours=1))
    assert len(webhook.posts) == 1


def test_jump_past_several_thresholds_sends_one_alert(webhook: Any, tmp_path: Path) -> None:
    t = Ticker(_env(webhook), tmp_path, EXPIRES)
    t.tick(EXPIRES - timedelta(days=5))  # first tick ever, 5 days left: the 7-day alert only
    assert len(webhook.posts) == 1 and "expires in 5 days" in webhook.texts[0]
    t.tick(EXPIRES - timedelta(days=4))
    assert len(webhook.posts) == 1
    t.tick(EXPIRES - timedelta(days=2, hours=23))
    assert len(webhook.posts) == 2


def test_failed_delivery_is_retried_next_tick(webhook: Any, tmp_path: Path) -> None:
    t = Ticker(_env(webhook), tmp_path, EXPIRES)
    webhook.fail_next = 2  # the first attempt and its one retry
    r = t.tick(EXPIRES - timedelta(days=10))
    assert webhook.posts == [] and len(webhook.raw) == 2 and r.skip_reason is not None
    t.tick(EXPIRES - timedelta(days=10, minutes=-60))
    assert len(webhook.posts) == 1
    t.tick(EXPIRES - timedelta(days=9))
    assert len(webhook.posts) == 1


def test_unreachable_webhook_never_raises(tmp_path: Path) -> None:
    env = _env(None, ALOCITY_ALERT_WEBHOOK_URL="http://127.0.0.1:9/hook")  # discard port: refused
    t = Ticker(env, tmp_path, EXPIRES)
    r = t.tick(EXPIRES - timedelta(days=2))
    assert "threshold reached" in r.skip_reason.skip_message


def test_new_key_starts_over(webhook: Any, tmp_path: Path) -> None:
    t = Ticker(_env(webhook), tmp_path, EXPIRES)
    t.tick(EXPIRES - timedelta(days=20))
    assert len(webhook.posts) == 1
    # The user pastes the renewed key and its date: far again, and the old alerts are forgotten.
    new_expiry = EXPIRES + timedelta(days=345)
    t.sensor = t.build(
        _env(webhook, ALOCITY_ACCESS_KEY="alk_renewed", ALOCITY_ACCESS_KEY_EXPIRES_AT=new_expiry.isoformat())
    )
    r = t.tick(EXPIRES - timedelta(days=19))
    assert "days left" in r.skip_reason.skip_message and len(webhook.posts) == 1
    t.tick(new_expiry - timedelta(days=29))
    assert len(webhook.posts) == 2


def test_no_webhook_still_warns_in_the_ui(tmp_path: Path) -> None:
    t = Ticker(_env(None), tmp_path, EXPIRES)
    r = t.tick(EXPIRES - timedelta(days=6))
    (check,) = _checks(r)
    assert check.severity == AssetCheckSeverity.WARN and not check.passed
    assert "7 days threshold reached" in r.skip_reason.skip_message


def test_bad_setting_is_one_clear_line(tmp_path: Path) -> None:
    # Refused where the settings are read (the code location does not load), in one line.
    with pytest.raises(SettingsError) as err:
        Ticker(_env(None, ALOCITY_ACCESS_KEY_EXPIRES_AT="soon"), tmp_path, EXPIRES)
    assert str(err.value).startswith("ALOCITY_ACCESS_KEY_EXPIRES_AT='soon' is not an ISO date")
    assert "\n" not in str(err.value) and KEY not in str(err.value)


def test_first_seen_estimate_through_the_sensor(webhook: Any, tmp_path: Path) -> None:
    env = {"ALOCITY_ACCESS_KEY": KEY, "ALOCITY_ALERT_WEBHOOK_URL": webhook.url}
    t = Ticker(env, tmp_path, EXPIRES)
    r = t.tick(datetime(2026, 3, 1, tzinfo=UTC))
    assert (
        "365 days left" in r.skip_reason.skip_message
        and "first seen 2026-03-01 (estimate)" in r.skip_reason.skip_message
    )
    # The first sighting now rides in the cursor: later ticks leave the warehouse alone
    # (no lock contention with a running sync).
    (tmp_path / "w.duckdb").unlink()
    t.tick(datetime(2027, 2, 20, tzinfo=UTC))  # 9 days left by the estimate
    assert len(webhook.posts) == 1 and "estimate" in webhook.texts[0]
    assert not (tmp_path / "w.duckdb").exists()


def test_interval_and_default_status() -> None:
    s = build_access_key_sensor(Settings.from_env({}))
    assert s.default_status == DefaultSensorStatus.RUNNING and s.minimum_interval_seconds == 3600
    every_10_min = Settings.from_env({"ALOCITY_KEY_SENSOR_INTERVAL_SECONDS": "600"})
    assert build_access_key_sensor(every_10_min).minimum_interval_seconds == 600
    with pytest.raises(SettingsError, match="ALOCITY_KEY_SENSOR_INTERVAL_SECONDS"):
        Settings.from_env({"ALOCITY_KEY_SENSOR_INTERVAL_SECONDS": "hourly"})


def test_events_persist_like_the_daemon_stores_them(tmp_path: Path) -> None:
    """The daemon reports SensorResult.asset_events as runless events: check they land on the
    alocity_access_key asset and its access_key_expiry check (what the UI shows)."""
    t = Ticker(_env(None), tmp_path, EXPIRES)
    r = t.tick(EXPIRES + timedelta(hours=1))
    for event in r.asset_events:
        t.instance.report_runless_asset_event(event)
    obs = t.instance.fetch_observations(KEY_ASSET, limit=1).records[0].asset_observation
    assert obs.metadata["days_left"].value == -1
    (rec,) = t.instance.event_log_storage.get_asset_check_execution_history(
        AssetCheckKey(KEY_ASSET, KEY_CHECK), limit=1
    )
    assert rec.status.value == "FAILED"  # (the enum's class is not public: compare its value)
    assert rec.event.dagster_event.event_specific_data.severity == AssetCheckSeverity.ERROR
