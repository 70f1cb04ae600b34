"""`alocity-etl sync` checks settings and the key before starting any Dagster run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alocity_etl.sandbox import RunningSandbox

KEY = "preflight-test-key-0123456789abcdef"


def _sync(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ALOCITY_", "DAGSTER_"))}
    base.update(DAGSTER_HOME=str(tmp_path / "dh"), ALOCITY_WAREHOUSE=str(tmp_path / "w.duckdb"))
    base.update(ALOCITY_CACHE_DIR=str(tmp_path / "cache"), **env)
    return subprocess.run(
        [sys.executable, "-m", "alocity_etl.cli", "sync"],
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_revoked_key_fails_fast_in_one_line_without_retry(sandbox_factory, tmp_path: Path) -> None:
    sb: RunningSandbox = sandbox_factory(access_key=KEY)
    sb.admin.revoke()
    sb.admin.reset_stats()
    out = _sync(tmp_path, ALOCITY_BASE_URL=sb.base_url, ALOCITY_ACCESS_KEY=KEY)
    assert out.returncode == 1
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, out.stderr
    assert "inactive" in lines[0] or "expired" in lines[0]
    assert "ALOCITY_ACCESS_KEY" in lines[0]
    assert KEY not in out.stdout + out.stderr
    assert sb.admin.stats()["requests_total"] == 1  # the one token call, no retry loop
    assert not (tmp_path / "w.duckdb").exists()  # nothing started, nothing written


def test_missing_key_names_the_variable(tmp_path: Path) -> None:
    out = _sync(tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "ALOCITY_ACCESS_KEY is not set" in out.stderr


def test_http_to_a_remote_host_is_refused(tmp_path: Path) -> None:
    out = _sync(tmp_path, ALOCITY_BASE_URL="http://alocity.example.com", ALOCITY_ACCESS_KEY=KEY)
    assert out.returncode == 2
    assert "https" in out.stderr and out.stderr.strip().count("\n") == 0
    assert KEY not in out.stderr
