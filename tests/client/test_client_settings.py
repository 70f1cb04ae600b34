"""Settings validation (no HTTP)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from alocity_etl.client import ClientSettings, ConfigError, Secret
from alocity_etl.client.settings import parse_rate_limit
from alocity_etl.settings import Settings, SettingsError

# A bad value is refused where it is read (the settings tree: SettingsError), a missing key
# where a client is made (ConfigError); both say which variable and how to fix it.
BAD = (ConfigError, SettingsError)


def client_from_env(environ: dict[str, str]) -> ClientSettings:
    return Settings.from_env(environ).api.client()


KEY = "alk_SETTINGS-TEST-KEY-0123456789"


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"ALOCITY_ACCESS_KEY": KEY, "ALOCITY_CACHE_DIR": str(tmp_path), **extra}


def test_defaults(tmp_path: Path) -> None:
    s = client_from_env(env(tmp_path))
    assert s.base_url == "https://api.alocity.com"
    assert (s.rate_limit, s.rate_window_s) == (100, 60.0)
    assert s.page_size == 500
    assert s.concurrency == 4
    assert s.cache_dir == tmp_path
    assert s.access_key.reveal() == KEY


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_missing_key_is_one_line_naming_the_variable(tmp_path: Path, blank: str | None) -> None:
    e = env(tmp_path)
    if blank is None:
        del e["ALOCITY_ACCESS_KEY"]
    else:
        e["ALOCITY_ACCESS_KEY"] = blank
    with pytest.raises(BAD) as info:
        client_from_env(e)
    text = str(info.value)
    assert "ALOCITY_ACCESS_KEY" in text and "\n" not in text and "Integration" in text


@pytest.mark.parametrize("url", ["http://api.alocity.com", "http://10.0.0.5:8080", "http://example.com/"])
def test_plain_http_to_remote_host_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(BAD, match="https"):
        client_from_env(env(tmp_path, ALOCITY_BASE_URL=url))


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8123", "http://127.5.0.1", "http://localhost:9000/", "http://[::1]:8000"]
)
def test_plain_http_to_loopback_allowed(tmp_path: Path, url: str) -> None:
    s = client_from_env(env(tmp_path, ALOCITY_BASE_URL=url))
    assert not s.base_url.endswith("/")


@pytest.mark.parametrize(
    "url", ["api.alocity.com", "ftp://api.alocity.com", "https://", "https://host:notaport", "https://h/?q=1"]
)
def test_malformed_base_url(tmp_path: Path, url: str) -> None:
    with pytest.raises(BAD, match="ALOCITY_BASE_URL"):
        client_from_env(env(tmp_path, ALOCITY_BASE_URL=url))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("100", (100, 60.0)),
        ("100/5s", (100, 5.0)),
        ("20/2s", (20, 2.0)),
        ("100/1m", (100, 60.0)),
        ("30/3", (30, 3.0)),
        ("5/500ms", (5, 0.5)),
    ],
)
def test_rate_limit_specs(spec: str, expected: tuple[int, float]) -> None:
    assert parse_rate_limit(spec) == expected


def test_no_rate_limit_only_for_a_local_sandbox(tmp_path: Path) -> None:
    assert parse_rate_limit("none") == parse_rate_limit(" None ") == (None, 60.0)
    local = client_from_env(env(tmp_path, ALOCITY_RATE_LIMIT="none", ALOCITY_BASE_URL="http://127.0.0.1:8"))
    assert local.rate_limit is None
    assert "no client-side limit" in local.rate_description
    with pytest.raises(BAD, match=r"ALOCITY_RATE_LIMIT=none is only for a sandbox on this machine"):
        client_from_env(env(tmp_path, ALOCITY_RATE_LIMIT="none"))  # the real API


@pytest.mark.parametrize("spec", ["fast", "0", "-3", "10/0s", "10/xs", "nothing"])
def test_bad_rate_limit(tmp_path: Path, spec: str) -> None:
    with pytest.raises(BAD, match="ALOCITY_RATE_LIMIT"):
        client_from_env(env(tmp_path, ALOCITY_RATE_LIMIT=spec))


def test_cache_dir_defaults(tmp_path: Path) -> None:
    e = {"ALOCITY_ACCESS_KEY": KEY, "DAGSTER_HOME": str(tmp_path / "dh")}
    assert client_from_env(e).cache_dir == tmp_path / "dh" / ".alocity-cache"
    home_default = client_from_env({"ALOCITY_ACCESS_KEY": KEY}).cache_dir
    assert home_default.parts[-2:] == (".cache", "alocity-etl")


def test_key_is_redacted_but_survives_pickling(tmp_path: Path) -> None:
    s = client_from_env(env(tmp_path))
    for text in (repr(s), str(s), repr(s.access_key), str(s.access_key), f"{s.access_key}"):
        assert KEY not in text
    assert KEY not in s.fingerprint
    assert pickle.loads(pickle.dumps(s)).access_key.reveal() == KEY
    assert isinstance(s.access_key, Secret)


def test_bad_numbers(tmp_path: Path) -> None:
    with pytest.raises(BAD, match="ALOCITY_PAGE_SIZE"):
        client_from_env(env(tmp_path, ALOCITY_PAGE_SIZE="many"))
    with pytest.raises(BAD, match="ALOCITY_READ_TIMEOUT"):
        client_from_env(env(tmp_path, ALOCITY_READ_TIMEOUT="-1"))
    for bad in ("0", "two", "1.5"):
        with pytest.raises(BAD, match=r"^ALOCITY_CONCURRENCY=.* a whole number >= 1"):
            client_from_env(env(tmp_path, ALOCITY_CONCURRENCY=bad))
    assert client_from_env(env(tmp_path, ALOCITY_CONCURRENCY="1")).concurrency == 1


def test_from_values_for_resource_config(tmp_path: Path) -> None:
    s = ClientSettings.from_values(
        base_url="http://127.0.0.1:8000",
        access_key=KEY,
        rate_limit="20/2s",
        page_size=50,
        cache_dir=str(tmp_path),
    )
    assert (s.rate_limit, s.rate_window_s, s.page_size, s.cache_dir) == (20, 2.0, 50, tmp_path)
    assert ClientSettings.from_values("https://api.alocity.com", KEY).rate_window_s == 60.0
    with pytest.raises(BAD, match="ALOCITY_ACCESS_KEY"):
        ClientSettings.from_values("https://api.alocity.com", "")
