"""Run-failure alerts, the webhook client, and the sandbox's key renewal near expiry."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, build_run_status_sensor_context, build_sensor_context, job, op

from alocity_etl.defs.sensors import build_access_key_sensor, build_run_failure_sensor
from alocity_etl.monitoring.alerts import key_expiry_message, post_alert, run_failure_message
from alocity_etl.monitoring.key_expiry import KeyExpiry
from alocity_etl.settings import Settings

KEY = "alk_super-secret-key-do-not-leak-42"


@op
def fetch_users() -> None:
    raise RuntimeError(f"token exchange failed for {KEY}\nTraceback line two")


@job
def sync_dimensions() -> None:
    fetch_users()


def failed_run() -> tuple[Any, Any]:
    """A failed run of a job named like ours, and the failure sensor's context for it."""
    instance = DagsterInstance.ephemeral()
    result = sync_dimensions.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    ctx = build_run_status_sensor_context(
        sensor_name="alocity_run_failure_alert",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    ).for_run_failure()
    return result, ctx


def test_run_failure_posts_job_run_and_first_error_line(webhook: Any) -> None:
    result, ctx = failed_run()
    sensor = build_run_failure_sensor(
        Settings.from_env({"ALOCITY_ACCESS_KEY": KEY, "ALOCITY_ALERT_WEBHOOK_URL": webhook.url})
    )
    sensor(ctx)
    (text,) = webhook.texts
    assert "job sync_dimensions" in text and result.run_id in text
    assert "token exchange failed for [redacted]" in text
    assert "Traceback line two" not in text and KEY not in text
    assert all(KEY.encode() not in raw for raw in webhook.raw)


def test_run_failure_without_webhook_is_quiet(webhook: Any, capfd: pytest.CaptureFixture[str]) -> None:
    result, ctx = failed_run()
    capfd.readouterr()
    build_run_failure_sensor(Settings.from_env({"ALOCITY_ACCESS_KEY": KEY}))(ctx)  # no URL set
    # Nothing posted anywhere (the webhook server saw no request); the sensor's log says why,
    # and carries the failure without the key.
    assert webhook.raw == []
    logged = capfd.readouterr().err
    said = [line for line in logged.splitlines() if "not posting" in line]
    assert len(said) == 1 and "ALOCITY_ALERT_WEBHOOK_URL" in said[0] and result.run_id in said[0]
    assert KEY not in logged


def test_post_alert_retries_once_then_gives_up(webhook: Any, caplog: pytest.LogCaptureFixture) -> None:
    webhook.fail_next = 1
    assert post_alert("hello", webhook.url, retry_delay=0) is True
    assert webhook.texts == ["hello"] and len(webhook.raw) == 2
    webhook.fail_next = 5
    assert post_alert("again", webhook.url, retry_delay=0) is False
    assert len(webhook.raw) == 4  # one attempt + one retry
    assert "secretpath" not in caplog.text  # the webhook's secret path is never logged
    assert post_alert("nowhere", None) is False


def test_run_failure_message_is_one_line() -> None:
    msg = run_failure_message("job", "abc", "x" * 500 + "\nmore")
    assert "\n" not in msg and len(msg) < 400


def test_sandbox_renews_a_340_day_old_key_and_we_say_what_to_do(tmp_path: Path, webhook: Any) -> None:
    sandbox = pytest.importorskip("alocity_etl.sandbox")
    from alocity_etl.catalog import endpoint_path
    from alocity_etl.client import AlocityClient, ClientSettings

    start = datetime.fromisoformat("2026-11-01T00:00:00+00:00")
    created = start - timedelta(days=340)
    cfg = sandbox.SandboxConfig(preset="tiny", seed=7, key_created_at=created, rate_limit="none", start=start)
    with sandbox.Sandbox(cfg).serve(port=0) as sb:
        old_key = sb.access_key
        assert len(sb.admin.keys()) == 1
        settings = ClientSettings(access_key=old_key, base_url=sb.base_url, cache_dir=tmp_path / "cache")
        with AlocityClient(settings) as client:
            client.get(endpoint_path("groups"))  # using the key inside the renewal window
        keys = sb.admin.keys()
        assert len(keys) == 2 and keys[-1]["origin"] == "renewal"
        assert sb.access_key != old_key  # the portal now shows a new key
        sandbox_expiry = datetime.fromisoformat(keys[0]["expiresAt"])

    env = {
        "ALOCITY_ACCESS_KEY": old_key,
        "ALOCITY_ACCESS_KEY_CREATED_AT": created.isoformat(),
        "ALOCITY_ALERT_WEBHOOK_URL": webhook.url,
    }
    env["ALOCITY_WAREHOUSE"] = str(tmp_path / "w.duckdb")
    s = build_access_key_sensor(Settings.from_env(env), clock=lambda: start)
    ctx = build_sensor_context(instance=DagsterInstance.ephemeral())
    r = s(ctx)
    assert "25 days left" in r.skip_reason.skip_message
    (text,) = webhook.texts
    assert "expires in 25 days" in text
    assert "Alocity issues a new key when the old one is used" in text
    assert "copy it from Settings -> Integration into ALOCITY_ACCESS_KEY" in text
    assert old_key not in text and all(k["accessKey"] not in text for k in keys)
    # Our date agrees with the sandbox's own expiry of the old key.
    expiry = KeyExpiry(created + timedelta(days=365), "ALOCITY_ACCESS_KEY_CREATED_AT")
    assert expiry.expires_at == sandbox_expiry
    assert "25 days" in key_expiry_message(expiry, start)
