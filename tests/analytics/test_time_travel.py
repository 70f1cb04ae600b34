"""Time travel: history.<table>_as_of(ts) and, by sync id, history.as_of_sync('<table>', id)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from alocity_etl.warehouse import Warehouse, migrations


def test_as_of_a_sync_is_the_state_that_sync_left(built) -> None:
    with Warehouse.open(built.path, read_only=True) as wh:
        con = wh.con
        syncs = [r[0] for r in con.execute("SELECT sync_id FROM meta.syncs ORDER BY 1").fetchall()]
        assert syncs == sorted(built.users_after) and len(syncs) == 2
        for sid in syncs:
            by_sync = con.execute(f"SELECT * FROM history.as_of_sync('users', {sid}) ORDER BY id").fetchall()
            by_time = con.execute(
                f"SELECT * FROM history.users_as_of(meta.sync_started_at({sid})) ORDER BY id"
            ).fetchall()
            assert by_sync == by_time and len(by_sync) == built.users_after[sid]
        first, last = syncs
        current = con.execute("SELECT * FROM main.users ORDER BY id").fetchall()
        assert (
            con.execute(f"SELECT * FROM history.as_of_sync('users', {last}) ORDER BY id").fetchall()
            == current
        )
        old = {r[0] for r in con.execute(f"SELECT id FROM history.as_of_sync('users', {first})").fetchall()}
        assert old != {r[0] for r in current}  # users came and went between the syncs
        # the same columns as the current view; child tables work the same way
        cols = [d[0] for d in con.execute(f"SELECT * FROM history.as_of_sync('cards', {first})").description]
        assert cols == [d[0] for d in con.execute("SELECT * FROM main.cards LIMIT 0").description]
        with pytest.raises(duckdb.Error, match="no sync with id 999"):
            con.execute("SELECT * FROM history.as_of_sync('users', 999)").fetchall()


def test_a_fresh_warehouse_gets_the_macros_from_the_migration(tmp_path: Path) -> None:
    with Warehouse.open(tmp_path / "new.duckdb") as wh:
        names = {
            r[0]
            for r in wh.con.execute(
                "SELECT function_name FROM duckdb_functions() WHERE function_name IN "
                "('as_of_sync', 'sync_started_at', 'users_as_of')"
            ).fetchall()
        }
        assert names == {"as_of_sync", "sync_started_at", "users_as_of"}
        applied = wh.con.execute("SELECT name FROM meta.schema_version ORDER BY version").fetchall()
        assert ("0004_as_of_sync.sql",) in applied
    assert migrations.latest_version() >= 4
