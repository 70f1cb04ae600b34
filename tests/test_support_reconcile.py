"""The reconciliation helper cannot be fooled: it has its own answer key, and it fails on a
warehouse that differs from the truth in any way (tests/support/reconcile.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from alocity_etl import catalog
from alocity_etl.catalog import Column, snake, tables
from alocity_etl.client import AlocityClient, ClientSettings
from alocity_etl.normalise import table_columns
from alocity_etl.sandbox import RunningSandbox, Sandbox, SandboxConfig
from alocity_etl.sync.pipeline import finish_run, sync_resource
from tests.support.reconcile import ANSWER_KEY, reconcile_sandbox


def test_the_answer_key_and_the_catalog_describe_the_same_tables() -> None:
    # Two descriptions written apart: a change to either one must be made to the other on purpose.
    assert set(ANSWER_KEY) == set(tables())
    for table, (key, cols) in ANSWER_KEY.items():
        res, child = tables()[table]
        assert key == (child.primary_key if child else res.primary_key), table
        product = [(name, typ) for name, typ in table_columns(table)]
        assert [(name, typ) for name, _, typ in cols] == product, table


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningSandbox, Path]]:
    """A tiny sandbox synced once (every resource), and the warehouse it left."""
    root = tmp_path_factory.mktemp("reconcile")
    sb = Sandbox(SandboxConfig(preset="tiny", seed=7, rate_limit="none")).serve(port=0)
    try:
        path = root / "w.duckdb"
        sync_everything(sb, path, root)
        yield sb, path
    finally:
        sb.stop()


def sync_everything(sb: RunningSandbox, path: Path, root: Path) -> None:
    settings = ClientSettings.from_values(sb.base_url, sb.access_key, "none", cache_dir=str(root / "c"))
    with AlocityClient(settings) as client:
        for res in catalog.CATALOG:
            sync_resource(client, str(path), res, "r1", log=lambda _m: None)
    finish_run(str(path), "r1", True, 0)


def test_the_synced_warehouse_reconciles(synced: tuple[RunningSandbox, Path]) -> None:
    sb, path = synced
    rec = reconcile_sandbox(path, sb.admin, window=catalog.WIDEST_WINDOW)
    assert rec.ok, rec.describe()
    assert rec.rows_reconciled > 100


@pytest.mark.parametrize(
    ("corruption", "count"),
    [
        (
            "UPDATE history.users SET email = 'x@example.com' WHERE id = (SELECT min(id) FROM main.users)",
            "mismatched",
        ),
        ("DELETE FROM main.access_logs WHERE id = (SELECT min(id) FROM main.access_logs)", "lost"),
        ("INSERT INTO main.access_logs SELECT * FROM main.access_logs LIMIT 1", "duplicated"),
        (
            "UPDATE history.group_members SET is_deleted = true "
            "WHERE user_id = (SELECT min(user_id) FROM history.group_members)",
            "lost",
        ),
        ("UPDATE history.cards SET card_number = NULL", "mismatched"),
        ("UPDATE history.sites SET id = id + 1000", "unexpected"),
    ],
)
def test_a_corrupted_warehouse_fails_reconciliation(
    synced: tuple[RunningSandbox, Path], tmp_path: Path, corruption: str, count: str
) -> None:
    sb, path = synced
    broken = tmp_path / "broken.duckdb"
    shutil.copy(path, broken)
    with duckdb.connect(str(broken)) as con:
        con.execute(corruption)
    rec = reconcile_sandbox(broken, sb.admin, window=catalog.WIDEST_WINDOW)
    assert not rec.ok
    assert rec.counts()[f"rows_{count}"] > 0, rec.describe()


def test_a_catalog_typo_is_caught_not_copied(
    synced: tuple[RunningSandbox, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The product reads users' e-mail from a misspelt wire field: every value NULL (a new
    column from the data's point of view). Syncing with that catalog must not reconcile."""
    sb, _ = synced
    users = catalog.RESOURCES["users"]
    typo = tuple(
        Column("emial", c.type, c.description, name="email") if c.wire == "email" else c
        for c in users.columns
    )
    broken = replace(users, columns=typo)
    monkeypatch.setitem(catalog.RESOURCES, "users", broken)
    monkeypatch.setattr(
        catalog, "CATALOG", tuple(broken if r.name == "users" else r for r in catalog.CATALOG)
    )
    assert snake("emial") != "email"
    path = tmp_path / "typo.duckdb"
    sync_everything(sb, path, tmp_path)
    rec = reconcile_sandbox(path, sb.admin, only=["users"])
    assert not rec.ok and rec.counts()["rows_mismatched"] == len(sb.admin.ground_truth(table="users"))
