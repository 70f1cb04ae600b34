"""Where the access key's expiry comes from: EXPIRES_AT > CREATED_AT > first seen + 1 year."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from alocity_etl.monitoring.key_expiry import (
    CREATED_AT_VAR,
    EXPIRES_AT_VAR,
    KeyExpiryError,
    fingerprint,
)
from alocity_etl.monitoring.key_expiry import resolve_expiry as resolve
from alocity_etl.settings import Settings, SettingsError


def resolve_expiry(env: dict[str, str], warehouse: Path | None = None, **kw):  # type: ignore[no-untyped-def]
    """The expiry the settings tree read from `env` gives (the warehouse: ALOCITY_WAREHOUSE)."""
    if warehouse is not None:
        env = {**env, "ALOCITY_WAREHOUSE": str(warehouse)}
    return resolve(Settings.from_env(env), **kw)


KEY = "alk_test-secret-key-value-0123456789"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_expires_at_wins_over_created_at(tmp_path: Path) -> None:
    env = {"ALOCITY_ACCESS_KEY": KEY, EXPIRES_AT_VAR: "2027-01-10T08:00:00Z", CREATED_AT_VAR: "2026-01-01"}
    e = resolve_expiry(env, warehouse=tmp_path / "w.duckdb", now=NOW)
    assert e.source == EXPIRES_AT_VAR
    assert e.expires_at == datetime(2027, 1, 10, 8, tzinfo=UTC)
    assert e.days_left(NOW) == 42
    assert not (tmp_path / "w.duckdb").exists()  # settings suffice: the warehouse is not touched


def test_created_at_plus_one_year(tmp_path: Path) -> None:
    env = {"ALOCITY_ACCESS_KEY": KEY, CREATED_AT_VAR: "2026-01-01"}  # a date: midnight UTC
    e = resolve_expiry(env, warehouse=tmp_path / "w.duckdb", now=NOW)
    assert e.source == CREATED_AT_VAR
    assert e.expires_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert e.fingerprint == fingerprint(KEY) and KEY not in repr(e)


def test_naive_and_offset_datetimes_are_utc() -> None:
    e = resolve_expiry({EXPIRES_AT_VAR: "2027-01-10T10:00:00+02:00"}, now=NOW)
    assert e.expires_at == datetime(2027, 1, 10, 8, tzinfo=UTC)
    e = resolve_expiry({EXPIRES_AT_VAR: "2027-01-10 08:00"}, now=NOW)
    assert e.expires_at == datetime(2027, 1, 10, 8, tzinfo=UTC)


def test_first_seen_estimate_is_recorded_once(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    env = {"ALOCITY_ACCESS_KEY": KEY, "ALOCITY_WAREHOUSE": str(path)}
    first = resolve_expiry(env, now=NOW)
    assert first.source == "first seen 2026-11-28 (estimate)"
    assert first.expires_at == NOW + timedelta(days=365)
    later = resolve_expiry(env, now=NOW + timedelta(days=40))  # the first sighting sticks
    assert later.expires_at == first.expires_at and later.days_left(NOW + timedelta(days=40)) == 325
    con = duckdb.connect(str(path), read_only=True)
    rows = con.execute("SELECT fingerprint FROM meta.access_keys").fetchall()
    con.close()
    assert rows == [(fingerprint(KEY),)]
    assert KEY.encode() not in path.read_bytes()  # only the fingerprint is stored
    other = resolve_expiry({**env, "ALOCITY_ACCESS_KEY": "alk_another"}, now=NOW + timedelta(days=3))
    assert other.expires_at == NOW + timedelta(days=368)  # a new key is a new sighting


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({EXPIRES_AT_VAR: "next tuesday"}, EXPIRES_AT_VAR),
        ({EXPIRES_AT_VAR: "2027-13-01"}, EXPIRES_AT_VAR),
        ({CREATED_AT_VAR: "01/02/2026"}, CREATED_AT_VAR),
        ({CREATED_AT_VAR: "2030-01-01"}, CREATED_AT_VAR),  # in the future
        ({}, "ALOCITY_ACCESS_KEY"),  # nothing to watch
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], names: str, tmp_path: Path) -> None:
    with pytest.raises((KeyExpiryError, SettingsError)) as exc:
        resolve_expiry(
            {**env, "ALOCITY_ACCESS_KEY": KEY} if names != "ALOCITY_ACCESS_KEY" else env,
            warehouse=tmp_path / "w.duckdb",
            now=NOW,
        )
    msg = str(exc.value)
    assert names in msg and "\n" not in msg and KEY not in msg


def test_days_left_rounds_down_and_goes_negative() -> None:
    e = resolve_expiry({EXPIRES_AT_VAR: "2026-12-01T00:00:00Z"}, now=NOW)
    assert e.days_left(datetime(2026, 11, 1, tzinfo=UTC)) == 30
    assert e.days_left(datetime(2026, 11, 30, 1, tzinfo=UTC)) == 0 and not e.expired(
        datetime(2026, 11, 30, tzinfo=UTC)
    )
    assert (
        e.expired(datetime(2026, 12, 1, tzinfo=UTC))
        and e.days_left(datetime(2026, 12, 2, 1, tzinfo=UTC)) == -2
    )
