"""Secret hygiene: neither the access key nor any JWT in logs, exception texts, reprs, tracebacks or files."""

from __future__ import annotations

import logging
import re
import traceback

import pytest

from alocity_etl.catalog import endpoint_path
from alocity_etl.client import AlocityError

JWT_RE = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")
GROUPS = endpoint_path("groups")


SECRET_KEY = "alk_REDACTION_PROBE_KEY_must_not_leak_5150"


def assert_clean(text: str, what: str) -> None:
    assert SECRET_KEY not in text, f"access key leaked in {what}"
    assert not JWT_RE.search(text), f"a JWT leaked in {what}"


@pytest.mark.reliability
def test_no_secret_anywhere(make_sandbox, make_client, caplog, capsys, tmp_path) -> None:
    sb = make_sandbox(access_key=SECRET_KEY)
    caplog.set_level(logging.DEBUG)  # every logger, urllib3 included
    client = make_client(sb, max_attempts=2, read_timeout_s=0.3)
    errors: list[BaseException] = []

    def attempt(**faults: object) -> None:
        if faults:
            sb.admin.set_faults(endpoint="groups", **faults)
        try:
            client.get(GROUPS)
        except AlocityError as exc:
            errors.append(exc)
        sb.admin.clear_faults()

    attempt()  # login
    attempt(invalidate_token_after=0)  # 401, re-login, replay
    attempt(error_rate=1.0)  # retries exhausted (5xx)
    attempt(reset_next=5)  # connection resets
    attempt(latency_s=1.0)  # timeouts
    attempt(burst_429=1, retry_after=1)
    attempt(malformed_next=1)
    try:
        client.get(endpoint_path("user", userId="00000000-0000-0000-0000-000000000001"))
    except AlocityError as exc:
        errors.append(exc)
    sb.admin.revoke()
    attempt(invalidate_token_after=0)  # re-login with a revoked key
    assert len(errors) >= 5
    assert any(type(e).__name__ == "AccessKeyInactive" for e in errors)

    for exc in errors:
        assert_clean(str(exc), f"str({type(exc).__name__})")
        assert_clean(repr(exc), f"repr({type(exc).__name__})")
        assert_clean("".join(traceback.format_exception(exc)), f"traceback of {type(exc).__name__}")
        for attr in vars(exc).values():
            assert_clean(repr(attr), f"attribute of {type(exc).__name__}")
    assert_clean(caplog.text, "logs")
    out = capsys.readouterr()
    assert_clean(out.out + out.err, "stdout/stderr")
    assert_clean(repr(client) + repr(client.settings) + str(client.stats.as_dict()), "client reprs")

    files = [p for p in (tmp_path / "cache").iterdir() if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes().decode("utf-8", "replace")
        assert SECRET_KEY not in data and SECRET_KEY not in path.name, path.name
        if not path.name.startswith("token-"):  # only the token cache may hold the JWT
            assert not JWT_RE.search(data), path.name
