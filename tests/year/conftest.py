"""The full year (marker `year`) runs only when asked for: `make year` (pytest -m year)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "year" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="the full year runs with `make year` (pytest -m year)")
    for item in items:
        if item.get_closest_marker("year"):
            item.add_marker(skip)
