from __future__ import annotations

from typing import Any

import pandas as pd
from whdata import at, page, user

from alocity_etl.warehouse import MergeStats, Warehouse
from tests.support.frames import write_frames


def log(i: int, day: int = 1, **over: Any) -> dict[str, Any]:
    return {
        "id": f"a0000000-0000-0000-0000-{i:012d}",
        "createdAt": f"2026-11-{day:02d}T08:{i % 60:02d}:00.000Z",
        "userId": None,
        "fullName": None,
        "deviceSerialNumber": "SN1",
        "siteId": 1,
        "result": i % 10,
        "credentialType": "Face",
        **over,
    }


def day_pages(ids: range, day: int) -> list[dict[str, Any]]:
    w = (f"2026-11-{day:02d}T00:00:00Z", f"2026-11-{day + 1:02d}T00:00:00Z")
    rows = [log(i, day) for i in ids]
    return [page(rows[k : k + 50], page_number=k // 50 + 1, window=w) for k in range(0, len(rows), 50)]


def table(wh: Warehouse) -> pd.DataFrame:
    return wh.con.execute("SELECT * FROM main.access_logs ORDER BY id").df()


def test_append_is_idempotent_per_partition(wh: Warehouse) -> None:
    s = wh.start_sync()
    assert wh.apply_pages("access_logs", day_pages(range(120), 1), s, at(0)) == {
        "access_logs": MergeStats(inserted=120)
    }
    first = table(wh)
    s2 = wh.start_sync()
    assert wh.apply_pages("access_logs", day_pages(range(120), 1), s2, at(1)) == {
        "access_logs": MergeStats(unchanged=120)
    }
    pd.testing.assert_frame_equal(table(wh), first)
    # lookback window with late events: only the new ids go in
    st = wh.apply_pages("access_logs", day_pages(range(100, 130), 1), s2, at(1))
    assert st["access_logs"] == MergeStats(inserted=10, unchanged=20)
    t = table(wh)
    assert t["id"].is_unique and len(t) == 130
    assert set(t["result_label"].dropna()) >= {"Access Granted", "Unknown (5)"}
    row = wh.con.execute("SELECT window_start, window_end FROM meta.table_syncs LIMIT 1").fetchall()[0]
    assert row[0] is not None and row[1] is not None


def test_drift_added_missing_and_type_change(wh: Warehouse) -> None:
    s1 = wh.start_sync()
    grp = {"id": 1, "name": "A", "description": "", "userCount": 3}
    wh.apply_pages("groups", [page([grp, dict(grp, id=2, userCount=4)])], s1, at(0))
    s2 = wh.start_sync()
    new = [dict(grp, userCount="abc", colour="red"), {"id": 2, "name": "B", "userCount": 12}]
    wh.apply_pages("groups", [page(new)], s2, at(1))
    ch = wh.con.execute(
        "SELECT column_name, change_kind, old_type, new_type FROM meta.schema_changes WHERE sync_id = ? "
        "ORDER BY column_name",
        [s2],
    ).fetchall()
    assert ("colour", "added", None, "VARCHAR") in ch
    assert ("user_count", "type_changed", "INTEGER", "VARCHAR") in ch
    # the old integer values survive as text; the new one is kept verbatim
    vals = wh.con.execute(
        "SELECT id, user_count, valid_to IS NULL FROM history.groups ORDER BY id, valid_from"
    ).fetchall()
    assert vals == [(1, "3", False), (1, "abc", True), (2, "4", False), (2, "12", True)]
    assert "colour" in wh.current("groups").columns  # the view follows
    # a catalog column absent from all items -> NULL + one 'missing' record per sync
    s3 = wh.start_sync()
    wh.apply_pages("groups", [page([{"id": 1, "name": "A", "userCount": "abc", "colour": "red"}])], s3, at(2))
    wh.apply_pages("groups", [page([{"id": 1, "name": "A", "userCount": "abc", "colour": "red"}])], s3, at(3))
    miss = wh.con.execute(
        "SELECT column_name FROM meta.schema_changes WHERE sync_id = ? AND change_kind = 'missing'", [s3]
    ).fetchall()
    assert miss == [("description",)]
    cur = wh.current("groups")
    assert cur["description"].isna().all()
    # an INTEGER column again after widening: stored as text, same hash -> unchanged
    s4 = wh.start_sync()
    st = wh.apply_pages(
        "groups", [page([{"id": 1, "name": "A", "userCount": 7, "colour": "red"}])], s4, at(4)
    )
    assert st["groups"] == MergeStats(updated=1)
    st = wh.apply_pages(
        "groups", [page([{"id": 1, "name": "A", "userCount": 7, "colour": "red"}])], s4, at(5)
    )
    assert st["groups"] == MergeStats(unchanged=1)


def test_hand_made_frame_uses_stored_types(wh: Warehouse) -> None:
    s = wh.start_sync()
    df = pd.DataFrame({"id": [1, 2], "name": ["a", None], "description": ["", "x"], "user_count": [1, None]})
    assert write_frames(wh, "groups", {"groups": df}, s, at(0))["groups"] == MergeStats(inserted=2)
    users = pd.DataFrame({"id": ["3f2504e0-4f89-11d3-9a0c-0305e82c3301"], "email": ["e"]})
    assert write_frames(wh, "users", {"users": users}, s, at(0))["users"] == MergeStats(inserted=1)
    types = dict(
        wh.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema='history' AND table_name='users'"
        ).fetchall()
    )
    assert types["id"] == "UUID"


def test_widening_keeps_unchanged_rows_unchanged(wh: Warehouse) -> None:
    """Text of a widened column matches DuckDB's cast of the stored values: no false updates."""
    s = wh.start_sync()
    users = [user(1, createdAt="2024-05-01T13:00:00.5Z"), user(2), user(3, hasEnrolledFace=True)]
    pages = [page(users, endpoint="user_page")]
    wh.apply_pages("users", pages, s, at(0))
    users[2] = dict(users[2], createdAt="yesterday", hasEnrolledFace="yes")
    st = wh.apply_pages("users", [page(users, endpoint="user_page")], s, at(1))
    assert st["users"] == MergeStats(updated=1, unchanged=2)
    rows = wh.con.execute("SELECT created_at, has_enrolled_face FROM main.users ORDER BY id").fetchall()
    assert rows == [
        ("2024-05-01 13:00:00.5+00", "false"),
        ("2024-05-01 13:00:00.123+00", "true"),
        ("yesterday", "yes"),
    ]
    kinds = wh.con.execute(
        "SELECT column_name, old_type, new_type FROM meta.schema_changes WHERE change_kind = 'type_changed' "
        "ORDER BY 1"
    ).fetchall()
    assert kinds == [("created_at", "TIMESTAMPTZ", "VARCHAR"), ("has_enrolled_face", "BOOLEAN", "VARCHAR")]


def test_duplicate_keys_last_wins(wh: Warehouse) -> None:
    s = wh.start_sync()
    rows = [{"id": 1, "name": "first"}, {"id": 2, "name": "x"}, {"id": 1, "name": "second"}]
    assert wh.apply_pages("groups", [page(rows)], s, at(0))["groups"] == MergeStats(inserted=2)
    assert wh.current("groups").sort_values("id")["name"].tolist() == ["second", "x"]
