"""The models step on hostile input, through Dagster: a model with a SQL error (added to a copy
of the project) fails the step with dbt's message in one line, as the sync summary shows it,
while the other models are built and the tables stay; crons of shapes the sandbox never makes
are read, or marked unread, exactly."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from reference import quartz, rows

from alocity_etl.analytics.project import PROJECT_DIR
from alocity_etl.defs.analytics import build_analytics_assets
from alocity_etl.defs.resources import WarehouseResource
from alocity_etl.defs.runs import SyncSummary, collect_run

# (cron expression, ISO weekdays, start seconds) - None: a shape the models do not read.
CRONS: list[tuple[str, list[int] | None, list[int] | None]] = [
    ("0 0 8,13 ? * 2-6", [1, 2, 3, 4, 5], [8 * 3600, 13 * 3600]),  # Quartz 2-6 = MON-FRI
    ("0 30 22 ? * FRI-MON", [1, 5, 6, 7], [22 * 3600 + 1800]),  # a range round the weekend
    ("15 0 7 * * ?", [1, 2, 3, 4, 5, 6, 7], [7 * 3600 + 15]),  # every day, 07:00:15
    ("0  0 8 ? * sun *", [7], [8 * 3600]),  # spaces, lower case, a year field
    ("0 0 8 ? * MON#2", None, None),  # the second Monday
    ("0 0 8 L * ?", None, None),  # the last day of the month
    ("0 0 25 ? * MON", None, None),  # no 25th hour
    ("0 0 8 ? JAN MON", None, None),  # months
    ("0 0 8 ? * MON 2027", None, None),  # one year only
]
FIRST_CRON_ID = 990_001
BROKEN = "-- A column users does not have.\nSELECT id, no_such_column FROM {{ source('alocity', 'users') }}\n"
DOWNSTREAM = "-- Reads the broken model: dbt skips it.\nSELECT count(*) AS n FROM {{ ref('broken_model') }}\n"


@dataclass
class Hostile:
    path: Path
    result: dg.ExecuteInProcessResult
    summary: SyncSummary
    users_before: int


@pytest.fixture(scope="module")
def hostile(world, tmp_path_factory: pytest.TempPathFactory) -> Hostile:
    root = tmp_path_factory.mktemp("hostile")
    project = root / "sql"
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    (project / "models" / "broken_model.sql").write_text(BROKEN)
    (project / "models" / "after_broken.sql").write_text(DOWNSTREAM)
    path = root / "alocity.duckdb"
    shutil.copy(world.path, path)
    con = duckdb.connect(str(path))
    try:
        schedule = con.execute("SELECT min(id) FROM main.schedules").fetchone()[0]
        for i, (expr, _, _) in enumerate(CRONS):
            con.execute(
                "INSERT INTO history.cron_schedules VALUES (?, ?, ?, 60, NULL, NULL, FALSE, "
                "now(), NULL, TRUE, FALSE, 'x', 1)",
                [FIRST_CRON_ID + i, schedule, expr],
            )
        users_before = con.execute("SELECT count(*) FROM main.users").fetchone()[0]
    finally:
        con.close()
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [build_analytics_assets(str(path), project)],
        resources={"warehouse": WarehouseResource(path=str(path))},
        instance=instance,
        raise_on_error=False,
    )
    summary = SyncSummary()
    collect_run(instance, result.run_id, summary)
    return Hostile(path, result, summary, users_before)


def test_a_model_that_does_not_bind_fails_the_step_in_one_line(hostile: Hostile) -> None:
    assert not hostile.result.success
    (error,) = hostile.summary.errors
    assert "\n" not in error
    assert error.startswith("analytics_models: dbt model broken_model failed:"), error
    assert "Binder Error" in error and "no_such_column" in error


def test_the_other_models_are_built_and_the_tables_stay(hostile: Hostile, world) -> None:
    built = set(hostile.summary.models)
    every = {
        r["name"]
        for r in rows(
            world.path, "SELECT table_name AS name FROM duckdb_tables() WHERE schema_name = 'analytics'"
        )
    }
    assert built == every and "after_broken" not in hostile.summary.models  # skipped by dbt
    assert hostile.summary.dbt_tests.passed > 20 and not hostile.summary.dbt_tests.failed
    # The warehouse's own tables are untouched.
    assert rows(hostile.path, "SELECT count(*) AS n FROM main.users") == [{"n": hostile.users_before}]


def test_crons_of_every_shape_are_read_or_marked_unread(hostile: Hostile) -> None:
    got = rows(
        hostile.path,
        "SELECT cron_schedule_id, is_parsed, weekdays, start_second_of_day, start_time "
        f"FROM analytics.schedule_windows WHERE cron_schedule_id >= {FIRST_CRON_ID}",
    )
    expected = []
    for i, (expr, days, starts) in enumerate(CRONS):
        assert quartz(expr) == (None if days is None else (days, starts)), expr  # the reference agrees
        if days is None:
            expected.append((FIRST_CRON_ID + i, False, None, None, None))
        for s in starts or []:
            expected.append((FIRST_CRON_ID + i, True, days, s, time(s // 3600, s // 60 % 60, s % 60)))
    order = lambda r: (r[0], r[3] or 0)  # noqa: E731
    assert sorted((tuple(r.values()) for r in got), key=order) == sorted(expected, key=order)
    # Unread crons are a warning, not a failure: the check says which.
    (check,) = [
        c for c in hostile.result.get_asset_check_evaluations() if c.check_name.endswith("understood")
    ]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
