"""Fixtures of the client tests: a real sandbox over HTTP on 127.0.0.1, and clients whose
shared state lives under tmp_path (never the user's home).

Named `client_sandbox` / `make_sandbox` / `make_client` so they never clash with the
project-wide `sandbox` fixtures in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alocity_etl.client import AlocityClient, ClientSettings
from alocity_etl.sandbox import RunningSandbox, Sandbox, SandboxConfig

# Recognisable on purpose: the redaction tests look for it in every output.
SECRET_KEY = "alk_TESTKEY_SHOULD_NEVER_APPEAR_0123456789"

MakeSandbox = Callable[..., RunningSandbox]
MakeClient = Callable[..., AlocityClient]


@pytest.fixture
def make_sandbox() -> Iterator[MakeSandbox]:
    running: list[RunningSandbox] = []

    def make(**kwargs: Any) -> RunningSandbox:
        kwargs.setdefault("preset", "tiny")
        kwargs.setdefault("seed", 7)
        kwargs.setdefault("access_key", SECRET_KEY)
        kwargs.setdefault("rate_limit", None)  # tests that exercise the limit set one
        sb = Sandbox(SandboxConfig(**kwargs)).serve(port=0)
        running.append(sb)
        return sb

    yield make
    for sb in running:
        sb.stop()


@pytest.fixture
def client_sandbox(make_sandbox: MakeSandbox) -> RunningSandbox:
    return make_sandbox()


def client_settings(sb: RunningSandbox, cache_dir: Path, **overrides: Any) -> ClientSettings:
    rate = sb.config.rate or (10_000, 1.0)  # unlimited sandbox: a limiter that never binds
    kwargs: dict[str, Any] = {
        "access_key": sb.access_key,
        "base_url": sb.base_url,
        "rate_limit": rate[0],
        "rate_window_s": rate[1],
        "cache_dir": cache_dir,
        "page_size": 7,
        "connect_timeout_s": 2.0,
        "read_timeout_s": 5.0,
        "max_attempts": 6,
        "retry_max_seconds": 20.0,
        "retry_backoff_s": 0.05,
    }
    kwargs.update(overrides)
    return ClientSettings(**kwargs)


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[MakeClient]:
    clients: list[AlocityClient] = []

    def make(sb: RunningSandbox, cache: str = "cache", **overrides: Any) -> AlocityClient:
        client = AlocityClient(client_settings(sb, tmp_path / cache, **overrides))
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()
