"""The schedule models against the ground truth: every cron window read from its Quartz
expression in the schedule's site's time zone, accesses outside every window of the person's
schedules (after-hours), and minutes a week each person is scheduled."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta

from reference import by, local, quartz, rows, site_zones, ts


def expected_windows(world) -> list[dict]:
    zones, schedules = site_zones(world.truth), by(world.truth["schedules"], "id")
    out = []
    for c in world.truth["cron_schedules"]:
        s = schedules.get(c["scheduleId"])
        name = zones[s["siteId"]][0] if s and s["siteId"] in zones else "UTC"
        parsed = quartz(c["cron_expression"]) if c["time_duration"] > 0 else None
        common = {
            "cron_schedule_id": c["id"],
            "schedule_id": c["scheduleId"],
            "schedule_name": s["name"] if s else None,
            "site_id": s["siteId"] if s else None,
            "time_zone": name,
            "cron_expression": c["cron_expression"],
            "is_parsed": parsed is not None,
            "duration_minutes": c["time_duration"],
            "valid_from": ts(c["start"]),
            "valid_until": ts(c["end"]),
            "active_on_holidays": c["activeOnHolidays"],
        }
        if parsed is None:
            out.append({**common, "weekdays": None, "start_second_of_day": None, "start_time": None})
            out[-1]["days_back_max"] = None
            continue
        days, starts = parsed
        for start in starts:
            out.append(
                {
                    **common,
                    "weekdays": days,
                    "start_second_of_day": start,
                    "start_time": time(start // 3600, start // 60 % 60, start % 60),
                    "days_back_max": (start + c["time_duration"] * 60) // 86400,
                }
            )
    return out


def test_schedule_windows_read_every_cron_in_the_sites_time_zone(world) -> None:
    expected = expected_windows(world)
    got = rows(world.path, "SELECT * FROM analytics.schedule_windows")
    key = lambda r: (r["cron_schedule_id"], r["start_second_of_day"] or 0)  # noqa: E731
    assert sorted(got, key=key) == sorted(expected, key=key)
    assert all(r["is_parsed"] for r in expected) and len({r["time_zone"] for r in expected}) == 2


def covered(moment: datetime, window: dict, tz) -> bool:
    """Is ``moment`` inside an occurrence of the window? An occurrence opens on a listed
    weekday at the local start time and lasts ``duration`` minutes of elapsed time."""
    if window["valid_from"] and moment < window["valid_from"]:
        return False
    if window["valid_until"] and moment >= window["valid_until"]:
        return False
    today = moment.astimezone(tz).date()
    start = window["start_second_of_day"]
    for back in range(window["days_back_max"] + 1):
        day = today - timedelta(days=back)
        if day.isoweekday() not in window["weekdays"]:
            continue
        opens = datetime.combine(day, time(start // 3600, start // 60 % 60, start % 60), tz).astimezone(UTC)
        if opens <= moment < opens + timedelta(minutes=window["duration_minutes"]):
            return True
    return False


def expected_after_hours(world) -> list[dict]:
    zones, doors = site_zones(world.truth), by(world.truth["devices"], "serialNumber")
    windows = defaultdict(list)
    for w in expected_windows(world):
        if w["is_parsed"]:
            windows[w["schedule_id"]].append(w)
    linked = defaultdict(list)
    for link in world.truth["schedule_users"]:
        linked[link["id"]].append(link["scheduleId"])
    out = []
    for e in world.events:
        if e["result"] != 0 or not e["userId"] or e["userId"] not in linked:
            continue
        moment = ts(e["createdAt"])
        inside = any(
            covered(moment, w, zones[w["site_id"]][1] if w["site_id"] in zones else UTC)
            for sid in linked[e["userId"]]
            for w in windows[sid]
        )
        if inside:
            continue
        name, tz, site_name = zones[e["siteId"]]
        out.append(
            {
                "event_id": e["id"],
                "created_at": moment,
                "local_at": local(moment, tz),
                "local_date": local(moment, tz).date(),
                "user_id": e["userId"],
                "full_name": e["fullName"],
                "site_id": e["siteId"],
                "site_name": site_name,
                "time_zone": name,
                "device_serial_number": e["deviceSerialNumber"],
                "door_name": doors[e["deviceSerialNumber"]]["name"],
                "credential_type": e["credentialType"],
                "linked_schedules": len(linked[e["userId"]]),
            }
        )
    return out


def test_after_hours_access_is_every_granted_access_outside_the_persons_windows(world) -> None:
    expected = expected_after_hours(world)
    got = rows(world.path, "SELECT * FROM analytics.after_hours_access")
    assert sorted(got, key=lambda r: r["event_id"]) == sorted(expected, key=lambda r: r["event_id"])
    granted = [e for e in world.events if e["result"] == 0 and e["userId"]]
    scheduled = {link["id"] for link in world.truth["schedule_users"]}
    inside = [e for e in granted if e["userId"] in scheduled and e["id"] not in {r["event_id"] for r in got}]
    assert expected and inside, "the data should hold accesses both inside and outside the windows"
    # Windows run past midnight: a Mexico City shift 22:00-06:00 covers 02:00 local.
    night = [r for r in expected_windows(world) if r["start_second_of_day"] == 22 * 3600]
    assert night and night[0]["days_back_max"] == 1


def test_schedule_coverage_counts_each_persons_weekly_minutes(world) -> None:
    users, schedules = world.truth["users"], by(world.truth["schedules"], "id")
    minutes: dict[int, int] = defaultdict(int)
    for c in world.truth["cron_schedules"]:
        start, end = ts(c["start"]), ts(c["end"])
        if (start is None or start <= world.as_of) and (end is None or end > world.as_of):
            minutes[c["scheduleId"]] += len(quartz(c["cron_expression"])[0]) * c["time_duration"]
    links = defaultdict(list)
    for link in world.truth["schedule_users"]:
        if link["scheduleId"] in schedules:
            links[link["id"]].append(schedules[link["scheduleId"]])
    expected = [
        {
            "user_id": u["id"],
            "full_name": u["fullName"],
            "email": u["email"],
            "schedules": len(links[u["id"]]),
            "sites": len({s["siteId"] for s in links[u["id"]]}),
            "schedule_names": ", ".join(sorted(s["name"] for s in links[u["id"]])),
            "scheduled_minutes_per_week": sum(minutes[s["id"]] for s in links[u["id"]]),
        }
        for u in users
    ]
    got = rows(world.path, "SELECT * FROM analytics.schedule_coverage")
    assert sorted(got, key=lambda r: r["user_id"]) == sorted(expected, key=lambda r: r["user_id"])
    assert any(r["scheduled_minutes_per_week"] for r in expected) and any(
        r["schedules"] == 0 for r in expected
    )
