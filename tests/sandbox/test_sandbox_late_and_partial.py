"""Time in the sandbox: a day so far (hours), late uploads back-dated into earlier days, the
ground truth at each simulated midnight, and the Date header on the sandbox's own clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

START = datetime(2026, 11, 1, tzinfo=UTC)


def _listing(api, start: datetime, end: datetime) -> list[dict]:
    api.login()  # the clock moved past the last token's expiry
    rows, page = [], 1
    while True:
        got = api.payload(
            "GET",
            "access_log_page",
            {
                "from": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "to": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "pageNumber": page,
                "pageSize": 500,
            },
        )
        if not got:
            return rows
        rows += got
        page += 1


def test_hours_show_the_day_so_far_and_the_rest_later(api, sandbox) -> None:
    sandbox.admin.simulate(days=0, hours=15)
    today = _listing(api, START, START + timedelta(days=2))
    assert today and all(r["createdAt"] < "2026-11-01T15:00:00" for r in today)
    assert today == sandbox.admin.ground_truth(table="access_logs", from_=START)
    sandbox.admin.simulate(days=0, hours=9)  # the rest of the day
    whole = _listing(api, START, START + timedelta(days=2))
    assert whole[: len(today)] == today and len(whole) > len(today)
    assert max(r["createdAt"] for r in whole) >= "2026-11-01T15:00:00"
    assert sandbox.admin.clock() >= START + timedelta(days=1)
    # Whole days reached by hours are the same days as one `simulate(1)` makes.
    assert sandbox.admin.info()["day"] == 1


def test_partial_and_whole_day_simulation_agree(sandbox_factory) -> None:
    a, b = sandbox_factory(), sandbox_factory()
    a.admin.simulate(days=0, hours=7)
    a.admin.simulate(days=1, hours=17)
    b.admin.simulate(days=2)
    assert a.admin.ground_truth() == b.admin.ground_truth()
    assert a.admin.ground_truth(day=1) == b.admin.ground_truth(day=1)


def test_late_uploads_are_back_dated_and_listed_in_place(api, sandbox) -> None:
    before = sandbox.admin.ground_truth(table="access_logs")
    sandbox.admin.simulate(1)  # 2026-11-01 happens
    late = sandbox.admin.upload_late(5, days_back=2)  # now is 11-02 00:00: into 10-31
    assert len(late) == 5 and all(r["createdAt"].startswith("2026-10-31") for r in late)
    assert all(r["uploadedAt"].startswith("2026-11-02") for r in late)
    listed = _listing(api, START - timedelta(days=1), START)
    ids = {r["id"] for r in listed}
    assert {r["id"] for r in late} <= ids
    # Still sorted by createdAt then id, the late events in their place.
    assert listed == sorted(listed, key=lambda r: (r["createdAt"], r["id"]))
    # The ground truth of midnight 11-02 (day 1) predates the upload; "now" includes it.
    day1 = {r["id"] for r in sandbox.admin.ground_truth(day=1, table="access_logs")}
    now = {r["id"] for r in sandbox.admin.ground_truth(table="access_logs")}
    assert now - day1 == {r["id"] for r in late}
    assert {r["id"] for r in before} <= day1
    assert sandbox.admin.late_uploads() == late
    assert sandbox.admin.stats()["late_uploads"] == 5


def test_simulate_uploads_late_events_every_day(sandbox_factory) -> None:
    sb = sandbox_factory()
    sb.admin.simulate(days=3, late_per_day=4, late_days_back=2)
    late = sb.admin.late_uploads()
    assert len(late) == 12
    for r in late:  # uploaded at noon, back-dated into the day two days before
        uploaded = datetime.fromisoformat(r["uploadedAt"].replace("Z", "+00:00"))
        assert uploaded.hour == 12
        assert r["createdAt"][:10] == (uploaded - timedelta(days=2)).date().isoformat()
    truth = {r["id"] for r in sb.admin.ground_truth(table="access_logs")}
    assert {r["id"] for r in late} <= truth


def test_date_header_follows_the_sandbox_clock(api, sandbox) -> None:
    sandbox.admin.simulate(3)
    api.login()
    r = api.get("sites")
    server = parsedate_to_datetime(r.headers["date"])
    assert abs((server - sandbox.admin.clock()).total_seconds()) < 5
    assert server >= START + timedelta(days=3)
