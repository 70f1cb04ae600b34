"""The accounts file: read once with the settings; every bad input is one line naming the
account and the fix, before anything syncs."""

from __future__ import annotations

from pathlib import Path

import pytest

from alocity_etl.settings import Settings, SettingsError
from tests.support.pipeline import run_cli

GOOD = """
[accounts.hq]
base_url = "https://api.alocity.com"
access_key_env = "ALOCITY_KEY_HQ"
rate_limit = "100/60s"

[accounts.eu_west]
access_key_env = "ALOCITY_KEY_EU"
rate_limit = "50/60s"
key_created_at = "2026-03-01"
"""


def _settings(tmp_path: Path, text: str, **env: str) -> Settings:
    f = tmp_path / "accounts.toml"
    f.write_text(text)
    return Settings.from_env(
        {"ALOCITY_ACCOUNTS_FILE": str(f), "ALOCITY_WAREHOUSE": str(tmp_path / "wh" / "x.duckdb"), **env}
    )


def test_each_account_gets_its_own_key_budget_cache_and_warehouse(tmp_path: Path) -> None:
    s = _settings(tmp_path, GOOD, ALOCITY_KEY_HQ="key-hq", ALOCITY_KEY_EU="key-eu", ALOCITY_CACHE_DIR="/c")
    assert s.multi_account and s.account_names() == ["eu_west", "hq"]  # name order: the partitions'
    hq, eu = s.for_account("hq"), s.for_account("eu_west")
    assert hq.api.access_key.reveal() == "key-hq" and eu.api.access_key.reveal() == "key-eu"
    assert (hq.api.rate_limit, eu.api.rate_limit) == ("100/60s", "50/60s")
    assert hq.warehouse.path == str(tmp_path / "wh" / "hq.duckdb")
    assert eu.warehouse.path == str(tmp_path / "wh" / "eu_west.duckdb")
    assert hq.api.cache_dir == Path("/c/hq") and eu.api.cache_dir == Path("/c/eu_west")
    assert eu.monitoring.key_created_at is not None and hq.monitoring.key_created_at is None
    assert hq.account == "hq" and not hq.multi_account  # shaped as one account's settings
    assert hq.api.client().fingerprint != eu.api.client().fingerprint  # separate token caches


def test_without_the_file_the_single_account_variables_work_unchanged() -> None:
    s = Settings.from_env({"ALOCITY_ACCESS_KEY": "k"})
    assert not s.multi_account and s.account is None and s.api.access_key.reveal() == "k"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[accounts.hq\n", "is not valid TOML"),
        ("[accounts.hq]\nbase_url = 'https://api.alocity.com'\n", "account hq has no access_key_env"),
        ("[accounts.hq]\naccess_key_env = 'K'\nrate = '1'\n", "account hq: unknown setting 'rate'"),
        ("[accounts.HQ]\naccess_key_env = 'K'\n", "account name 'HQ' must be lower-case"),
        ("[accounts.memory]\naccess_key_env = 'K'\n", "'memory' is reserved"),
        ("[accounts.hq]\naccess_key_env = 'K'\nrate_limit = 'lots'\n", "account hq: rate_limit"),
        ("[accounts.hq]\naccess_key_env = 'K'\nbase_url = 'http://example.com'\n", "account hq: base_url"),
        ("[accounts.hq]\naccess_key_env = 'K'\nkey_created_at = 'soon'\n", "account hq: key_created_at"),
        ("[other]\nx = 1\n", "unknown table [other]"),
        ("", "defines no account"),
        (
            "[accounts.a]\naccess_key_env = 'K'\nwarehouse = 'w/x.duckdb'\n"
            "[accounts.b]\naccess_key_env = 'K'\nwarehouse = 'w/x.duckdb'\n",
            "accounts a and b share the warehouse file",
        ),
    ],
)
def test_a_bad_file_is_one_line_naming_the_fix(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(SettingsError) as err:
        _settings(tmp_path, text)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_a_missing_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist; create it or unset ALOCITY_ACCOUNTS_FILE"):
        Settings.from_env({"ALOCITY_ACCOUNTS_FILE": str(tmp_path / "nope.toml")})


def test_an_account_without_its_key_stops_the_sync_before_anything(tmp_path: Path) -> None:
    s = _settings(tmp_path, GOOD, ALOCITY_KEY_HQ="key-hq")
    with pytest.raises(SettingsError, match="account eu_west: ALOCITY_KEY_EU is not set"):
        s.require_keys()
    s.require_keys(["hq"])  # syncing hq alone needs hq's key only
    with pytest.raises(SettingsError, match="unknown account 'nope'; the accounts file has eu_west, hq"):
        s.for_account("nope")


def _cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    f = tmp_path / "accounts.toml"
    f.write_text(GOOD)
    return {
        "ALOCITY_ACCOUNTS_FILE": str(f),
        "ALOCITY_WAREHOUSE": str(tmp_path / "wh" / "x.duckdb"),
        "DAGSTER_HOME": str(tmp_path / "dh"),
        **extra,
    }


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["sync"], "account eu_west: ALOCITY_KEY_EU is not set"),
        (["sync", "--account", "nope"], "unknown account 'nope'"),
        (["sql", "--account", "nope", "SELECT 1"], "unknown account 'nope'"),
        (["sql", "SELECT 1"], "several accounts (eu_west, hq): pass --account NAME or --all-accounts"),
    ],
)
def test_cli_bad_account_input_exits_2_in_one_line_and_writes_nothing(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    done = run_cli(args, _cli_env(tmp_path, ALOCITY_KEY_HQ="key-hq"))
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "key-hq" not in done.stderr + done.stdout
    assert not (tmp_path / "wh").exists()  # nothing synced, no file made


def test_account_flags_without_an_accounts_file_say_how(tmp_path: Path) -> None:
    done = run_cli(["sql", "--all-accounts", "SELECT 1"], {"ALOCITY_WAREHOUSE": str(tmp_path / "x.duckdb")})
    assert done.returncode == 2 and "needs an accounts file: set ALOCITY_ACCOUNTS_FILE" in done.stderr


def test_accounts_split_into_account_runs_of_at_most_accounts_per_run(tmp_path: Path) -> None:
    from alocity_etl.defs.accounts import run_blocks

    text = "".join(f"[accounts.a{i:02d}]\naccess_key_env = 'K{i}'\n" for i in range(1, 51))
    keys = {f"K{i}": "k" for i in range(1, 51)}
    s = _settings(tmp_path, text, **keys)
    runs = run_blocks(s, s.account_names())
    assert [len(b) for b in runs] == [25, 25]  # ALOCITY_ACCOUNT_RUNS=2 by default
    assert [n for b in runs for n in b] == s.account_names()  # each account once, in order
    capped = _settings(tmp_path, text, ALOCITY_ACCOUNTS_PER_RUN="10", **keys)
    assert [len(b) for b in run_blocks(capped, capped.account_names())] == [10] * 5
    one = _settings(tmp_path, text, ALOCITY_ACCOUNT_RUNS="1", **keys)
    assert len(run_blocks(one, one.account_names())) == 1
    # A subset: blocks are ranges of the file's order, never spanning an account left out.
    assert run_blocks(s, ["a01", "a02", "a05"]) == [["a01", "a02"], ["a05"]]
