"""`alocity-etl sql` and `alocity-etl shell`: output, exports, bad input, read-only by default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from alocity_etl.cli import main
from alocity_etl.commands.sql import open_warehouse


def sql(capsys: pytest.CaptureFixture[str], warehouse: Path, *args: str) -> tuple[int, str, str]:
    code = main(["sql", "--warehouse", str(warehouse), *args])
    out, err = capsys.readouterr()
    return code, out, err


def count(warehouse: Path, table: str) -> int:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    finally:
        con.close()


def test_a_query_prints_a_readable_table(capsys, warehouse: Path) -> None:
    code, out, err = sql(
        capsys, warehouse, "SELECT result_label, count(*) AS n FROM access_logs GROUP BY 1 ORDER BY 2 DESC"
    )
    assert code == 0 and err == ""
    assert "result_label" in out and "Access Granted" in out and "bigint" in out
    assert "rows (" in out
    code, out, _ = sql(capsys, warehouse, "--max-rows", "2", "SELECT * FROM access_logs")
    assert code == 0 and "showing the first 2" in out


def test_raw_pages_are_compressed_and_raw_json_shows_them(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        n, stored, text = con.execute(
            "SELECT count(*), sum(octet_length(body_z)), count(body) FROM raw.pages "
            "WHERE resource = 'access_logs'"
        ).fetchall()[0]
    finally:
        con.close()
    assert n > 0 and stored > 0 and text == 0  # new pages keep only the compressed payload
    # The connection `alocity-etl sql` / `shell` open has raw_json() registered.
    with open_warehouse(str(warehouse), write=False, lock_timeout=0, notify=print) as wh:
        events, chars = wh.con.execute(
            "SELECT sum(json_array_length(raw_json(body_z)::JSON)), sum(length(raw_json(body_z))) "
            "FROM raw.pages WHERE resource = 'access_logs'"
        ).fetchall()[0]
    assert events >= count(warehouse, "main.access_logs")  # every stored event is in a payload
    assert chars > 3 * stored  # the JSON text is several times its compressed size


def test_csv_and_parquet_exports(capsys, warehouse: Path, tmp_path: Path) -> None:
    users = count(warehouse, "main.users")
    csv = tmp_path / "users.csv"
    code, out, _ = sql(capsys, warehouse, "--csv", str(csv), "SELECT id, full_name FROM users ORDER BY id")
    assert code == 0 and f"wrote {users} rows" in out
    lines = csv.read_text().splitlines()
    assert lines[0] == "id,full_name" and len(lines) == users + 1
    pqf = tmp_path / "logs.parquet"
    code, _, _ = sql(capsys, warehouse, "--parquet", str(pqf), "SELECT * FROM access_logs")
    assert code == 0
    table = pq.read_table(pqf)
    assert table.num_rows == count(warehouse, "main.access_logs") and "result_label" in table.column_names
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs.parquet", "users.csv", "wh"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SELEC 1", "Parser Error: syntax error at or near"),
        ("SELECT * FROM no_such_table", "Catalog Error: Table with name no_such_table does not exist"),
        ("SELECT 1 +", "Parser Error"),
    ],
)
def test_bad_sql_is_one_line_exit_1_and_writes_nothing(
    capsys, warehouse: Path, tmp_path: Path, query: str, expected: str
) -> None:
    before = warehouse.read_bytes()
    out_file = tmp_path / "out.csv"
    for extra in ([], ["--csv", str(out_file)]):
        code, out, err = sql(capsys, warehouse, *extra, query)
        assert code == 1 and out == ""
        assert err.count("\n") == 1 and err.startswith("alocity-etl sql: ") and expected in err
    assert not out_file.exists() and not list(tmp_path.glob(".out.csv*"))
    assert warehouse.read_bytes() == before


@pytest.mark.parametrize(
    "query",
    [
        "INSERT INTO main.access_logs SELECT * FROM main.access_logs LIMIT 1",
        "UPDATE history.users SET email = 'x'",
        "DELETE FROM main.access_logs",
        "CREATE TABLE scratch AS SELECT 1",
        "DROP VIEW main.users",
        "ALTER TABLE history.users ADD COLUMN x INTEGER",
        "COPY (SELECT 1) TO 'leak.csv'",
        "ATTACH 'other.duckdb' AS other",
        "SELECT 1; DELETE FROM main.access_logs",
    ],
)
def test_writing_statements_are_refused_without_write(capsys, warehouse: Path, query: str) -> None:
    before = warehouse.read_bytes()
    code, out, err = sql(capsys, warehouse, query)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "refused" in err and "--write" in err
    assert warehouse.read_bytes() == before
    assert not Path("leak.csv").exists() and not Path("other.duckdb").exists()


def test_write_is_allowed_with_write(capsys, warehouse: Path) -> None:
    logs = count(warehouse, "main.access_logs")
    code, _, err = sql(capsys, warehouse, "--write", "CREATE TABLE main.scratch AS SELECT 42 AS answer")
    assert code == 0, err
    code, out, _ = sql(capsys, warehouse, "SELECT answer FROM scratch")
    assert code == 0 and "42" in out
    code, _, _ = sql(capsys, warehouse, "--write", "DELETE FROM main.access_logs WHERE result = 0")
    assert code == 0 and count(warehouse, "main.access_logs") < logs


def test_a_missing_warehouse_is_one_line(capsys, tmp_path: Path) -> None:
    code, _, err = sql(capsys, tmp_path / "none.duckdb", "SELECT 1")
    assert code == 1 and "run a sync first" in err and err.count("\n") == 1
    assert not (tmp_path / "none.duckdb").exists()


def test_the_shell_runs_multi_line_sql_and_dot_commands(warehouse: Path) -> None:
    script = "SELECT 40 + 2\n  AS answer;\n.tables\nDELETE FROM main.users;\n.schema main.sites\n.quit\n"
    env = {**os.environ, "ALOCITY_WAREHOUSE": str(warehouse), "COLUMNS": "160"}
    p = subprocess.run(
        [sys.executable, "-m", "alocity_etl.cli", "shell"],
        input=script,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    assert "read-only" in p.stdout and "42" in p.stdout
    assert "access_logs" in p.stdout and "history" in p.stdout  # .tables
    assert "refused: DELETE" in p.stdout
    assert "time_zone" in p.stdout  # .schema
    assert count(warehouse, "main.users") > 0
