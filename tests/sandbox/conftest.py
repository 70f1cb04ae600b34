"""A minimal HTTP helper for the sandbox tests (plain requests, no client code)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from alocity_etl.catalog import endpoint_path
from alocity_etl.sandbox import RunningSandbox


class Api:
    def __init__(self, sb: RunningSandbox) -> None:
        self.sb = sb
        self.session = requests.Session()
        self.token: str | None = None

    def url(self, name: str, **path: Any) -> str:
        return self.sb.base_url + endpoint_path(name, **path)

    def login(self, key: str | None = None) -> requests.Response:
        r = self.session.post(self.url("token"), json={"accessKey": key or self.sb.access_key}, timeout=10)
        if r.status_code == 200 and not r.json()["hasErrors"]:
            self.token = r.json()["payload"]
        return r

    def call(
        self,
        method: str,
        name: str,
        params: dict | None = None,
        json: Any = None,
        token: str | None = None,
        **path: Any,
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"} if (token or self.token) else {}
        return self.session.request(
            method, self.url(name, **path), params=params, json=json, headers=headers, timeout=10
        )

    def get(self, name: str, params: dict | None = None, **path: Any) -> requests.Response:
        return self.call("GET", name, params=params, **path)

    def payload(
        self, method: str, name: str, params: dict | None = None, json: Any = None, **path: Any
    ) -> Any:
        r = self.call(method, name, params=params, json=json, **path)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["hasErrors"] is False, body
        return body["payload"]

    def error_code(
        self, method: str, name: str, params: dict | None = None, json: Any = None, **path: Any
    ) -> str:
        r = self.call(method, name, params=params, json=json, **path)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["hasErrors"] is True and body["payload"] is None, body
        (event,) = body["applicationEvents"]
        assert event["type"] == "Error" and set(event) == {"type", "code", "message", "parameter"}
        return event["code"]


@pytest.fixture
def api(sandbox: RunningSandbox) -> Api:
    a = Api(sandbox)
    assert a.login().status_code == 200
    return a


@pytest.fixture
def make_api():
    def make(sb: RunningSandbox, login: bool = True) -> Api:
        a = Api(sb)
        if login:
            assert a.login().status_code == 200
        return a

    return make
