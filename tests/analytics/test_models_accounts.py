"""The account models against the ground truth: the six original models (UTC door activity,
denied access by hour, users without credentials, cloud keys expiring soon, user churn) and
the door and group overviews. (schedule_coverage is with the schedule models.)"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from reference import by, denied, label, rows, ts


def assert_same(got: list[dict], expected: list[dict], *key: str) -> None:
    """The same rows, whatever their order: every row, no extras."""
    k = lambda r: tuple(r[c] for c in key)  # noqa: E731
    assert sorted(got, key=k) == sorted(expected, key=k)


def test_daily_door_activity(world) -> None:
    sites, doors = by(world.truth["sites"], "id"), by(world.truth["devices"], "serialNumber")
    groups = defaultdict(list)
    for e in world.events:
        groups[(ts(e["createdAt"]).date(), e["siteId"], e["deviceSerialNumber"])].append(e)
    expected = [
        {
            "day": day,
            "site_id": site,
            "site_name": sites[site]["name"],
            "device_serial_number": serial,
            "door_name": doors[serial]["name"],
            "attempts": len(evs),
            "granted": sum(e["result"] == 0 for e in evs),
            "denied": sum(denied(e["result"]) for e in evs),
            "other_events": sum(e["result"] in (7, 8, 9) for e in evs),
            "distinct_users_granted": len({e["userId"] for e in evs if e["result"] == 0 and e["userId"]}),
            "first_event_at": min(ts(e["createdAt"]) for e in evs),
            "last_event_at": max(ts(e["createdAt"]) for e in evs),
        }
        for (day, site, serial), evs in groups.items()
    ]
    got = rows(world.path, "SELECT * FROM analytics.daily_door_activity")
    assert expected
    assert_same(got, expected, "day", "site_id", "device_serial_number")


def test_denied_access_by_hour(world) -> None:
    groups = defaultdict(list)
    for e in world.events:
        if denied(e["result"]):
            groups[(e["result"], ts(e["createdAt"]).hour)].append(e)
    expected = [
        {
            "result": result,
            "result_label": label(result),
            "hour_utc": hour,
            "denied": len(evs),
            "doors": len({e["deviceSerialNumber"] for e in evs}),
            "recognised_users": len({e["userId"] for e in evs if e["userId"]}),
            "unrecognised": sum(e["userId"] is None for e in evs),
            "first_at": min(ts(e["createdAt"]) for e in evs),
            "last_at": max(ts(e["createdAt"]) for e in evs),
        }
        for (result, hour), evs in groups.items()
    ]
    got = rows(world.path, "SELECT * FROM analytics.denied_access_by_hour")
    assert expected
    assert_same(got, expected, "result", "hour_utc")


def usable(key: dict, world) -> bool:
    return key["status"] == 1 and (key["expireOn"] is None or ts(key["expireOn"]) > world.as_of)


def test_users_without_credentials(world) -> None:
    cards = {c["userId"] for c in world.truth["cards"]}
    keys = defaultdict(list)
    for k in world.truth["cloud_keys"]:
        keys[k["userId"]].append(k)
    expected = [
        {
            "user_id": u["id"],
            "full_name": u["fullName"],
            "email": u["email"],
            "created_at": ts(u["createdAt"]),
            "unusable_cloud_keys": len(keys[u["id"]]),
        }
        for u in world.truth["users"]
        if u["id"] not in cards
        and not any(usable(k, world) for k in keys[u["id"]])
        and not u["hasEnrolledFace"]
        and u["mobileCredential"] is None
    ]
    got = rows(world.path, "SELECT * FROM analytics.users_without_credentials")
    assert expected
    assert_same(got, expected, "user_id")


def test_cloud_keys_expiring_soon(world) -> None:
    users = by(world.truth["users"], "id")
    expected = [
        {
            "cloud_key_id": k["id"],
            "user_id": k["userId"],
            "full_name": users[k["userId"]]["fullName"] if k["userId"] in users else None,
            "email": users[k["userId"]]["email"] if k["userId"] in users else None,
            "key_valid_from": ts(k["validFrom"]),
            "expire_on": ts(k["expireOn"]),
            "days_left": (ts(k["expireOn"]).date() - world.as_of.date()).days,
            "use_one_time": k["useOneTime"],
            "send_by_email": k["sendByEmail"],
            "send_by_text": k["sendByText"],
        }
        for k in world.truth["cloud_keys"]
        if k["status"] == 1 and world.as_of <= ts(k["expireOn"]) < world.as_of + timedelta(days=14)
    ]
    got = rows(world.path, "SELECT * FROM analytics.cloud_keys_expiring_soon")
    assert expected
    assert_same(got, expected, "cloud_key_id")


def test_user_churn_weekly(world) -> None:
    """created per ISO week of createdAt; first seen and deleted in the week the syncs ran
    (the warehouse stamps versions with its own clock, which the test brackets)."""
    first, last = world.synced_between
    week = first.date() - timedelta(days=first.weekday())
    assert last.date() - timedelta(days=last.weekday()) == week, "the syncs straddled a week boundary"
    seen: dict[str, dict] = {}
    for snapshot in world.seen_users:
        seen.update(by(snapshot, "id"))
    gone = set(seen) - {u["id"] for u in world.truth["users"]}
    weeks: dict = defaultdict(lambda: {"created": 0, "first_seen": 0, "deleted": 0})
    for u in seen.values():
        created = ts(u["createdAt"]).date()
        weeks[created - timedelta(days=created.weekday())]["created"] += 1
    weeks[week]["first_seen"] += len(seen)
    weeks[week]["deleted"] += len(gone)
    expected = [{"week_start": w, **c, "net_change": c["created"] - c["deleted"]} for w, c in weeks.items()]
    got = rows(world.path, "SELECT * FROM analytics.user_churn_weekly")
    assert gone
    assert_same(got, expected, "week_start")


def test_door_status(world) -> None:
    sites = by(world.truth["sites"], "id")
    settings = by(world.truth["device_access_settings"], "serialNumber")
    recent = defaultdict(list)
    for e in world.events:
        if world.as_of - timedelta(days=7) < ts(e["createdAt"]) <= world.as_of:
            recent[e["deviceSerialNumber"]].append(e)
    expected = [
        {
            "device_serial_number": d["serialNumber"],
            "door_name": d["name"],
            "site_id": d["siteId"],
            "site_name": sites[d["siteId"]]["name"],
            "time_zone": sites[d["siteId"]]["timeZone"],
            "model": d["model"],
            "firmware_version": d["firmwareVersion"],
            "is_online": d["isOnline"],
            "last_seen_at": ts(d["lastSeenAt"]),
            "door_open_timeout": settings[d["serialNumber"]]["doorOpenTimeout"],
            "lock_release_time": settings[d["serialNumber"]]["lockReleaseTime"],
            "attempts_7d": len(recent[d["serialNumber"]]),
            "denied_7d": sum(denied(e["result"]) for e in recent[d["serialNumber"]]),
            "last_event_at": max((ts(e["createdAt"]) for e in recent[d["serialNumber"]]), default=None),
        }
        for d in world.truth["devices"]
    ]
    got = rows(world.path, "SELECT * FROM analytics.door_status")
    assert any(r["attempts_7d"] for r in expected)
    assert_same(got, expected, "device_serial_number")


def test_group_membership(world) -> None:
    users = {u["id"] for u in world.truth["users"]}
    members = defaultdict(list)
    for m in world.truth["group_members"]:
        members[m["groupId"]].append(m["id"])
    expected = [
        {
            "group_id": g["id"],
            "group_name": g["name"],
            "members_reported": g["userCount"],
            "members_listed": len(members[g["id"]]),
            "members_current": sum(uid in users for uid in members[g["id"]]),
            "counts_agree": g["userCount"] == len(members[g["id"]]),
        }
        for g in world.truth["groups"]
    ]
    got = rows(world.path, "SELECT * FROM analytics.group_membership")
    # Sync C read users after one more simulated day: some members listed by sync B are gone.
    assert any(r["members_current"] < r["members_listed"] for r in expected)
    assert_same(got, expected, "group_id")
