"""Migration 0007 on a warehouse written by the previous release (tests/fixtures/release_warehouse.*).

That release stored each member's e-mail and names on group_members / schedule_users, so
renaming a user versioned every membership of theirs. Opening the file with this code
re-derives both tables from raw.pages (no API call, no sandbox here) into the membership
only, with exactly the versions the memberships really had.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from alocity_etl.warehouse import Warehouse, migrations

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BRIDGES = {"group_members": "group_id", "schedule_users": "schedule_id"}
USER_FIELDS = {"email", "first_name", "last_name", "full_name"}


@pytest.fixture
def release(tmp_path: Path) -> tuple[Path, dict]:
    path = tmp_path / "alocity.duckdb"
    with gzip.open(FIXTURES / "release_warehouse.duckdb.gz", "rb") as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return path, json.loads((FIXTURES / "release_warehouse.json").read_text())


def _versions(con: duckdb.DuckDBPyConnection, table: str, key: str, user_col: str) -> dict[tuple, int]:
    rows = con.execute(
        f"SELECT {key}, CAST({user_col} AS VARCHAR), count(*) FROM history.{table} "
        "WHERE NOT is_deleted GROUP BY ALL"
    ).fetchall()
    return {(k, u): n for k, u, n in rows}


def test_release_warehouse_migrates_to_membership_only_history(release: tuple[Path, dict]) -> None:
    path, meta = release
    renamed = meta["renamed_user"]
    with duckdb.connect(str(path), read_only=True) as con:
        before_version = migrations.current_version(con)
        others = {
            t: con.execute(f"SELECT count(*) FROM history.{t}").fetchall()[0][0]
            for t in ("users", "cards", "groups", "schedules", "cloud_keys")
        }
        logs = con.execute("SELECT count(*) FROM main.access_logs").fetchall()[0][0]
        old = {t: _versions(con, t, k, "id") for t, k in BRIDGES.items()}
    assert before_version < migrations.latest_version()
    # The defect the fixture carries: the rename gave the renamed member's memberships a
    # second live version though no membership changed.
    assert any(n > 1 for (_, u), n in old["group_members"].items() if u == renamed)

    with Warehouse.open(path) as wh:
        con = wh.con
        assert migrations.current_version(con) == migrations.latest_version()
        syncs = con.execute("SELECT started_at FROM meta.syncs ORDER BY sync_id").fetchall()
        for table, key in BRIDGES.items():
            cols = {
                c
                for (c,) in con.execute(
                    f"SELECT column_name FROM duckdb_columns() "
                    f"WHERE schema_name = 'history' AND table_name = '{table}'"
                ).fetchall()
            }
            assert not cols & USER_FIELDS and {key, "user_id"} <= cols
            # Each sync's state equals the sandbox's ground truth at that sync.
            for (started,), truth in zip(syncs, meta["memberships_after_sync"], strict=True):
                got = con.execute(
                    f"SELECT {key}, CAST(user_id AS VARCHAR) FROM history.{table}_as_of(?)", [started]
                ).fetchall()
                assert sorted(got) == sorted(tuple(m) for m in truth[table])
            # Exactly one live version per real membership interval: a membership present at
            # both syncs (the renamed member's included) has one version, not two.
            first, second = ({tuple(m) for m in s[table]} for s in meta["memberships_after_sync"])
            expected = {k: 1 for k in first | second}
            assert _versions(con, table, key, "user_id") == expected
            assert any(u == renamed for _, u in first & second)
        # The days the release read are in the day ledger (0008), each read complete when
        # its load began after the day had ended.
        days = con.execute("SELECT count(*), count(complete_read_at) FROM meta.access_log_days").fetchone()
        loads = con.execute(
            "SELECT count(DISTINCT window_start), count(DISTINCT window_start) FILTER "
            "(WHERE as_of >= window_end) FROM meta.resource_loads WHERE resource = 'access_logs'"
        ).fetchone()
        assert days == loads and days[0] >= 3
        # Nothing else changed.
        for t, n in others.items():
            assert con.execute(f"SELECT count(*) FROM history.{t}").fetchall()[0][0] == n
        assert con.execute("SELECT count(*) FROM main.access_logs").fetchall()[0][0] == logs
