"""Analytics models: dependency parsing, materialisation on a real synced warehouse, Dagster assets."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from alocity_etl.defs.models import build_model_assets
from alocity_etl.defs.resources import WarehouseResource
from alocity_etl.models import ModelError, discover, materialise, referenced_tables, table_asset

EXPECTED_DEPS = {
    "daily_door_activity": ["access_logs", "devices", "sites"],
    "denied_access_by_hour": ["access_logs"],
    "users_without_credentials": ["cards", "cloud_keys", "users"],
    "cloud_keys_expiring_soon": ["cloud_keys", "users"],
    "schedule_coverage": ["cron_schedules", "schedule_users", "schedules", "users"],
    "user_churn_weekly": ["users"],
}


def test_every_model_is_found_with_the_tables_its_sql_reads() -> None:
    models = {m.name: m for m in discover()}
    assert {n: m.deps for n, m in models.items()} == EXPECTED_DEPS
    assert models["user_churn_weekly"].tables == ["history.users"]  # the CTEs are not tables
    assert all(m.description and not m.description.startswith("-") for m in models.values())


def test_the_parser_maps_every_spelling_to_its_table_asset() -> None:
    sql = (
        "WITH cards AS (SELECT 1 AS user_id) "
        "SELECT * FROM users u JOIN cards c ON c.user_id = u.id "
        "JOIN history.groups_as_of(now()) g ON true JOIN history.as_of_sync('sites', 1) s ON true "
        "JOIN main.devices d ON true JOIN analytics.daily_door_activity a ON true, meta.syncs"
    )
    tables = referenced_tables(sql)
    assert tables == [
        "analytics.daily_door_activity",
        "history.groups_as_of",
        "history.sites",
        "main.devices",
        "main.users",
        "meta.syncs",
    ]
    assert [table_asset(t) for t in tables] == [None, "groups", "sites", "devices", "users", None]
    assert table_asset("users") == table_asset("history.users") == "users"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM main.users", "must be a plain SELECT"),
        ("SELECT 1; SELECT 2", "expected one SELECT"),
        ("SELECT * FROM main.nonexistent", "not a warehouse table"),
        ("SELECT * FROM analytics.missing_model", "not a model"),
    ],
)
def test_a_bad_model_fails_discovery_in_one_line(tmp_path: Path, sql: str, message: str) -> None:
    (tmp_path / "bad.sql").write_text(sql)
    with pytest.raises(ModelError, match=message):
        discover(tmp_path)


def q(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def test_every_model_materialises_sensible_rows_from_a_real_sync(warehouse: Path) -> None:
    done = materialise(warehouse)
    assert set(done) == set(EXPECTED_DEPS)
    con = duckdb.connect(str(warehouse), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    try:
        for name, r in done.items():
            assert q(con, f"SELECT count(*) FROM analytics.{name}") == [(r.rows,)]
        # daily door activity adds up to the access log, and knows every door and site.
        logs = q(con, "SELECT count(*) FROM main.access_logs")[0][0]
        assert logs > 100
        assert q(
            con,
            "SELECT sum(attempts), sum(granted + denied + other_events) FROM analytics.daily_door_activity",
        ) == [(logs, logs)]
        assert q(
            con,
            "SELECT count(*) FROM analytics.daily_door_activity WHERE door_name IS NULL OR site_name IS NULL",
        ) == [(0,)]
        # denied access: every refusal, once, at an hour of the day.
        denied = q(con, "SELECT count(*) FROM main.access_logs WHERE result NOT IN (0, 7, 8, 9)")[0][0]
        assert denied > 0
        assert q(
            con,
            "SELECT sum(denied), min(hour_utc) >= 0, max(hour_utc) <= 23 "
            "FROM analytics.denied_access_by_hour",
        ) == [(denied, True, True)]
        assert q(con, "SELECT count(*) FROM analytics.denied_access_by_hour WHERE result = 0") == [(0,)]
        # users without credentials: exactly the users with none of the four credentials.
        expected = {
            r[0]
            for r in q(
                con,
                "SELECT u.id FROM main.users u WHERE u.mobile_credential IS NULL AND NOT u.has_enrolled_face "
                "AND u.id NOT IN (SELECT user_id FROM main.cards WHERE user_id IS NOT NULL) "
                "AND u.id NOT IN (SELECT user_id FROM main.cloud_keys "
                "WHERE status = 1 AND expire_on > now())",
            )
        }
        got = {r[0] for r in q(con, "SELECT user_id FROM analytics.users_without_credentials")}
        assert got == expected
        # keys expiring in 14 days: active, in the window, days_left 0..14.
        expected_keys = {
            r[0]
            for r in q(
                con,
                "SELECT id FROM main.cloud_keys WHERE status = 1 AND expire_on >= now() "
                "AND expire_on < now() + INTERVAL 14 DAY",
            )
        }
        rows = q(con, "SELECT cloud_key_id, days_left FROM analytics.cloud_keys_expiring_soon")
        assert {r[0] for r in rows} == expected_keys
        assert all(0 <= r[1] <= 14 for r in rows)
        # schedule coverage: one row per user; the links add up.
        users = q(con, "SELECT count(*) FROM main.users")[0][0]
        links = q(
            con, "SELECT count(*) FROM main.schedule_users su JOIN main.users u ON u.id = su.user_id"
        )[0][0]
        assert q(
            con, "SELECT count(*), count(DISTINCT user_id), sum(schedules) FROM analytics.schedule_coverage"
        ) == [(users, users, links)]
        assert links > 0
        assert q(con, "SELECT min(scheduled_minutes_per_week) >= 0 FROM analytics.schedule_coverage") == [
            (True,)
        ]
        # churn: every user first seen once; every tombstoned user deleted once.
        seen = q(con, "SELECT count(DISTINCT id) FROM history.users")[0][0]
        gone = q(con, "SELECT count(DISTINCT id) FROM history.users WHERE is_deleted")[0][0]
        assert gone > 0, "the simulated days should delete some users"
        assert q(
            con, "SELECT sum(first_seen), sum(deleted), sum(created) FROM analytics.user_churn_weekly"
        ) == [(seen, gone, seen)]
    finally:
        con.close()


def test_a_refresh_is_one_transaction(warehouse: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "a_first.sql").write_text("-- fine\nSELECT count(*) AS n FROM main.users")
    (models / "b_broken.sql").write_text(
        "-- fails at run time\nSELECT CAST('x' AS INTEGER) AS n FROM main.users"
    )
    with pytest.raises(duckdb.Error):
        materialise(warehouse, directory=models)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert q(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'a_first'") == [(0,)]
    finally:
        con.close()


def test_model_assets_carry_parsed_deps_and_materialise_through_dagster(warehouse: Path) -> None:
    assets = build_model_assets()
    specs = {s.key.to_user_string(): s for a in assets for s in a.specs}
    assert set(specs) == set(EXPECTED_DEPS)
    for name, spec in specs.items():
        assert spec.group_name == "analytics"
        assert {d.asset_key.to_user_string() for d in spec.deps} == set(EXPECTED_DEPS[name])
        assert "```sql" in spec.metadata["sql"].value
    result = dg.materialize(
        assets,
        resources={"warehouse": WarehouseResource(path=str(warehouse))},
        selection=["denied_access_by_hour", "user_churn_weekly"],
    )
    assert result.success
    mats = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    assert set(mats) == {"denied_access_by_hour", "user_churn_weekly"}
    md = mats["user_churn_weekly"].materialization.metadata
    assert md["dagster/row_count"].value > 0
    assert [c.name for c in md["dagster/column_schema"].schema.columns][:2] == ["week_start", "created"]


@pytest.mark.parametrize(
    ("job", "requested"),
    # The per-kind jobs (UI runs, backfills) are followed by a refresh; `sync` runs the models itself.
    [("sync_dimensions", True), ("sync_access_logs", True), ("refresh_models", False), ("sync", False)],
)
def test_models_refresh_after_each_successful_sync_run(job: str, requested: bool) -> None:
    from dagster._core.events import DagsterEvent, DagsterEventType

    from alocity_etl.defs.models import refresh_models_after_sync, refresh_models_job

    run = dg.DagsterRun(job_name=job, run_id=f"run-{job}", status=dg.DagsterRunStatus.SUCCESS)
    event = DagsterEvent(event_type_value=DagsterEventType.RUN_SUCCESS.value, job_name=job)
    ctx = dg.build_run_status_sensor_context(
        sensor_name=refresh_models_after_sync.name,
        dagster_instance=dg.DagsterInstance.ephemeral(),
        dagster_run=run,
        dagster_event=event,
    )
    request = refresh_models_after_sync(ctx)
    assert (request is not None) == requested
    if requested:
        assert request.run_key == f"models-after-run-{job}"
    assert refresh_models_job.name == "refresh_models"
