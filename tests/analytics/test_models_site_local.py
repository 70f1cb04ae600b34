"""The site-local models against the ground truth: door activity per local day and hour, and
first-in / last-out per person and local day, on an account whose synced days include New
York's spring-forward (23-hour) and fall-back (25-hour) days."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from reference import by, denied, hours_in_day, local, order_key, rows, site_zones, ts

NEW_YORK = 1001  # the tiny account's first site (America/New_York)


def expected_door_activity(world) -> list[dict]:
    zones, doors = site_zones(world.truth), by(world.truth["devices"], "serialNumber")
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for e in world.events:
        at = local(ts(e["createdAt"]), zones[e["siteId"]][1])
        groups[(e["siteId"], at.date(), at.hour, e["deviceSerialNumber"])].append(e)
    out = []
    for (site, day, hour, serial), evs in groups.items():
        name, tz, site_name = zones[site]
        out.append(
            {
                "site_id": site,
                "site_name": site_name,
                "time_zone": name,
                "local_date": day,
                "local_hour": hour,
                "local_weekday": day.isoweekday(),
                "hours_in_local_day": hours_in_day(day, tz),
                "device_serial_number": serial,
                "door_name": doors[serial]["name"],
                "attempts": len(evs),
                "granted": sum(e["result"] == 0 for e in evs),
                "denied": sum(denied(e["result"]) for e in evs),
                "other_events": sum(e["result"] in (7, 8, 9) for e in evs),
                "distinct_users_granted": len({e["userId"] for e in evs if e["result"] == 0 and e["userId"]}),
            }
        )
    return out


def test_door_activity_by_local_day_and_hour_matches_the_ground_truth(world) -> None:
    expected = expected_door_activity(world)
    got = rows(world.path, "SELECT * FROM analytics.door_activity_local_hourly")
    key = lambda r: (r["site_id"], r["local_date"], r["local_hour"], r["device_serial_number"])  # noqa: E731
    assert sorted(got, key=key) == sorted(expected, key=key)
    # The synced days hold both daylight-saving changes, so the comparison above covered them.
    ny = {
        (r["local_date"].isoformat(), r["hours_in_local_day"]) for r in expected if r["site_id"] == NEW_YORK
    }
    assert ("2026-03-08", 23) in ny and ("2026-11-01", 25) in ny
    # ...and days on both sides of each change (New York at UTC-5, then UTC-4, then UTC-5).
    assert {("2026-03-07", 24), ("2026-03-09", 24), ("2026-10-30", 24), ("2026-11-02", 24)} <= ny
    spring = [
        r["local_hour"] for r in got if r["site_id"] == NEW_YORK and str(r["local_date"]) == "2026-03-08"
    ]
    assert spring and 2 not in spring  # 02:00-03:00 does not exist that day in New York


def expected_attendance(world) -> list[dict]:
    zones = site_zones(world.truth)
    days: dict[tuple, list[dict]] = defaultdict(list)
    for e in world.events:
        if e["result"] != 0 or not e["userId"]:
            continue
        name, tz, _ = zones[e["siteId"]]
        days[(e["userId"], e["siteId"], name, local(ts(e["createdAt"]), tz).date())].append(e)
    out = []
    for (user, site, name, day), evs in days.items():
        evs.sort(key=order_key)
        first, last = ts(evs[0]["createdAt"]), ts(evs[-1]["createdAt"])
        tz = zones[site][1]
        out.append(
            {
                "user_id": user,
                "full_name": evs[-1]["fullName"],
                "site_id": site,
                "site_name": zones[site][2],
                "time_zone": name,
                "local_date": day,
                "first_in_at": first,
                "last_out_at": last,
                "first_in_local": local(first, tz),
                "last_out_local": local(last, tz),
                "first_in_door": evs[0]["deviceSerialNumber"],
                "last_out_door": evs[-1]["deviceSerialNumber"],
                "minutes_between": (last - first) // timedelta(minutes=1),
                "granted_events": len(evs),
            }
        )
    return out


def test_attendance_first_in_last_out_per_local_day_matches_the_ground_truth(world) -> None:
    expected = expected_attendance(world)
    got = rows(world.path, "SELECT * FROM analytics.attendance_daily")
    key = lambda r: (r["user_id"], r["site_id"], r["local_date"])  # noqa: E731
    assert sorted(got, key=key) == sorted(expected, key=key)
    # A New York evening visit belongs to the local day, not to the next UTC day.
    late = [r for r in expected if r["site_id"] == NEW_YORK and r["last_out_at"].date() != r["local_date"]]
    assert late, "the data should hold New York visits after 19:00/20:00 local (next UTC day)"
