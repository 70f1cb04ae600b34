"""Many accounts: one `alocity-etl sync` syncs every account of the accounts file side by side,
each into its own warehouse equal to its own ground truth; `sql --all-accounts` answers
across them; one account's failure loses no other account's data.

One sandbox process serves the accounts (sandbox/tenants.py), each with its own key, data
and rate limit, as the real multi-tenant API does.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from alocity_etl.catalog import WIDEST_WINDOW, tables
from alocity_etl.defs.build import build_definitions
from alocity_etl.sandbox import MultiSandbox, RunningMultiSandbox, SandboxConfig
from alocity_etl.settings import Settings
from tests.support.pipeline import TODAY, run_cli
from tests.support.reconcile import reconcile_sandbox

ACCOUNTS = ("acct01", "acct02", "acct03")
RATE = "60/1s"  # each account's own budget; the client spends each at its own pace


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningMultiSandbox]:
    base = SandboxConfig(preset="tiny", seed=7, start=TODAY - timedelta(days=2), rate_limit=RATE)
    with MultiSandbox.numbered(len(ACCOUNTS), base).serve(port=0) as running:
        yield running


def _env(tmp: Path, sb: RunningMultiSandbox, **extra: str) -> dict[str, str]:
    (tmp / "accounts.toml").write_text(sb.accounts_toml())
    (tmp / "dh").mkdir(exist_ok=True)
    (tmp / "dh" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return {
        "ALOCITY_ACCOUNTS_FILE": str(tmp / "accounts.toml"),
        "ALOCITY_WAREHOUSE": str(tmp / "wh" / "unused.duckdb"),
        "ALOCITY_CACHE_DIR": str(tmp / "cache"),
        "DAGSTER_HOME": str(tmp / "dh"),
        "ALOCITY_MODELS": "off",
        **sb.key_environment(),
        **extra,
    }


def _warehouse(tmp: Path, account: str) -> Path:
    return tmp / "wh" / f"{account}.duckdb"


def _syncs(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT count(*) FROM meta.syncs").fetchone()[0]


@pytest.fixture(scope="module")
def synced(sandbox: RunningMultiSandbox, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One plain `alocity-etl sync` of every account (with the dbt models), as a user runs it."""
    tmp = tmp_path_factory.mktemp("accounts")
    for acct in sandbox.accounts.values():
        acct.admin.reset_stats()
    done = run_cli(["sync"], _env(tmp, sandbox, ALOCITY_MODELS="on"), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    # ALOCITY_ACCOUNT_RUNS (2): two runs (each its own process) side by side.
    assert "2 runs side by side: acct01..acct02, acct03" in done.stderr
    return tmp, done.stdout


def test_one_sync_lands_each_account_equal_to_its_own_truth(sandbox, synced) -> None:
    tmp, stdout = synced
    for name, acct in sandbox.accounts.items():
        rec = reconcile_sandbox(_warehouse(tmp, name), acct.admin, window=WIDEST_WINDOW)
        assert rec.ok, f"{name}: {rec.describe()}"
        assert acct.admin.stats()["responses_429"] == 0, name  # each within its own budget
        assert name in stdout  # the summary has a line per account
    assert not (tmp / "wh" / "unused.duckdb").exists()  # ALOCITY_WAREHOUSE names the folder only


def test_sql_all_accounts_answers_across_them(sandbox, synced) -> None:
    tmp, _ = synced
    env = _env(tmp, sandbox)
    query = "SELECT account, count(*) AS n FROM users GROUP BY account ORDER BY account"
    done = run_cli(["sql", "--all-accounts", "--csv", str(tmp / "users.csv"), query], env)
    assert done.returncode == 0, done.stderr
    lines = (tmp / "users.csv").read_text().split()
    truth = {n: len(a.admin.ground_truth(table="users")) for n, a in sandbox.accounts.items()}
    assert lines == ["account,n", *(f"{n},{truth[n]}" for n in ACCOUNTS)]
    # The models, the history and one account alone, too.
    done = run_cli(
        ["sql", "--all-accounts", "SELECT DISTINCT account FROM analytics.daily_door_activity"], env
    )
    assert done.returncode == 0 and all(n in done.stdout for n in ACCOUNTS), done.stderr
    done = run_cli(["sql", "--account", "acct02", "SELECT count(*) AS c FROM history.users"], env)
    assert done.returncode == 0 and "acct01" not in done.stdout, done.stderr


def test_one_account_alone_and_a_failing_account_loses_no_one_elses_data(sandbox, synced) -> None:
    tmp, _ = synced
    env = _env(tmp, sandbox, ALOCITY_MAX_ATTEMPTS="1")
    for acct in sandbox.accounts.values():
        acct.admin.simulate(1)
    before = {n: _syncs(_warehouse(tmp, n)) for n in ACCOUNTS}
    done = run_cli(["sync", "--account", "acct02"], env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    after = {n: _syncs(_warehouse(tmp, n)) for n in ACCOUNTS}
    assert after == {**before, "acct02": before["acct02"] + 1}  # only acct02 synced
    # acct03's cloud keys fail on every call: its step fails, the others' data lands, also
    # when the three accounts share one run (ALOCITY_ACCOUNT_RUNS=1: one process, one step).
    sandbox.accounts["acct03"].admin.set_faults("cloud_keys", error_rate=1.0, seed=1)
    try:
        done = run_cli(["sync"], {**env, "ALOCITY_ACCOUNT_RUNS": "1"}, timeout=300)
    finally:
        sandbox.accounts["acct03"].admin.clear_faults()
    assert done.returncode == 1
    assert "acct03" in done.stdout + done.stderr and "1 of 3 accounts failed" in done.stdout + done.stderr
    for name in ("acct01", "acct02"):
        rec = reconcile_sandbox(_warehouse(tmp, name), sandbox.accounts[name].admin, window=WIDEST_WINDOW)
        assert rec.ok, f"{name}: {rec.describe()}"
    # The next sync catches acct03 up.
    done = run_cli(["sync", "--account", "acct03"], env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rec = reconcile_sandbox(_warehouse(tmp, "acct03"), sandbox.accounts["acct03"].admin, window=WIDEST_WINDOW)
    assert rec.ok, rec.describe()


def test_in_dagster_the_account_is_a_partition_of_one_graph(sandbox, synced) -> None:
    tmp, _ = synced
    # One run for all three accounts, were it not for the cap of two accounts per run.
    env = {**_env(tmp, sandbox), "ALOCITY_ACCOUNT_RUNS": "1", "ALOCITY_ACCOUNTS_PER_RUN": "2"}
    settings = Settings.from_env(env)
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    assert set(tables()) <= {k.to_user_string() for k in graph.get_all_asset_keys()}  # one copy per table
    parts = graph.get(dg.AssetKey("access_logs")).partitions_def
    assert isinstance(parts, dg.MultiPartitionsDefinition)  # account x day
    assert parts.get_partitions_def_for_dimension("account").get_partition_keys() == list(ACCOUNTS)
    assert graph.get(dg.AssetKey("users")).partitions_def is None  # the run's tags say whose
    # The nightly schedule: runs of at most two accounts, each reading from its accounts'
    # first unsettled day through today; every account tagged, so the queue runs one run per
    # account (block) at a time.
    tick = datetime.now(UTC)
    ctx = dg.build_schedule_context(scheduled_execution_time=tick, repository_def=defs.get_repository_def())
    requests = defs.resolve_schedule_def("nightly_sync").evaluate_tick(ctx).run_requests
    today = tick.date().isoformat()
    assert [r.tags["alocity/account"] for r in requests] == ["acct01..acct02", "acct03"]
    assert requests[0].tags["dagster/asset_partition_range_start"].startswith("acct01|")
    assert requests[0].tags["dagster/asset_partition_range_end"] == f"acct02|{today}"
    assert requests[1].tags["dagster/asset_partition_range_end"] == f"acct03|{today}"
    # Each account's key has its own sensor, whose message names the account.
    names = {s.name for s in defs.sensors}
    assert {f"alocity_access_key_sensor_{n}" for n in ACCOUNTS} <= names
    sensor = defs.resolve_sensor_def("alocity_access_key_sensor_acct02")
    result = sensor.evaluate_tick(
        dg.build_sensor_context(
            instance=dg.DagsterInstance.ephemeral(), repository_def=defs.get_repository_def()
        )
    )
    assert "account acct02" in (result.skip_message or "")
