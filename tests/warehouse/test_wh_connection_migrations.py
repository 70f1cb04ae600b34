from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from alocity_etl.settings import Settings
from alocity_etl.warehouse import (
    Warehouse,
    WarehouseCorruptError,
    WarehouseError,
    WarehouseLockedError,
    WarehousePathError,
    migrations,
    raw_archive,
    sqlalchemy_engine,
)
from alocity_etl.warehouse.connection import connect, disconnect


def test_path_from_the_settings_and_parent_dir_created(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "w.duckdb"
    settings = Settings.from_env({"ALOCITY_WAREHOUSE": str(target)})
    with Warehouse.open(settings.warehouse.path) as wh:
        assert wh.path == target
    assert target.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_unwritable_path(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(WarehousePathError, match="not writable"):
            Warehouse.open(ro / "w.duckdb")
    finally:
        ro.chmod(0o700)


def test_unwritable_path_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(WarehousePathError, match="cannot create warehouse directory"):
        Warehouse.open(tmp_path / "afile" / "w.duckdb")


def test_corrupted_file_left_untouched(tmp_path: Path) -> None:
    bad = tmp_path / "w.duckdb"
    content = b"this is not a duckdb database\n" * 200
    bad.write_bytes(content)
    for ro in (False, True):
        with pytest.raises(WarehouseCorruptError) as e:
            Warehouse.open(bad, read_only=ro)
        assert "\n" not in str(e.value) and "untouched" in str(e.value)
    assert bad.read_bytes() == content
    with pytest.raises(WarehouseCorruptError):
        sqlalchemy_engine(bad)


def test_locked_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    Warehouse.open(path).close()
    code = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
    code += "time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseLockedError, match=rf"locked by process {holder.pid}") as e:
            Warehouse.open(path)
        assert "\n" not in str(e.value)
    finally:
        holder.kill()
        holder.wait()
    Warehouse.open(path).close()  # free again


def test_read_only_mode_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WarehousePathError, match="no warehouse"):
        Warehouse.open(tmp_path / "none.duckdb", read_only=True)
    path = tmp_path / "w.duckdb"
    Warehouse.open(path).close()
    with Warehouse.open(path, read_only=True) as wh, pytest.raises(Exception, match="read-only"):
        wh.con.execute("CREATE TABLE main.x (a INT)")
    engine = sqlalchemy_engine(path)
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM main.users")).scalar() == 0
    engine.dispose()


def test_migrations_idempotent_and_upgrade_from_previous(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    latest = migrations.latest_version()
    before_parts = 5  # the schema before 0006 (payloads in parts): the oldest layout still read
    assert latest > before_parts
    con = connect(path)
    assert migrations.migrate(con, target=before_parts) == list(range(1, before_parts + 1))
    con.execute(
        "INSERT INTO raw.pages (sync_id, page_seq, resource, endpoint, body) "
        "VALUES (1, 0, 'groups', 'groups', '[{\"id\": 7}]')"
    )
    con.execute(
        "INSERT INTO raw.pages (sync_id, load_seq, page_seq, resource, endpoint, body_z) "
        "VALUES (1, 1, 0, 'groups', 'groups', ?)",
        [raw_archive.encode_body([{"id": 8}])],
    )
    assert migrations.current_version(con) == before_parts
    disconnect(con)
    with pytest.raises(WarehouseError, match="schema version"):
        Warehouse.open(path, read_only=True)  # read-only never migrates
    with Warehouse.open(path) as wh:  # upgrades in place, data kept
        assert migrations.current_version(wh.con) == latest
        rows = wh.con.execute("SELECT resource, load_seq FROM raw.pages ORDER BY load_seq").fetchall()
        assert rows == [("groups", 1), ("groups", None)]
        # A payload stored as text before 0005 (body_z) still reads back.
        body, body_z = wh.con.execute("SELECT body, body_z FROM raw.pages WHERE load_seq IS NULL").fetchall()[
            0
        ]
        assert body_z is None and raw_archive.decode_body(body_z, body) == [{"id": 7}]
        # One stored whole before 0006 (parts) too, through the view and through load_pages.
        (body_z,) = wh.con.execute("SELECT body_z FROM raw.pages WHERE load_seq = 1").fetchall()[0]
        assert raw_archive.decode_body(body_z) == [{"id": 8}]
        assert [p["body"] for p in raw_archive.load_pages(wh.con, 1)] == [[{"id": 8}]]
        assert migrations.migrate(wh.con) == []
    with Warehouse.open(path) as wh:
        assert migrations.migrate(wh.con) == []
        assert wh.con.execute("SELECT count(*) FROM meta.schema_version").fetchall() == [(latest,)]


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc")
def test_unwritable_location_even_as_root() -> None:
    with pytest.raises(WarehousePathError, match="cannot create warehouse"):
        Warehouse.open("/proc/alocity-no-such/w.duckdb")


def test_lock_timeout_waits_for_the_other_writer(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    Warehouse.open(path).close()
    code = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
    code += "time.sleep(1.0)"
    holder = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with Warehouse.open(path, lock_timeout=20) as wh:
            assert wh.con.execute("SELECT 1").fetchall() == [(1,)]
    finally:
        holder.kill()
        holder.wait()


def test_tables_written_through_the_warehouse_get_small_row_groups(tmp_path: Path) -> None:
    """ROW_GROUP_ROWS applies on every open (DuckDB does not store it in the file): it is
    what keeps a checkpoint's rewrite of the last row group small."""
    from alocity_etl.warehouse.connection import ROW_GROUP_ROWS

    path = tmp_path / "rg.duckdb"
    n = ROW_GROUP_ROWS * 2 + 100
    Warehouse.open(path).close()
    with Warehouse.open(path) as wh:  # a second open: the setting is not remembered by the file
        wh.con.execute(f"CREATE TABLE main.rg AS SELECT range AS i FROM range({n})")
        wh.con.execute("CHECKPOINT")
        groups = wh.con.execute(
            "SELECT count(DISTINCT row_group_id), max(count) FROM pragma_storage_info('main.rg')"
        ).fetchall()[0]
    assert groups[0] == 3 and groups[1] <= ROW_GROUP_ROWS


def test_opens_in_one_process_take_turns_and_a_dropped_one_lets_go(tmp_path: Path) -> None:
    """Every open attaches the file to the process's one DuckDB instance (connection.py): a
    second open waits like one in another process would, and an unclosed one is detached
    when it is collected."""
    path = tmp_path / "w.duckdb"
    first = Warehouse.open(path)
    with pytest.raises(WarehouseLockedError, match="open in this process"):
        Warehouse.open(path, read_only=True)
    got: list[Warehouse] = []
    waiter = threading.Thread(target=lambda: got.append(Warehouse.open(path, lock_timeout=10)))
    waiter.start()
    time.sleep(0.5)
    assert not got, "the second open did not wait for the first"
    first.close()
    waiter.join(10)
    assert len(got) == 1
    got[0].con.execute("CREATE TABLE main.t AS SELECT 1 AS x")
    got.pop().close()
    Warehouse.open(path)  # dropped at once, never closed
    gc.collect()
    with Warehouse.open(path, read_only=True) as wh:
        assert wh.con.execute("SELECT x FROM main.t").fetchall() == [(1,)]
