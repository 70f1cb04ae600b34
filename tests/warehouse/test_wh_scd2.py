from __future__ import annotations

import random
from typing import Any

import pandas as pd
from whdata import T0, at, page, user

from alocity_etl.normalise import normalise
from alocity_etl.warehouse import MergeStats, Warehouse


def groups_page(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [page(rows, params={"includeUserCount": "true"})]


def g(i: int, **over: Any) -> dict[str, Any]:
    return {"id": i, "name": f"G{i}", "description": "", "userCount": i, **over}


def history(wh: Warehouse, table: str) -> pd.DataFrame:
    return wh.con.execute(f"SELECT * FROM history.{table} ORDER BY id, valid_from, is_deleted").df()


def one_current_per_key(wh: Warehouse, table: str, keys: str = "id") -> bool:
    (n,) = wh.con.execute(
        f"SELECT count(*) FROM (SELECT {keys} FROM history.{table} WHERE is_current "
        "GROUP BY ALL HAVING count(*) > 1)"
    ).fetchall()[0]
    return n == 0


def test_first_load_update_delete_resurrect_noop(wh: Warehouse) -> None:
    s = wh.start_sync("run-1")
    assert wh.apply_pages("groups", groups_page([g(1), g(2), g(3)]), s, at(0)) == {
        "groups": MergeStats(inserted=3)
    }
    # no-op re-sync writes zero rows
    before = history(wh, "groups")
    assert wh.apply_pages("groups", groups_page([g(3), g(2), g(1)]), s, at(1)) == {
        "groups": MergeStats(unchanged=3)
    }
    pd.testing.assert_frame_equal(history(wh, "groups"), before)
    # update 1, delete 3
    st = wh.apply_pages("groups", groups_page([g(1, name="renamed"), g(2)]), s, at(2))
    assert st["groups"] == MergeStats(updated=1, deleted=1, unchanged=1)
    h = history(wh, "groups")
    old, new = h[h.id == 1].iloc[0], h[h.id == 1].iloc[1]
    assert old.valid_to == at(2) and not old.is_current and new.is_current and new["name"] == "renamed"
    tomb = h[(h.id == 3) & h.is_current].iloc[0]
    assert tomb.is_deleted and tomb.valid_from == at(2) and tomb["name"] == "G3"
    assert set(wh.current("groups")["id"]) == {1, 2}
    # 3 comes back: tombstone closed, new version, counted as inserted
    st = wh.apply_pages("groups", groups_page([g(1, name="renamed"), g(2), g(3)]), s, at(3))
    assert st["groups"] == MergeStats(inserted=1, unchanged=2)
    h = history(wh, "groups")
    assert len(h[h.id == 3]) == 3 and not h[(h.id == 3) & h.is_deleted].iloc[0].is_current
    assert one_current_per_key(wh, "groups")
    assert set(wh.current("groups")["id"]) == {1, 2, 3}
    # partial load deletes nothing
    st = wh.apply_pages("groups", groups_page([g(1, name="again")]), s, at(4), full_snapshot=False)
    assert st["groups"] == MergeStats(updated=1)


def test_row_hash_ignores_nested_list_and_key_order(wh: Warehouse) -> None:
    s = wh.start_sync()
    wh.apply_pages("groups", groups_page([g(1, tags=[{"a": 1, "b": 2}, "x", 3])]), s, at(0))
    st = wh.apply_pages("groups", groups_page([g(1, tags=[3, "x", {"b": 2, "a": 1}])]), s, at(1))
    assert st["groups"] == MergeStats(unchanged=1)
    st = wh.apply_pages("groups", groups_page([g(1, tags=[3, "y", {"b": 2, "a": 1}])]), s, at(2))
    assert st["groups"] == MergeStats(updated=1)


def test_child_tables_and_fan_out(wh: Warehouse) -> None:
    s = wh.start_sync()
    u1 = dict(user(1), cards=[{"id": 10, "cardNumber": 1, "facilityCode": 2, "userId": None}])
    u2 = dict(user(2), cards=[{"id": 20, "cardNumber": 3, "facilityCode": 2, "userId": None}])
    pages = [page([user(1), user(2)], endpoint="user_page", page_number=1)]
    pages += [page(u, endpoint="user", parent_key=u["id"].lower()) for u in (u1, u2)]
    st = wh.apply_pages("users", pages, s, at(0))
    assert st == {"users": MergeStats(inserted=2), "cards": MergeStats(inserted=2)}
    u2["cards"] = []
    pages[-1] = page(u2, endpoint="user", parent_key=u2["id"].lower())
    st = wh.apply_pages("users", pages, s, at(1))
    assert st == {"users": MergeStats(unchanged=2), "cards": MergeStats(deleted=1, unchanged=1)}
    m = {"id": user(1)["id"], "email": "e", "firstName": "F", "lastName": "L", "fullName": "F L"}
    st = wh.apply_pages("group_members", [page([m], parent_key=5), page([m], parent_key=6)], s, at(0))
    assert st["group_members"] == MergeStats(inserted=2)
    st = wh.apply_pages("group_members", [page([m], parent_key=5), page([], parent_key=6)], s, at(1))
    assert st["group_members"] == MergeStats(deleted=1, unchanged=1)
    # The member renamed: the membership is the same, so no new version of it.
    renamed = dict(m, lastName="Other", fullName="F Other", email="other@example.com")
    st = wh.apply_pages("group_members", [page([renamed], parent_key=5)], s, at(2))
    assert st["group_members"] == MergeStats(unchanged=1)
    assert one_current_per_key(wh, "group_members", "group_id, user_id")
    assert wh.current("group_members")["group_id"].tolist() == [5]
    versions = wh.con.execute("SELECT count(*) FROM history.group_members").fetchall()[0][0]
    assert versions == 3  # (5, u1); (6, u1) and its tombstone: nothing for the rename


def _snapshot(rng: random.Random, prev: dict[int, dict[str, Any]], next_id: list[int]) -> dict[int, dict]:
    cur = {k: dict(v) for k, v in prev.items()}
    for k in list(cur):
        r = rng.random()
        if r < 0.1:
            del cur[k]
        elif r < 0.3:
            cur[k]["name"] = f"n{rng.randint(0, 10**6)}"
        elif r < 0.35:
            cur[k]["description"] = rng.choice(["", None, "d"])
    for _ in range(rng.randint(5, 20)):
        next_id[0] += 1
        cur[next_id[0]] = g(next_id[0])
    if prev:  # bring back a deleted key now and then
        gone = sorted(set(range(1, next_id[0])) - set(cur))
        for k in gone[:2]:
            cur[k] = g(k, name="back")
    return cur


def test_as_of_equals_every_past_snapshot(wh: Warehouse) -> None:
    rng = random.Random(42)
    s = wh.start_sync()
    snaps: list[dict[int, dict]] = []
    state: dict[int, dict] = {}
    next_id = [0]
    for i in range(4):
        state = _snapshot(rng, state, next_id)
        snaps.append(state)
        rows = list(state.values())
        rng.shuffle(rows)
        wh.apply_pages("groups", groups_page(rows), s, at(i))
    assert one_current_per_key(wh, "groups")
    for i, snap in enumerate(snaps):
        for t in (at(i), at(i + 0.5)):
            got = wh.as_of("groups", t).sort_values("id").reset_index(drop=True)
            want = normalise("groups", sorted(snap.values(), key=lambda r: r["id"]))["groups"]
            assert got["id"].tolist() == want["id"].tolist()
            assert got["name"].tolist() == want["name"].tolist()
            assert [None if pd.isna(x) else x for x in got["description"]] == list(want["description"])
        macro = wh.con.execute("SELECT count(*) FROM history.groups_as_of(?)", [at(i)]).fetchall()[0]
        assert macro == (len(snap),)
    assert len(wh.as_of("groups", T0.replace(year=2020))) == 0
