"""Bad input to `alocity-etl sync` (subprocesses): one clear line on stderr, a non-zero exit,
nothing damaged. Complements tests/test_cli_preflight.py (missing key, http to a remote
host, revoked key) and tests/pipeline/test_pipeline_bad_input.py (missing key, unwritable
path, a locked warehouse)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import cli_env

from alocity_etl.sandbox import RunningSandbox
from tests.support.pipeline import CLI, Paths

pytestmark = pytest.mark.reliability


def run(
    paths: Paths, sb: RunningSandbox | None, args: list[str], **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], env=cli_env(paths, sb, **env), capture_output=True, text=True, timeout=120
    )


def one_clear_line(result: subprocess.CompletedProcess[str], *must: str) -> str:
    assert result.returncode != 0, result.stdout[-1000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = [ln for ln in result.stderr.splitlines() if ln.strip() and not ln.startswith("usage:")]
    assert len(lines) == 1, result.stderr
    for word in must:
        assert word in lines[0], (word, lines[0])
    assert len(lines[0]) <= 300
    return lines[0]


@pytest.fixture
def p(tmp_path: Path, reliability_report) -> Paths:
    reliability_report.fault("bad input")
    paths = Paths(tmp_path)
    paths.init_dagster_home()
    return paths


def test_blank_key(p: Paths, sandbox: RunningSandbox) -> None:
    r = run(p, sandbox, ["sync"], ALOCITY_ACCESS_KEY="   ")
    one_clear_line(r, "ALOCITY_ACCESS_KEY is not set")
    assert r.returncode == 2 and not p.warehouse.exists()


@pytest.mark.parametrize(
    "url", ["htp:/nope", "https://", "https://api.example.com:notaport", "ftp://127.0.0.1"]
)
def test_malformed_base_url(p: Paths, url: str) -> None:
    r = run(p, None, ["sync"], ALOCITY_ACCESS_KEY="k-123", ALOCITY_BASE_URL=url)
    one_clear_line(r, "ALOCITY_BASE_URL", "malformed")
    assert r.returncode == 2 and not p.warehouse.exists()


def test_http_to_a_non_loopback_ip_is_refused(p: Paths) -> None:
    r = run(p, None, ["sync"], ALOCITY_ACCESS_KEY="k-SECRET-123", ALOCITY_BASE_URL="http://10.1.2.3:8080")
    line = one_clear_line(r, "https")
    assert "k-SECRET-123" not in r.stdout + r.stderr and "10.1.2.3" in line


def test_corrupted_duckdb_file_is_never_overwritten(p: Paths, sandbox: RunningSandbox) -> None:
    p.warehouse.write_bytes(b"\x00" * 8 + b"DUCK" + b"\x07garbage, a torn copy of a warehouse" * 50)
    before = p.warehouse.read_bytes()
    r = run(p, sandbox, ["sync", "--select", "sites", "--days", "1"])
    one_clear_line(r, str(p.warehouse))
    assert p.warehouse.read_bytes() == before
    # A file that is not DuckDB at all, too.
    p.warehouse.write_text("name,email\nann,ann@example.com\n")
    before = p.warehouse.read_bytes()
    r = run(p, sandbox, ["sync", "--select", "sites", "--days", "1"])
    one_clear_line(r, "not a DuckDB database", "untouched")
    assert p.warehouse.read_bytes() == before


def test_unknown_table_in_select(p: Paths, sandbox: RunningSandbox) -> None:
    r = run(p, sandbox, ["sync", "--select", "users,badges"])
    one_clear_line(r, "unknown table(s) badges")
    assert r.returncode == 2 and not p.warehouse.exists()


def test_unknown_subcommand(p: Paths) -> None:
    r = run(p, None, ["synk"])
    one_clear_line(r, "invalid choice: 'synk'")
    assert r.returncode == 2


@pytest.mark.parametrize(
    ("days", "word"), [("abc", "not a whole number"), ("0", "at least 1"), ("-3", "at least 1")]
)
def test_bad_days(p: Paths, sandbox: RunningSandbox, days: str, word: str) -> None:
    r = run(p, sandbox, ["sync", f"--days={days}"])
    one_clear_line(r, "--days", word)
    assert r.returncode == 2 and not p.warehouse.exists()
