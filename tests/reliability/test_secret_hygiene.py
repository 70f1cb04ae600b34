"""Secret hygiene: a full sync with a recognisable key, then forced failures (revoked key,
a 401 loop, a malformed page). Neither the key nor any JWT the sandbox issued may appear in
stdout/stderr, in any file under DAGSTER_HOME (run storage, event logs, compute logs,
SQLite files scanned byte-wise), in any warehouse table (raw pages included, every table
dumped as text), in the page journal, in dbt's log and artifacts, or in an error message.

The token cache directory is the one place that holds the JWT, by design (one live token
shared by every process: alocity_etl/client/token_cache.py); it must still never hold the
access key itself.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import cli_env

from alocity_etl.analytics.project import run_target_dir
from alocity_etl.sync.journal import staging_dir
from tests.support.pipeline import CLI, Paths, start_sandbox
from tests.support.warehouse_text import table_rows_as_text

pytestmark = pytest.mark.reliability

KEY = "LEAKCANARY-7f3a9c1e5b2d4680aa11bb22cc33dd44"


def forms(secret: str) -> list[bytes]:
    """The secret as it could land in a file: plain, and each JWT part on its own (a JWT split
    across a log line would still leak its signature or claims)."""
    out = [secret.encode()]
    if secret.count(".") == 2:
        out += [part.encode() for part in secret.split(".")[1:] if len(part) >= 16]
    return out


def scan_files(root: Path, secrets: list[str]) -> tuple[int, list[str]]:
    files, hits = 0, []
    for f in sorted(root.rglob("*")):
        if not f.is_file():
            continue
        files += 1
        data = f.read_bytes()
        for s in secrets:
            if any(form in data for form in forms(s)):
                hits.append(f"{f.relative_to(root)} holds {s[:12]}...")
    return files, hits


def dump_warehouse(path: Path) -> str:
    return "\n".join(f"{name}\t{row}" for name, rows in table_rows_as_text(path).items() for row in rows)


def run(paths: Paths, sb, *args: str) -> subprocess.CompletedProcess[str]:
    # With the dbt models: dbt's artifacts and log (<warehouse>.dbt/) are scanned too.
    env = cli_env(paths, sb, ALOCITY_MODELS="on")
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=300)


def test_no_secret_leaks_anywhere(fast_dir: Path, reliability_report) -> None:
    reliability_report.fault("secret hygiene: full sync, token killed, 401 loop, malformed page, revoked key")
    sb = start_sandbox(access_key=KEY)
    paths = Paths(fast_dir)
    paths.init_dagster_home()
    outputs: list[str] = []
    try:
        # A full sync, with the token killed mid-sync by "another client" (a second JWT).
        sb.admin.set_faults(endpoint="*", invalidate_token_after=40)
        ok = run(paths, sb, "sync", "--days", "2")
        assert ok.returncode == 0, ok.stderr[-2000:]
        outputs += [ok.stdout, ok.stderr]
        # In one run: a 401 loop (the token refused right after a fresh login) on groups, and a
        # malformed page on sites.
        sb.admin.clear_faults()
        sb.admin.set_faults(endpoint="groups", invalidate_token_always=True)
        sb.admin.set_faults(endpoint="sites", malformed_rate=1.0)
        bad = run(paths, sb, "sync", "--select", "groups,sites", "--days", "1")
        text = bad.stdout + bad.stderr
        assert bad.returncode != 0 and "401" in text and "malformed" in text, bad.stdout[-2000:]
        outputs += [bad.stdout, bad.stderr]
        # The key revoked mid-sync (the token killed with it, so the client must log in again).
        sb.admin.clear_faults()
        sb.admin.set_faults(endpoint="*", revoke_key_after=5, invalidate_token_after=5)
        revoked = run(paths, sb, "sync", "--select", "users,cards,groups", "--days", "1")
        assert revoked.returncode != 0, revoked.stdout[-2000:]
        assert "ALOCITY_ACCESS_KEY" in revoked.stdout + revoked.stderr
        outputs += [revoked.stdout, revoked.stderr]
        tokens = sb.admin.tokens()
        assert len(tokens) >= 3, "expected several JWTs (re-logins) to look for"
        secrets = [KEY, *tokens]
        leaks: list[str] = []
        # 1. What the commands printed (progress, summaries, every error line).
        for i, text in enumerate(outputs):
            leaks += [
                f"output {i} holds {s[:12]}..." for s in secrets if any(f.decode() in text for f in forms(s))
            ]
        # 2. Every file under DAGSTER_HOME: run storage, event logs, compute logs (byte-wise).
        n_dagster, hits = scan_files(paths.dagster_home, secrets)
        leaks += hits
        assert n_dagster >= 3, "the Dagster home holds no storage to scan"
        # 3. Every warehouse table, raw pages included, as text; and the page journals.
        wh_text = dump_warehouse(paths.warehouse)
        assert "raw.pages" in wh_text and '"createdAt":' in wh_text  # payloads scanned as text
        leaks += [
            f"warehouse holds {s[:12]}..." for s in secrets if any(f.decode() in wh_text for f in forms(s))
        ]
        n_staging, hits = (
            scan_files(staging_dir(paths.warehouse), secrets)
            if staging_dir(paths.warehouse).exists()
            else (0, [])
        )
        leaks += hits
        # 3b. dbt's log and compiled SQL of the models step (<warehouse>.dbt/).
        n_dbt, hits = scan_files(run_target_dir(paths.warehouse), secrets)
        leaks += hits
        assert n_dbt >= 1, "the models step left no dbt log to scan"
        # 4. The token cache holds the live JWT by design, never the key.
        n_cache, hits = scan_files(paths.cache, [KEY])
        leaks += hits
        reliability_report.secret_places_scanned += len(outputs) + n_dagster + n_staging + n_dbt + n_cache + 1
        reliability_report.secret_leaks += len(leaks)
        assert leaks == [], leaks
    finally:
        sb.stop()
