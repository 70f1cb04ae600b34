"""One sandbox process, many accounts (tenants.py): routing by key and JWT, isolation, admin."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests

from alocity_etl.catalog import API_PREFIX
from alocity_etl.sandbox import MultiSandbox, RunningMultiSandbox, SandboxAdmin, SandboxConfig
from alocity_etl.sandbox.tenants import account_names, numbered_configs

START = "2026-11-01T00:00:00Z"  # the sandbox fixtures' start (tests/conftest.py)


@pytest.fixture
def multi_factory() -> Iterator[Callable[..., RunningMultiSandbox]]:
    """n numbered tiny accounts (seed 7, 8, ...), rate limit off unless given; stopped at test end."""
    running: list[RunningMultiSandbox] = []

    def make(n: int = 3, **kwargs: Any) -> RunningMultiSandbox:
        kwargs.setdefault("preset", "tiny")
        kwargs.setdefault("start", START)
        kwargs.setdefault("rate_limit", "none")
        ms = MultiSandbox.numbered(n, SandboxConfig(**kwargs)).serve(port=0)
        running.append(ms)
        return ms

    yield make
    for ms in running:
        ms.stop()


@pytest.fixture
def multi(multi_factory: Callable[..., RunningMultiSandbox]) -> RunningMultiSandbox:
    return multi_factory()


def _user_ids(api: Any) -> set[str]:
    return {u["id"] for u in api.payload("GET", "user_page", params={"pageSize": 500})}


def test_each_key_logs_into_its_own_account(multi, make_api):
    seen: dict[str, set[str]] = {}
    for name, acct in multi.accounts.items():
        api = make_api(acct)
        truth = {u["id"] for u in acct.admin.ground_truth(table="users")}
        assert _user_ids(api) == truth and truth
        assert api.token in acct.admin.tokens()  # this account minted it
        seen[name] = truth
        assert acct.admin.stats()["tokens_issued"] == 1
    a, b, c = seen.values()
    assert not (a & b or a & c or b & c)  # three seeded data sets, not one shared
    assert multi.accounts["acct01"].state is not multi.accounts["acct02"].state


def test_jwt_reads_only_its_own_account(multi, make_api):
    one, two = multi.accounts["acct01"], multi.accounts["acct02"]
    api1, api2 = make_api(one), make_api(two)
    two_users = {u["id"] for u in two.admin.ground_truth(table="users")}
    assert _user_ids(api1).isdisjoint(two_users)
    # A user id of account 2 is unknown to account 1's JWT (a controlled error, not account 2's row).
    some_user = sorted(two_users)[0]
    assert api1.error_code("GET", "user", userId=some_user) == "error_user_not_found"
    assert api2.payload("GET", "user", userId=some_user)["id"] == some_user
    assert api1.token not in two.admin.tokens() and api2.token not in one.admin.tokens()


def test_stale_and_unknown_tokens(multi, make_api):
    one, two = multi.accounts["acct01"], multi.accounts["acct02"]
    for acct in multi.accounts.values():
        acct.admin.reset_stats()
    api2 = make_api(two)
    stale = api2.token
    assert api2.login().status_code == 200 and api2.token != stale
    # A superseded JWT of account 2 is refused by account 2 and costs account 2's budget alone.
    assert api2.call("GET", "sites", token=stale).status_code == 401
    assert two.admin.stats()["responses_401"] == 1 and one.admin.stats()["responses_401"] == 0
    assert api2.get("sites").status_code == 200
    # No account knows a forged token or none at all: the first account answers 401.
    assert api2.call("GET", "sites", token="not.a.jwt").status_code == 401
    bare = requests.get(f"{multi.base_url}{API_PREFIX}/sites", timeout=10)
    assert bare.status_code == 401
    assert one.admin.stats()["responses_401"] == 2 and two.admin.stats()["responses_401"] == 1


def test_login_errors_come_from_the_right_account(multi, make_api):
    one, three = multi.accounts["acct01"], multi.accounts["acct03"]
    old = three.access_key
    new = three.admin.reissue()
    api = make_api(three, login=False)
    for acct in multi.accounts.values():
        acct.admin.reset_stats()
    # Account 3 still knows its old key, so it answers: inactive, not "not found".
    assert api.error_code("POST", "token", json={"accessKey": old}) == "error_accesskey_is_inactive"
    assert three.admin.stats()["requests_total"] == 1 and one.admin.stats()["requests_total"] == 0
    assert api.error_code("POST", "token", json={"accessKey": "alk_nobody"}) == "error_accesskey_not_found"
    assert api.error_code("POST", "token", json={"accessKey": "clé-ünïcode"}) == "error_accesskey_not_found"
    assert api.error_code("POST", "token", json=["not", "an", "object"]) == "error_accesskey_not_found"
    assert one.admin.stats()["requests_total"] == 3  # unclaimed logins land on the first account
    assert api.login(new).status_code == 200 and api.token in three.admin.tokens()
    assert three.access_key == new


def test_rate_limit_is_per_account(multi_factory, make_api):
    ms = multi_factory(2, rate_limit="3/60s")
    one, two = ms.accounts.values()
    api1 = make_api(one)  # 1 of account 1's 3
    assert [api1.get("sites").status_code for _ in range(3)] == [200, 200, 429]
    api2 = make_api(two)
    assert [api2.get("sites").status_code for _ in range(2)] == [200, 200]
    s1, s2 = one.admin.stats(), two.admin.stats()
    assert s1["rate_limited"] == 1 and s1["responses_429"] == 1
    assert s2["rate_limited"] == 0 and s2["responses_429"] == 0 and s2["requests_total"] == 3
    # Resetting account 1's window leaves account 2's spent budget alone.
    one.admin.reset_stats()
    assert api1.get("sites").status_code == 200
    assert api2.get("sites").status_code == 429


def test_faults_and_stats_are_per_account(multi, make_api):
    one, two = multi.accounts["acct01"], multi.accounts["acct02"]
    api1, api2 = make_api(one), make_api(two)
    two.admin.set_faults(error_rate=1.0, error_status=503)
    assert api2.get("sites").status_code == 503
    assert api1.get("sites").status_code == 200
    assert one.admin.faults() == {} and two.admin.faults()
    assert two.admin.stats()["5xx_injected"] == 1 and one.admin.stats()["5xx_injected"] == 0
    assert one.admin.stats()["per_endpoint"]["sites"] == 1
    assert multi.admin.stats() == one.admin.stats()  # the plain admin path is the first account
    two.admin.clear_faults()
    assert api2.get("sites").status_code == 200


def test_clock_and_simulation_are_per_account(multi):
    one, two = multi.accounts["acct01"], multi.accounts["acct02"]
    # One server, one time: read later, account 2's clock is not behind (it was built later).
    first, second = one.state.now(), two.state.now()
    assert first <= second < first + timedelta(seconds=1)
    before1, before2 = one.admin.clock(), two.admin.clock()
    two.admin.simulate(days=2)
    assert two.admin.clock() - before2 >= timedelta(days=2)
    assert one.admin.clock() - before1 < timedelta(hours=1)
    assert two.admin.ground_truth(day=2, table="sites")
    with pytest.raises(RuntimeError, match=r"acct01.*404.*no snapshot for day 2"):
        one.admin.ground_truth(day=2)
    assert two.admin.info()["day"] == 2 and one.admin.info()["day"] == 0


def test_accounts_listing(multi):
    listing = multi.admin.accounts()
    assert listing == [{"name": name, "accessKey": acct.access_key} for name, acct in multi.accounts.items()]
    assert [a["name"] for a in listing] == ["acct01", "acct02", "acct03"]
    assert SandboxAdmin(multi.base_url, account="acct02").info()["seed"] == 8
    assert multi.admin.info()["seed"] == 7
    r = requests.get(f"{multi.base_url}/_sandbox/accounts/acct99/info", timeout=10)
    assert r.status_code == 404 and "acct99" in r.json()["error"]
    with pytest.raises(RuntimeError, match="acct99"):
        SandboxAdmin(multi.base_url, account="acct99").stats()
    assert requests.post(f"{multi.base_url}/_sandbox/accounts", timeout=10).status_code == 405


def test_accounts_file_names_no_key(multi):
    text = multi.accounts_toml()
    parsed = tomllib.loads(text)["accounts"]
    assert list(parsed) == ["acct01", "acct02", "acct03"]
    assert parsed["acct02"] == {
        "base_url": multi.base_url,
        "access_key_env": "ALOCITY_KEY_ACCT02",
        "rate_limit": "none",
    }
    env = multi.key_environment()
    assert set(env) == {a["access_key_env"] for a in parsed.values()}
    assert not any(key in text for key in env.values())


def test_numbered_accounts():
    assert account_names(3) == ["acct01", "acct02", "acct03"]
    names = account_names(120)
    assert names[0] == "acct001" and names[-1] == "acct120" and sorted(names) == names
    base = SandboxConfig(preset="tiny", seed=40, access_key="alk_fixed", rate_limit="20/2s")
    configs = numbered_configs(3, base)
    assert [c.seed for c in configs.values()] == [40, 41, 42]
    assert [c.access_key for c in configs.values()] == [f"alk_fixed-acct0{i}" for i in (1, 2, 3)]
    assert {(c.preset, c.rate_limit, c.token_lifetime_s) for c in configs.values()} == {
        ("tiny", "20/2s", 3600)
    }
    random_keys = MultiSandbox.numbered(3, SandboxConfig(preset="tiny"))
    keys = {sb.state.keys.current(sb.state.now()) for sb in random_keys.sandboxes.values()}
    assert len(keys) == 3


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        (lambda: numbered_configs(0), "between 1 and 500"),
        (lambda: numbered_configs(501), "between 1 and 500"),
        (lambda: MultiSandbox({}), "at least one account"),
        (lambda: MultiSandbox({"a/b": SandboxConfig(preset="tiny")}), "bad account name"),
        (
            lambda: MultiSandbox(
                {n: SandboxConfig(preset="tiny", access_key="alk_same") for n in ("x", "y")}
            ),
            "same access key",
        ),
    ],
)
def test_bad_accounts_are_refused(build, needle):
    with pytest.raises(ValueError, match=needle):
        build()
