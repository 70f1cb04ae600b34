"""Shared pytest fixtures: running Alocity sandboxes on 127.0.0.1, and a PostgreSQL server."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# The project is normally pip-installed (-e); when it is not, import it from the checkout.
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from alocity_etl.sandbox import RunningSandbox, Sandbox, SandboxConfig  # noqa: E402

SANDBOX_START = "2026-11-01T00:00:00Z"


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., RunningSandbox]]:
    """Callable taking SandboxConfig kwargs; returns a running sandbox, stopped at test end.

    Defaults differ from SandboxConfig's for test speed and repeatability: preset tiny,
    seed 7, start 2026-11-01T00:00:00Z, rate limit off. Pass any of them to override.
    """
    running: list[RunningSandbox] = []

    def make(**kwargs: Any) -> RunningSandbox:
        kwargs.setdefault("preset", "tiny")
        kwargs.setdefault("seed", 7)
        kwargs.setdefault("start", SANDBOX_START)
        kwargs.setdefault("rate_limit", "none")
        sb = Sandbox(SandboxConfig(**kwargs)).serve(port=0)
        running.append(sb)
        return sb

    yield make
    for sb in running:
        sb.stop()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., RunningSandbox]) -> RunningSandbox:
    """A running tiny sandbox: seed 7, start 2026-11-01T00:00:00Z, no rate limit."""
    return sandbox_factory()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A PostgreSQL server on 127.0.0.1 for the whole session (tests/support/postgres.py);
    skips the test when no PostgreSQL binaries are installed."""
    from tests.support import postgres

    reason = postgres.unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = postgres.PostgresServer.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: Any) -> str:
    """The URL (user and password included) of a new, empty database on the session's server."""
    return postgres_server.create_database(f"t_{uuid.uuid4().hex[:12]}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `make test` (pytest-xdist, --dist loadgroup) each test file runs on one worker, so
    a module's fixtures are built once; the reliability suite runs on one worker as a whole, so
    its session-wide figures (reports/reliability.json) are complete."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        rel = Path(str(item.path)).relative_to(REPO_ROOT).as_posix()
        group = "reliability" if rel.startswith("tests/reliability/") else rel
        item.add_marker(pytest.mark.xdist_group(group))
    # The longest groups first (the simulated year's nights, the reliability suite): one
    # started last would leave the other worker idle at the end.
    first = ("tests/year/", "tests/reliability/")
    items.sort(key=lambda i: next((n for n, p in enumerate(first) if p in str(i.path)), len(first)))
