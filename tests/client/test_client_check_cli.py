"""`alocity-etl check` as a subprocess against a sandbox."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KEY = "alk_CHECK_CLI_KEY_do_not_print_777"


def run_check(sb, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ALOCITY_") and k != "DAGSTER_HOME"}
    environ.update(
        {
            "ALOCITY_BASE_URL": sb.base_url,
            "ALOCITY_ACCESS_KEY": KEY,
            "ALOCITY_CACHE_DIR": str(tmp_path / "cache"),
            "ALOCITY_RATE_LIMIT": "100/1s",
            "ALOCITY_MAX_ATTEMPTS": "2",
            "ALOCITY_RETRY_MAX_SECONDS": "3",
            "PYTHONPATH": str(REPO) + os.pathsep + environ.get("PYTHONPATH", ""),
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "alocity_etl.cli", "check"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


def no_secrets(text: str, cache: Path) -> None:
    assert KEY not in text
    assert not re.search(r"eyJ[\w-]+\.[\w-]+\.", text)
    for path in cache.glob("token-*.json"):
        token = path.read_text()
        assert '"token"' in token and token.split('"token": "')[1].split('"')[0] not in text


def test_check_healthy_account(make_sandbox, tmp_path: Path) -> None:
    sb = make_sandbox(access_key=KEY)
    result = run_check(sb, tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    labels = ("credentials", "sites", "devices", "groups", "schedules", "users", "access logs", "rate budget")
    for label in labels:
        assert label in out
    assert re.search(r"groups\s+3\b", out) and re.search(r"sites\s+2\b", out)
    assert "token valid until" in out and "UTC" in out
    no_secrets(result.stdout + result.stderr, tmp_path / "cache")


def test_check_without_a_rate_limit_says_so(make_sandbox, tmp_path: Path) -> None:
    sb = make_sandbox(access_key=KEY)  # a sandbox without a rate limit
    result = run_check(sb, tmp_path, ALOCITY_RATE_LIMIT="none")
    assert result.returncode == 0, result.stderr
    assert re.search(r"rate budget\s+no client-side limit \(local sandbox\)\n", result.stdout)
    no_secrets(result.stdout + result.stderr, tmp_path / "cache")


def test_check_revoked_key_fails_with_one_line(make_sandbox, tmp_path: Path) -> None:
    sb = make_sandbox(access_key=KEY)
    sb.admin.revoke()
    result = run_check(sb, tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "expired or deactivated" in lines[0] and "ALOCITY_ACCESS_KEY" in lines[0]
    assert KEY not in result.stdout + result.stderr


def test_check_missing_key_and_refused_connection(make_sandbox, tmp_path: Path) -> None:
    sb = make_sandbox(access_key=KEY)
    result = run_check(sb, tmp_path, ALOCITY_ACCESS_KEY="")
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1
    assert "ALOCITY_ACCESS_KEY" in result.stderr
    sb.stop()  # nothing listens on that port any more
    result = run_check(sb, tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach" in lines[0] and "connection refused" in lines[0], lines
