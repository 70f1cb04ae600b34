"""Typed errors over HTTP: unusable keys (no retry), controlled errors, 404."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alocity_etl.catalog import endpoint_path
from alocity_etl.client import (
    AccessKeyInactive,
    AccessKeyNotFound,
    ControlledError,
    EndpointUnavailable,
)
from alocity_etl.client.errors import REPLACE_KEY_HINT

GROUPS = endpoint_path("groups")
NO_USER = "00000000-0000-0000-0000-000000000001"


def token_requests(sb) -> int:  # type: ignore[no-untyped-def]
    return sb.admin.stats()["per_endpoint"].get("token", 0)


def test_revoked_key_is_typed_and_not_retried(client_sandbox, make_client) -> None:
    sb = client_sandbox
    client = make_client(sb)
    sb.admin.revoke()
    with pytest.raises(AccessKeyInactive) as info:
        client.get(GROUPS)
    assert token_requests(sb) == 1
    assert info.value.code == "error_accesskey_is_inactive"
    assert REPLACE_KEY_HINT in str(info.value) and "expired or deactivated" in str(info.value)


def test_expired_key_is_typed_and_not_retried(make_sandbox, make_client) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    sb = make_sandbox(start=start, key_created_at=start - timedelta(days=366))
    client = make_client(sb)
    with pytest.raises(AccessKeyInactive):
        client.get(GROUPS)
    assert token_requests(sb) == 1


def test_unknown_key_is_typed_and_not_retried(client_sandbox, make_client) -> None:
    sb = client_sandbox
    client = make_client(sb, access_key="alk_NOT_A_KEY_OF_THIS_ACCOUNT")
    with pytest.raises(AccessKeyNotFound) as info:
        client.get(GROUPS)
    assert token_requests(sb) == 1
    assert "unknown" in str(info.value) and REPLACE_KEY_HINT in str(info.value)


def test_key_revoked_mid_run_surfaces_at_the_next_login(client_sandbox, make_client) -> None:
    sb = client_sandbox
    client = make_client(sb)
    client.get(GROUPS)
    sb.admin.set_faults(revoke_key_after=0, invalidate_token_after=0)  # the key dies, with its token
    with pytest.raises(AccessKeyInactive):
        client.get(GROUPS)
    assert token_requests(sb) == 2  # the first login, then ONE refused re-login


@pytest.mark.parametrize(
    ("path", "params", "code", "parameter"),
    [
        (endpoint_path("user", userId=NO_USER), None, "error_user_not_found", None),
        (endpoint_path("schedule", scheduleId=999999), None, "error_schedule_not_found", "scheduleId"),
        (endpoint_path("group_users", groupId=999999), None, "error_group_not_found", "groupId"),
        (
            endpoint_path("device_settings", serialNumber="NO-SUCH-DEVICE"),
            None,
            "error_device_not_found",
            "serialNumber",
        ),
        (
            endpoint_path("cloud_keys"),
            {"userId": "x", "from": "2025-01-02T00:00:00Z", "to": "2025-01-01T00:00:00Z"},
            "error_cloud_key_out_of_time_rage",
            "to",
        ),
    ],
)
def test_controlled_errors_become_typed_exceptions(
    client_sandbox, make_client, path, params, code, parameter
) -> None:
    client = make_client(client_sandbox)
    with pytest.raises(ControlledError) as info:
        client.get(path, params)
    err = info.value
    assert err.code == code and err.endpoint == path and err.message
    if parameter:
        assert err.parameter == parameter
    assert code in str(err) and path in str(err)
    assert client.stats.retries == 0  # controlled errors are never retried


def test_unknown_endpoint_is_endpoint_unavailable(client_sandbox, make_client) -> None:
    client = make_client(client_sandbox)
    with pytest.raises(EndpointUnavailable, match=r"zones.*not available on this account"):
        client.get("zones")
    assert client.stats.retries == 0
