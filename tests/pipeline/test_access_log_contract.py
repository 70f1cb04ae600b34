"""The access-log contract (README, "Access logs"), over real HTTP against the sandbox's truth.

A plain sync lands every event from the account's first through now; nights the machine
was off are filled by the next plain sync or scheduled run, in one listing; events uploaded
late land on the next sync and are counted; today so far appears and is completed the
next day without duplicates. Request counts come from the sandbox's own request log.

Time: the sandboxes start in the past and are simulated up to today at most, so the
product's clock (today) and the sandbox's agree on which days are over; the product reads
a day's time by the earlier of the two clocks (sync/events.py).
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from alocity_etl.catalog import WIDEST_WINDOW
from alocity_etl.sandbox import RunningSandbox
from alocity_etl.sync.read_plan import DayRange, Intraday
from tests.support.pipeline import TODAY, Paths, run_cli, run_sync_in_process, start_sandbox
from tests.support.reconcile import reconcile_sandbox
from tests.support.syncs import scheduled_run, sync_in_process

DAY = TODAY.date()  # today, the product's and (at most) the sandbox's
PAGE = 50
SETTLE = 3
EVERYTHING = WIDEST_WINDOW


def sandbox(**kw) -> RunningSandbox:
    """A tiny sandbox in the past whose tokens outlive the simulated days (a re-login would
    add a refused request to the counts)."""
    kw.setdefault("token_lifetime_s", 30 * 86400)
    return start_sandbox(**kw)


def env(paths: Paths, sb: RunningSandbox) -> dict[str, str]:
    return paths.env(sb, ALOCITY_PAGE_SIZE=str(PAGE), ALOCITY_ACCESS_LOG_SETTLE_DAYS=str(SETTLE))


def sync_now(sb: RunningSandbox, paths: Paths, select: set[str] | None = None, read=None):
    """A sync in this process (default: plain, no flag): (summary, access-log requests it made)."""
    sb.admin.reset_stats()
    paths.init_dagster_home()
    summary = sync_in_process(env(paths, sb), select, read)
    assert summary.ok, summary.errors
    return summary, [r for r in sb.admin.requests() if "access-log/page" in r]


def truth_events(sb: RunningSandbox, since: date | None = None) -> list[dict]:
    rows = sb.admin.ground_truth(table="access_logs")
    return [r for r in rows if since is None or r["createdAt"][:10] >= since.isoformat()]


def stored(paths: Paths) -> Counter:
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        return Counter(str(i) for (i,) in con.execute("SELECT id FROM main.access_logs").fetchall())


def assert_equal_to_truth(paths: Paths, sb: RunningSandbox) -> None:
    rec = reconcile_sandbox(paths.warehouse, sb.admin, window=EVERYTHING, only=["access_logs"])
    assert rec.ok, rec.describe()
    ids = stored(paths)
    assert max(ids.values()) == 1  # no event twice
    assert set(ids) == {r["id"] for r in truth_events(sb)}


def minimum(events: int) -> int:
    """What one listing of `events` needs: its pages and the empty page that ends it."""
    return math.ceil(events / PAGE) + 1


def first_unsettled(last_complete_read: datetime) -> date:
    """The first day a read at `last_complete_read` did not settle (independently of the product)."""
    return (last_complete_read - timedelta(days=SETTLE)).date()


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path)


def test_a_plain_sync_of_an_empty_warehouse_lands_every_event_from_the_first(paths: Paths) -> None:
    sb = sandbox(start=TODAY - timedelta(days=1))
    try:
        result = run_cli(["sync", "--select", "access_logs"], env(paths, sb))
        assert result.returncode == 0, result.stderr[-2000:]
        assert_equal_to_truth(paths, sb)
        first = min(r["createdAt"] for r in truth_events(sb))[:10]
        assert f"read from {first}" in result.stdout
        requests = [r for r in sb.admin.requests() if "access-log/page" in r]
        # One request finds where history starts; then one listing reads it all.
        assert len(requests) == 1 + minimum(len(truth_events(sb)))
        with duckdb.connect(str(paths.warehouse), read_only=True) as con:
            (found,) = con.execute(
                "SELECT CAST(first_event_at AS DATE) FROM meta.access_log_origin"
            ).fetchone()
        assert found.isoformat() == first
        # Three days later (the sandbox now ahead of this machine's clock), still equal.
        sb.admin.simulate(3, late_per_day=2, late_days_back=2)
        result = run_cli(["sync", "--select", "access_logs"], env(paths, sb))
        assert result.returncode == 0, result.stderr[-2000:]
        assert_equal_to_truth(paths, sb)
    finally:
        sb.stop()


def three_nights_off(paths: Paths) -> tuple[RunningSandbox, datetime]:
    """Two nightly syncs, then the machine is off three nights while controllers upload late
    (2 a day, back-dated 2 days); the sandbox is then at today. Returns it and when the last
    sync ran (sandbox clock)."""
    sb = sandbox(start=TODAY - timedelta(days=4))
    sync_now(sb, paths)
    sb.admin.simulate(1)
    last = sb.admin.clock()
    sync_now(sb, paths)
    sb.admin.simulate(3, late_per_day=2, late_days_back=2)
    return sb, last


def test_three_nights_skipped_are_filled_by_the_next_plain_sync_within_the_request_bound(
    paths: Paths,
) -> None:
    sb, second = three_nights_off(paths)
    try:
        summary, requests = sync_now(sb, paths)
        assert_equal_to_truth(paths, sb)
        # One listing from the first day the second sync did not settle, through now.
        events = truth_events(sb, since=first_unsettled(second))
        assert len(requests) <= 1.05 * minimum(len(events)), (len(requests), minimum(len(events)))
        assert len({r.split("&pageNumber")[0] for r in requests}) == 1
        # Late uploads into days read complete before they arrived are counted as late, also
        # those uploaded while the machine was off; the others arrived before their day was.
        expected: Counter = Counter()
        for late in sb.admin.late_uploads():
            day_end = datetime.fromisoformat(late["createdAt"][:10]).replace(tzinfo=UTC) + timedelta(days=1)
            uploaded = datetime.fromisoformat(late["uploadedAt"].replace("Z", "+00:00"))
            if day_end <= second < uploaded:  # read complete by the second sync, then uploaded
                expected[late["createdAt"][:10]] += 1
        assert expected and summary.access_logs.late_by_day == dict(expected)
        with duckdb.connect(str(paths.warehouse), read_only=True) as con:
            got = dict(
                con.execute(
                    "SELECT CAST(day AS VARCHAR), late_events FROM meta.access_log_days WHERE late_events > 0"
                ).fetchall()
            )
        assert got == dict(expected)
    finally:
        sb.stop()


def test_three_nights_skipped_are_filled_by_the_next_scheduled_run(paths: Paths) -> None:
    sb, second = three_nights_off(paths)
    try:
        sb.admin.reset_stats()
        # The nightly tick of today, evaluated as the daemon would, and the run it asks for.
        tick = TODAY + timedelta(hours=2)
        run = scheduled_run(env(paths, sb), "nightly_sync", tick)
        assert run.success
        assert run.tags["dagster/asset_partition_range_start"] == first_unsettled(second).isoformat()
        assert run.tags["dagster/asset_partition_range_end"] == DAY.isoformat()
        assert_equal_to_truth(paths, sb)
        requests = [r for r in sb.admin.requests() if "access-log/page" in r]
        events = truth_events(sb, since=first_unsettled(second))
        assert len(requests) <= 1.05 * minimum(len(events))
        # The run materialised every day it read, in one run.
        assert run.materialized_partitions == {
            (first_unsettled(second) + timedelta(days=i)).isoformat()
            for i in range((DAY - first_unsettled(second)).days + 1)
        }
    finally:
        sb.stop()


def test_today_so_far_appears_and_is_completed_the_next_day_without_duplicates(paths: Paths) -> None:
    sb = sandbox(start=TODAY - timedelta(days=1))
    try:
        sync_now(sb, paths)
        day = (DAY - timedelta(days=1)).isoformat()
        sb.admin.simulate(days=0, hours=15)  # 15:00: the day's first events have happened
        _, requests = sync_now(sb, paths)
        so_far = [r for r in truth_events(sb) if r["createdAt"].startswith(day)]
        assert so_far and all(r["createdAt"] < f"{day}T15" for r in so_far)
        assert_equal_to_truth(paths, sb)
        with duckdb.connect(str(paths.warehouse), read_only=True) as con:
            row = con.execute(
                "SELECT complete_read_at FROM meta.access_log_days WHERE day = ?", [day]
            ).fetchone()
        assert row == (None,)  # read, but only partly: the next sync reads it again
        # An intraday tick with nothing new spends one request (an empty page).
        _, requests = sync_now(sb, paths, select={"access_logs"}, read=Intraday())
        assert len(requests) == 1
        sb.admin.simulate(days=0, hours=4)  # new events: the tick reads only them
        _, requests = sync_now(sb, paths, select={"access_logs"}, read=Intraday())
        new = [r for r in truth_events(sb) if f"{day}T15" <= r["createdAt"] < f"{day}T19"]
        assert new and len(requests) == minimum(len(new))
        assert_equal_to_truth(paths, sb)
        sb.admin.simulate(days=0, hours=5)  # midnight: the day is over
        sync_now(sb, paths)
        assert_equal_to_truth(paths, sb)
        with duckdb.connect(str(paths.warehouse), read_only=True) as con:
            (complete,) = con.execute(
                "SELECT complete_read_at IS NOT NULL FROM meta.access_log_days WHERE day = ?", [day]
            ).fetchone()
        assert complete
    finally:
        sb.stop()


def test_a_30_day_backfill_is_one_listing_within_the_request_bound(paths: Paths) -> None:
    sb = sandbox(preset="small", seed=3, start=TODAY)
    try:
        first, last = DAY - timedelta(days=30), DAY - timedelta(days=1)
        _, requests = sync_now(sb, paths, select={"access_logs"}, read=DayRange(first, last))
        events = [r for r in truth_events(sb) if first.isoformat() <= r["createdAt"][:10] <= last.isoformat()]
        assert len(events) > 10_000
        assert len(requests) <= 1.05 * minimum(len(events)), (len(requests), minimum(len(events)))
        window = (TODAY - timedelta(days=30), TODAY)
        rec = reconcile_sandbox(paths.warehouse, sb.admin, window=window, only=["access_logs"])
        assert rec.ok, rec.describe()
    finally:
        sb.stop()


@pytest.mark.parametrize(
    ("args", "extra", "words"),
    [
        (["--since", "2026-11-05", "--until", "2026-11-01"], {}, ["--since 2026-11-05", "after --until"]),
        (["--since", "2999-01-01"], {}, ["2999-01-01", "future"]),
        (["--since", "2026-02-30"], {}, ["2026-02-30", "YYYY-MM-DD"]),
        (["--until", "2026-11-01"], {}, ["--until", "--since"]),
        ([], {"ALOCITY_ACCESS_LOG_SETTLE_DAYS": "-1"}, ["ALOCITY_ACCESS_LOG_SETTLE_DAYS", ">= 0"]),
        ([], {"ALOCITY_ACCESS_LOG_SETTLE_DAYS": "two"}, ["ALOCITY_ACCESS_LOG_SETTLE_DAYS", "whole number"]),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_fetched_or_written(
    paths: Paths, sandbox_today: RunningSandbox, args: list[str], extra: dict[str, str], words: list[str]
) -> None:
    sandbox_today.admin.reset_stats()
    result = run_cli(["sync", *args], {**env(paths, sandbox_today), **extra})
    assert result.returncode == 2, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert sandbox_today.admin.stats()["requests_total"] == 0
    assert not paths.warehouse.exists()


def test_membership_history_ignores_a_renamed_user(paths: Paths) -> None:
    sb = sandbox(start=TODAY - timedelta(days=1))
    try:
        run_sync_in_process(sb, paths, days=1)
        truth = sb.admin.ground_truth()
        in_schedule = {m["id"] for m in truth["schedule_users"]}
        member = next(m["id"] for m in truth["group_members"] if m["id"] in in_schedule)
        rename_user(sb, member)
        before = versions(paths)
        run_sync_in_process(sb, paths, days=1)
        after = versions(paths)
        assert after["users"] == before["users"] + 1  # the user has a new version
        assert after["group_members"] == before["group_members"]  # their memberships do not
        assert after["schedule_users"] == before["schedule_users"]
        rec = reconcile_sandbox(paths.warehouse, sb.admin, only=["users", "group_members", "schedule_users"])
        assert rec.ok, rec.describe()
    finally:
        sb.stop()


def versions(paths: Paths) -> dict[str, int]:
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        return {
            t: con.execute(f"SELECT count(*) FROM history.{t}").fetchone()[0]
            for t in ("users", "group_members", "schedule_users")
        }


def rename_user(sb: RunningSandbox, user_id: str) -> None:
    """Rename through the API, as the portal would (PUT user/{id})."""
    import requests

    from alocity_etl.catalog import endpoint_path

    user = next(u for u in sb.admin.ground_truth(table="users") if u["id"] == user_id)
    body = {k: user[k] for k in ("email", "firstName", "lastName", "phoneNumber", "localeISO2")}
    body.update(lastName="Renamed", email="renamed." + user["email"])
    token = requests.post(
        sb.base_url + endpoint_path("token"), json={"accessKey": sb.access_key}, timeout=10
    ).json()["payload"]
    r = requests.put(
        sb.base_url + endpoint_path("user", userId=user_id),
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert r.status_code == 200 and not r.json()["hasErrors"]
