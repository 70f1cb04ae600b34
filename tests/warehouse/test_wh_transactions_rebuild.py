from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from whdata import at, page, user

from alocity_etl.warehouse import Warehouse, rebuild
from alocity_etl.warehouse import versioned_tables as vt

TABLES = [
    "raw.pages",
    "history.users",
    "history.cards",
    "meta.table_syncs",
    "meta.resource_loads",
    "meta.schema_changes",
]


def snapshot(wh: Warehouse) -> dict[str, Any]:
    out: dict[str, Any] = {t: wh.con.execute(f"SELECT * FROM {t}").fetchall() for t in TABLES}
    out["columns"] = wh.con.execute(
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns ORDER BY ALL"
    ).fetchall()
    return out


def user_pages(users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pages = [page([{k: v for k, v in u.items() if k != "cards"} for u in users], endpoint="user_page")]
    return pages + [page(u, endpoint="user", parent_key=u["id"].lower()) for u in users]


def test_failure_inside_apply_rolls_back_everything(wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    s = wh.start_sync()
    u = dict(user(1), cards=[{"id": 1, "cardNumber": 5, "facilityCode": 1, "userId": None}])
    wh.apply_pages("users", user_pages([u]), s, at(0))
    before = snapshot(wh)
    real = vt.merge_versioned
    calls: list[str] = []

    def failing(con: Any, table: str, *a: Any, **kw: Any) -> Any:
        calls.append(table)
        if table == "cards":  # users already merged (with a new column) when this fails
            raise RuntimeError("injected")
        return real(con, table, *a, **kw)

    monkeypatch.setattr("alocity_etl.warehouse.loads.merge_versioned", failing)
    u2 = dict(u, firstName="changed", newField=1, cards=[])
    with pytest.raises(RuntimeError, match="injected"):
        wh.apply_pages("users", user_pages([u2]), s, at(1))
    assert calls == ["users", "cards"]
    assert snapshot(wh) == before


def test_rebuild_from_raw_equals_synced_tables(tmp_path: Any) -> None:
    path = tmp_path / "a.duckdb"
    with Warehouse.open(path) as wh:
        s1 = wh.start_sync("r1")
        us = [
            dict(user(i), cards=[{"id": i, "cardNumber": i, "facilityCode": 1, "userId": None}])
            for i in range(5)
        ]
        wh.apply_pages("users", user_pages(us), s1, at(0))
        wh.apply_pages("groups", [page([{"id": 1, "name": "A", "userCount": 1}])], s1, at(0))
        m = {"id": user(1)["id"], "email": "e"}
        wh.apply_pages("group_members", [page([m], parent_key=1)], s1, at(0))
        logs = [
            {"id": f"a0000000-0000-0000-0000-{i:012d}", "createdAt": "2026-11-01T01:00:00Z", "result": 1}
            for i in range(10)
        ]
        w = ("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z")
        wh.apply_pages("access_logs", [page(logs, window=w)], s1, at(0))
        wh.finish_sync(s1, "success", requests=9)
        s2 = wh.start_sync("r2")
        us[0]["firstName"], us[1]["cards"], us[2]["extra"] = "x", [], [3, 1]
        wh.apply_pages("users", user_pages(us[:4]), s2, at(24))
        wh.apply_pages("groups", [page([{"id": 1, "name": "A", "userCount": "lots"}])], s2, at(24))
        wh.apply_pages("group_members", [page([], parent_key=1)], s2, at(24))
        wh.apply_pages(
            "access_logs",
            [page([*logs[5:], dict(logs[0], id=logs[0]["id"][:-2] + "99")], window=w)],
            s2,
            at(24),
        )
        wh.finish_sync(s2, "success", requests=9)
        tables = [
            "history.users",
            "history.cards",
            "history.groups",
            "history.group_members",
            "main.access_logs",
        ]
        synced = {t: wh.con.execute(f"SELECT * FROM {t} ORDER BY ALL").df() for t in tables}
        cols = {t: list(df.columns) for t, df in synced.items()}
    counts = rebuild(path)
    assert counts["users"] == 4 and counts["access_logs"] == 11
    with Warehouse.open(path, read_only=True) as wh:
        for t in tables:
            got = wh.con.execute(f"SELECT {', '.join(cols[t])} FROM {t} ORDER BY ALL").df()
            pd.testing.assert_frame_equal(got, synced[t], check_dtype=False)


def test_apply_after_a_half_fetched_result(wh: Warehouse) -> None:
    s = wh.start_sync()
    wh.con.execute("SELECT * FROM range(10)").fetchone()  # callers do this; DuckDB 2 then refuses register
    assert wh.apply_pages("groups", [page([{"id": 1, "name": "a"}])], s, at(0))["groups"].inserted == 1


@pytest.mark.parametrize(
    "body",
    [
        {"id": 7},  # a one-row detail payload: the window shrinks to fit it
        [{"id": i, "name": "x" * 40, "n": 2**70} for i in range(2000)],  # a big page, a huge integer
        [],
        None,
    ],
)
def test_raw_payloads_round_trip_and_stay_plain_zlib(body: Any) -> None:
    import json
    import zlib

    from alocity_etl.warehouse import raw_archive

    stored = raw_archive.encode_body(body)
    assert raw_archive.decode_body(stored) == body
    # Any zlib reader opens it (e.g. a user's own tooling on raw.pages.body_z).
    assert json.loads(zlib.decompress(stored)) == body
    assert raw_archive.body_text(stored) == json.dumps(body, separators=(",", ":"))


def test_big_payloads_are_stored_in_small_parts_and_read_back_whole(tmp_path: Any) -> None:
    """A page above PART_BYTES is split (what bounds a checkpoint's memory, migration 0006);
    the raw.pages view, load_pages and a rebuild all see the whole payload again."""
    import json
    import secrets
    import zlib

    from alocity_etl.warehouse import raw_archive

    path = tmp_path / "parts.duckdb"
    # Random names: the payload stays large once compressed (~100 KB, ~200 parts).
    groups = [{"id": i, "name": secrets.token_hex(16)} for i in range(3000)]
    with Warehouse.open(path) as wh:
        s = wh.start_sync()
        wh.apply_pages("groups", [page([{"id": 1, "name": "small"}]), page(groups)], s, at(0))
        parts = wh.con.execute(
            "SELECT page_seq, count(*), max(octet_length(chunk)) FROM raw.page_parts GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert parts[0][1] == 1 and parts[1][1] > 100 and max(p[2] for p in parts) <= raw_archive.PART_BYTES
        bodies = wh.con.execute("SELECT body_z FROM raw.pages ORDER BY page_seq").fetchall()
        assert [json.loads(zlib.decompress(b)) for (b,) in bodies] == [[{"id": 1, "name": "small"}], groups]
        (seq,) = wh.con.execute("SELECT max(load_seq) FROM raw.page_meta").fetchall()[0]
        assert [p["body"] for p in raw_archive.load_pages(wh.con, seq)][1] == groups
        before = wh.con.execute("SELECT * FROM main.groups ORDER BY id").fetchall()
        assert len(before) == 3000  # id 1 comes twice: the last page wins
        wh.rebuild()
        assert wh.con.execute("SELECT * FROM main.groups ORDER BY id").fetchall() == before
