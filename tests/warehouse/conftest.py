"""Fixtures for warehouse tests: a fresh DuckDB file per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alocity_etl.warehouse import Warehouse


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    w = Warehouse.open(tmp_path / "wh" / "alocity.duckdb")
    yield w
    w.close()
