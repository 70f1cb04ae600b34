"""The security models against the ground truth: bursts of denied attempts at a door, and
credentials still active for users who are deleted, unknown or inactive."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from reference import WORLD_VARS as DBT_VARS
from reference import by, denied, label, local, order_key, rows, site_zones, ts


def expected_bursts(world) -> list[dict]:
    gap = timedelta(minutes=DBT_VARS["denied_burst_gap_minutes"])
    zones, doors = site_zones(world.truth), by(world.truth["devices"], "serialNumber")
    per_door: dict[str, list[dict]] = defaultdict(list)
    for e in world.events:
        if denied(e["result"]):
            per_door[e["deviceSerialNumber"]].append(e)
    runs: list[list[dict]] = []
    for evs in per_door.values():
        evs.sort(key=order_key)
        for i, e in enumerate(evs):
            if i and ts(e["createdAt"]) - ts(evs[i - 1]["createdAt"]) <= gap:
                runs[-1].append(e)
            else:
                runs.append([e])
    out = []
    for run in runs:
        if len(run) < DBT_VARS["denied_burst_min_attempts"]:
            continue
        first = run[0]
        name, tz, site_name = zones[first["siteId"]]
        out.append(
            {
                "device_serial_number": first["deviceSerialNumber"],
                "door_name": doors[first["deviceSerialNumber"]]["name"],
                "site_id": first["siteId"],
                "site_name": site_name,
                "time_zone": name,
                "started_at": ts(first["createdAt"]),
                "ended_at": ts(run[-1]["createdAt"]),
                "started_local": local(ts(first["createdAt"]), tz),
                "attempts": len(run),
                "unrecognised": sum(e["userId"] is None for e in run),
                "recognised_users": len({e["userId"] for e in run if e["userId"]}),
                "reasons": ", ".join(sorted({label(e["result"]) for e in run})),
            }
        )
    return out


def test_denied_bursts_are_every_run_of_close_denied_attempts_at_a_door(world) -> None:
    expected = expected_bursts(world)
    got = rows(world.path, "SELECT * FROM analytics.denied_bursts")
    key = lambda r: (r["device_serial_number"], r["started_at"])  # noqa: E731
    assert sorted(got, key=key) == sorted(expected, key=key)
    assert len(expected) >= 3 and max(r["attempts"] for r in expected) > DBT_VARS["denied_burst_min_attempts"]


def expected_credentials(world) -> list[dict]:
    """Cards as the last sync listed them (all active), cloud keys as theirs (usable ones);
    a holder is deleted (seen by an earlier sync, gone now), unknown (never seen) or inactive
    (old enough and no granted access in the window)."""
    days = timedelta(days=DBT_VARS["inactive_after_days"])
    current = by(world.truth["users"], "id")
    last_seen: dict[str, dict] = {}
    for snapshot in world.seen_users:
        last_seen.update(by(snapshot, "id"))
    last_granted: dict[str, object] = {}
    for e in world.events:
        at = ts(e["createdAt"])
        if e["result"] == 0 and e["userId"] and at <= world.as_of:
            last_granted[e["userId"]] = max(at, last_granted.get(e["userId"], at))
    held = [("card", c["id"], c["userId"], None) for c in world.truth["cards"]]
    held += [
        ("cloud_key", k["id"], k["userId"], ts(k["expireOn"]))
        for k in world.truth["cloud_keys"]
        if k["status"] == 1 and (k["expireOn"] is None or ts(k["expireOn"]) > world.as_of)
    ]
    out = []
    for kind, cid, uid, expires in held:
        person, last = last_seen.get(uid), last_granted.get(uid)
        if person is None:
            status = "unknown"
        elif uid not in current:
            status = "deleted"
        elif ts(person["createdAt"]) <= world.as_of - days and (last is None or last < world.as_of - days):
            status = "inactive"
        else:
            continue
        out.append(
            {
                "credential_type": kind,
                "credential_id": cid,
                "user_id": uid,
                "user_status": status,
                "full_name": person["fullName"] if person else None,
                "email": person["email"] if person else None,
                "last_granted_at": last,
                "expire_on": expires,
            }
        )
    return out


def test_credentials_of_deleted_or_inactive_users_match_the_ground_truth(world) -> None:
    expected = expected_credentials(world)
    got = rows(world.path, "SELECT * FROM analytics.credentials_of_inactive_users")
    deleted_at = {(r["credential_type"], r["credential_id"]): r.pop("deleted_at") for r in got}
    key = lambda r: (r["credential_type"], r["credential_id"])  # noqa: E731
    assert sorted(got, key=key) == sorted(expected, key=key)
    # deleted_at is the warehouse's own stamp (when a sync found the user gone): set for them only.
    assert all((deleted_at[key(r)] is not None) == (r["user_status"] == "deleted") for r in expected)
    # Sync C read users but not cloud keys: a key of a user deleted since is still listed.
    statuses = {(r["user_status"], r["credential_type"]) for r in expected}
    assert {("deleted", "cloud_key"), ("inactive", "card")} <= statuses
