"""deploy/dagster.yaml as shipped: a real `alocity-etl sync` recorded in PostgreSQL.

The Dagster instance (runs, event logs, schedules) and the client's shared state
(ALOCITY_STATE_URL) both live in the session's throwaway PostgreSQL, each in its own database,
as they would for a deployment on many machines (docs/deploy.md).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterInstance, DagsterRunStatus, QueuedRunCoordinator
from dagster_postgres import PostgresRunStorage

from alocity_etl.analytics.dbt_run import environ
from alocity_etl.client import ClientSettings
from alocity_etl.defs.jobs import ACCOUNT_TAG
from tests.support.pipeline import REPO, Paths, run_cli, start_sandbox
from tests.support.postgres import SUPERUSER


@pytest.mark.slow
def test_a_sync_on_the_deploy_instance_is_recorded_in_postgres(postgres_server, tmp_path: Path) -> None:
    dagster_db = f"dagster_{uuid.uuid4().hex[:8]}"
    dagster_url = postgres_server.create_database(dagster_db)
    state_url = postgres_server.create_database(f"state_{uuid.uuid4().hex[:8]}")
    paths = Paths(tmp_path)
    paths.dagster_home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", paths.dagster_home / "dagster.yaml")
    pg_env = {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(postgres_server.port),
        "DAGSTER_PG_DB": dagster_db,
        "DAGSTER_PG_USERNAME": SUPERUSER,
        "DAGSTER_PG_PASSWORD": postgres_server.password,
    }
    sb = start_sandbox()
    try:
        env = paths.env(sb, ALOCITY_STATE_URL=state_url, **pg_env)
        result = run_cli(["sync", "--select", "sites,devices"], env, timeout=180)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-3000:]
        assert postgres_server.password not in output and sb.access_key not in output
        account = ClientSettings(access_key=sb.access_key, base_url=sb.base_url).fingerprint
    finally:
        sb.stop()

    with environ({**pg_env, "DAGSTER_HOME": str(paths.dagster_home)}), DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        runs = instance.get_runs()
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, QueuedRunCoordinator)
        limits = coordinator.get_run_queue_config().tag_concurrency_limits
    assert [r.status for r in runs] == [DagsterRunStatus.SUCCESS]
    # The run carries the tag the queue limits per account, with this account's fingerprint.
    assert runs[0].tags.get(ACCOUNT_TAG) == account
    assert {"key": ACCOUNT_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
    # In PostgreSQL itself, and no SQLite run storage beside it.
    with psycopg.connect(dagster_url) as conn:
        rows = conn.execute("SELECT run_id, status FROM runs").fetchall()
    assert rows == [(runs[0].run_id, "SUCCESS")]
    assert not (paths.dagster_home / "history").exists()
    # The client shared its JWT through PostgreSQL too, not through files in its cache dir.
    with psycopg.connect(state_url) as conn:
        (tokens,) = conn.execute("SELECT count(*) FROM alocity_state.tokens").fetchone()
    assert tokens == 1
    assert not list(paths.cache.glob("token-*.json"))
