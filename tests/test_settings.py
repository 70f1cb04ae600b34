"""The one settings tree: every variable declared once, read once, each bad value one line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alocity_etl import settings as settings_module
from alocity_etl.settings import README, VARIABLES, Settings, SettingsError, with_table

PACKAGE = Path(settings_module.__file__).parent


def test_the_readme_table_is_generated_from_the_settings() -> None:
    text = README.read_text()
    assert with_table(text) == text, "stale: run `python -m alocity_etl.settings`"


def test_every_variable_the_code_names_is_declared_and_only_settings_reads_them() -> None:
    declared = {v.name for v in VARIABLES}
    named: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        named |= set(re.findall(r"\bALOCITY_[A-Z0-9_]+\b", text))
        if path.name != "settings.py" and "sandbox" not in path.parts:
            reads_env = r"os\.environ(\.get)?\(?[\"'\[]\s*ALOCITY_|getenv\(\s*[\"']ALOCITY_"
            assert not re.search(reads_env, text), path
    # Not a setting: how the code hands the warehouse path to dbt's plugin (analytics/project.py).
    internal = {"ALOCITY_DBT_WAREHOUSE"}
    # ALOCITY_KEY_<ACCOUNT>: examples of the per-account key variables an accounts file names.
    named = {n for n in named if not n.startswith("ALOCITY_KEY_")}
    assert named - internal <= declared
    assert len(declared) == len(VARIABLES)  # each once


def test_defaults_are_valid_and_read_into_every_section() -> None:
    s = Settings.from_env({})
    assert s.api.base_url == "https://api.alocity.com" and s.api.page_size == 500
    assert s.warehouse.path == "warehouse/alocity.duckdb" and s.warehouse.lock_timeout_s == 120
    assert s.sync.settle_days == 3 and s.sync.access_log_start is None and not s.sync.intraday
    assert s.monitoring.key_sensor_interval_s == 3600 and s.monitoring.webhook_url is None
    env = {"ALOCITY_PAGE_SIZE": "50", "ALOCITY_INTRADAY_SYNC": "on", "DAGSTER_HOME": "/dh"}
    changed = Settings.from_env(env)
    assert changed.api.page_size == 50 and changed.sync.intraday
    assert changed.api.cache_dir == Path("/dh/.alocity-cache")
    backoff = Settings.from_env({"ALOCITY_RETRY_BACKOFF_S": "0.01", "ALOCITY_ACCESS_KEY": "k"})
    assert s.api.retry_backoff_s == 0.5 and backoff.api.client().retry_backoff_s == 0.01


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("ALOCITY_PAGE_SIZE", "0", ">= 1"),
        ("ALOCITY_ACCESS_LOG_SETTLE_DAYS", "-1", ">= 0"),
        ("ALOCITY_ACCESS_LOG_SETTLE_DAYS", "1.5", "whole number"),
        ("ALOCITY_ACCESS_LOG_START", "Nov 1st", "YYYY-MM-DD"),
        ("ALOCITY_SCHEDULE_TIMEZONE", "Mars/Olympus", "IANA"),
        ("ALOCITY_SCHEDULE_CRON", "nightly", "five fields"),
        ("ALOCITY_INTRADAY_SYNC", "maybe", "on or off"),
        ("ALOCITY_READ_TIMEOUT", "-3", "> 0"),
        ("ALOCITY_RETRY_BACKOFF_S", "0", "> 0"),
        ("ALOCITY_RATE_LIMIT", "fast", "N/WINDOW"),
        ("ALOCITY_BASE_URL", "http://api.example.com", "https"),
        ("ALOCITY_ACCESS_KEY_EXPIRES_AT", "soon", "ISO date"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable_and_what_is_accepted(
    name: str, value: str, accepted: str
) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({name: value, "ALOCITY_ACCESS_KEY": "alk_secret-key-0123"})
    message = str(err.value)
    assert message.startswith(name) and accepted in message and "\n" not in message
    assert "alk_secret-key-0123" not in message
