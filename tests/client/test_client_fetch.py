"""Catalog-driven fetching of every resource, compared with the sandbox's ground truth."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from alocity_etl.catalog import CATALOG, endpoint_path, resource
from alocity_etl.client import Page, fetch_resource


def rows(pages: list[Page]) -> list[dict]:
    return [r for p in pages for r in p.rows]


def test_every_catalog_resource_matches_ground_truth(client_sandbox, make_client) -> None:
    sb = client_sandbox
    truth = sb.admin.ground_truth()
    client = make_client(sb, page_size=4)
    got: dict[str, list[Page]] = {}
    window = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    for res in CATALOG:  # the catalog lists parents before their children
        parents = rows(got[res.fan_out.parent]) if res.fan_out else None
        got[res.name] = list(
            fetch_resource(client, res, parents=parents, window=window if res.window_params else None)
        )

    for name in ("sites", "groups", "schedules", "users", "cloud_keys", "access_logs"):
        expected = sorted(str(r["id"]) for r in truth[name])
        assert sorted(str(r["id"]) for r in rows(got[name])) == expected, name
    assert sorted(r["serialNumber"] for r in rows(got["devices"])) == sorted(
        r["serialNumber"] for r in truth["devices"]
    )

    # single-object fan-out: one Page per device, the object as items, the parent recorded
    settings_pages = got["device_access_settings"]
    assert all(isinstance(p.items, dict) and p.page_number is None for p in settings_pages)
    assert {p.parent["serialNumber"] for p in settings_pages} == {r["serialNumber"] for r in truth["devices"]}
    assert sorted(rows(settings_pages), key=lambda r: r["serialNumber"]) == sorted(
        truth["device_access_settings"], key=lambda r: r["serialNumber"]
    )

    # detail enrichment: users carry cards, schedules carry cronSchedules; one Page per detail call
    user_pages = got["users"]
    assert all(p.endpoint == "user" and p.path.endswith(p.items["id"]) for p in user_pages)
    assert sorted(c["id"] for u in rows(user_pages) for c in u["cards"]) == sorted(
        c["id"] for c in truth["cards"]
    )
    assert sorted(c["id"] for s in rows(got["schedules"]) for c in s["cronSchedules"]) == sorted(
        c["id"] for c in truth["cron_schedules"]
    )

    # fixed params: groups come with their user counts
    assert all(g["userCount"] is not None for g in rows(got["groups"]))

    # path-param fan-out, paged: the parent key travels on each Page
    members = {(p.parent["groupId"], r["id"]) for p in got["group_members"] for r in p.rows}
    assert members == {(r["groupId"], r["id"]) for r in truth["group_members"]}
    linked = {(p.parent["scheduleId"], r["id"]) for p in got["schedule_users"] for r in p.rows}
    assert linked == {(r["scheduleId"], r["id"]) for r in truth["schedule_users"]}
    assert all(p.params.get("inSchedule") == "true" for p in got["schedule_users"])

    # query-param fan-out: cloud keys per user
    assert all(p.params["userId"] == p.parent["userId"] for p in got["cloud_keys"])
    assert all(r["userId"] == p.parent["userId"] for p in got["cloud_keys"] for r in p.rows)

    # time window: access logs, with the DateTime format of wire.py
    log_pages = got["access_logs"]
    assert log_pages[0].params["from"] == "2000-01-01T00:00:00Z"
    assert [r["id"] for r in rows(log_pages)] == [r["id"] for r in truth["access_logs"]]


def test_fan_out_needs_parents_and_windows_need_a_window(client_sandbox, make_client) -> None:
    client = make_client(client_sandbox)
    with pytest.raises(ValueError, match="parents"):
        list(fetch_resource(client, resource("group_members")))
    with pytest.raises(ValueError, match="window"):
        list(fetch_resource(client, resource("access_logs")))
    with pytest.raises(ValueError, match="no 'id' field"):
        list(fetch_resource(client, resource("group_members"), parents=[{"name": "no id"}]))


def test_detail_of_a_vanished_item_is_skipped(client_sandbox, make_client) -> None:
    """A user deleted between the listing and its detail call is skipped, not fatal."""
    sb = client_sandbox
    client = make_client(sb, page_size=50)
    users = resource("users")
    pages = fetch_resource(client, users)
    first = next(pages)
    victim = sb.admin.ground_truth(table="users")[-1]["id"]
    # The client never writes: delete the user through the API, with the shared token.
    token = client.tokens.current()
    r = requests.delete(
        sb.base_url + endpoint_path("user", userId=victim),
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert r.json()["hasErrors"] is False
    rest = list(pages)
    assert len(rest) + 1 == 19
    assert victim not in {p.items["id"] for p in [first, *rest]}


def test_detail_and_fan_out_calls_overlap_and_keep_their_order(client_sandbox, make_client) -> None:
    """concurrency=4: detail calls (users) and per-parent calls (group members) are in flight
    together at the sandbox, and the pages come out exactly as one-at-a-time fetching yields them."""
    sb = client_sandbox
    sb.admin.set_faults(endpoint="*", latency_s=0.05)  # a round trip long enough to overlap
    groups = sb.admin.ground_truth(table="groups")

    def fetch_all(concurrency: int) -> tuple[list, list, int]:
        sb.admin.reset_stats()
        client = make_client(sb, page_size=50, concurrency=concurrency)
        users = [(p.endpoint, p.path, p.items) for p in fetch_resource(client, resource("users"))]
        members = [
            (p.parent, p.page_number, p.rows)
            for p in fetch_resource(client, resource("group_members"), parents=groups)
        ]
        return users, members, sb.admin.stats()["max_in_flight"]

    users_1, members_1, in_flight_1 = fetch_all(1)
    users_4, members_4, in_flight_4 = fetch_all(4)
    assert len(users_1) == 20 and len(members_1) >= len(groups)
    assert users_4 == users_1 and members_4 == members_1
    assert in_flight_1 == 1
    assert 2 <= in_flight_4 <= 5  # 4 workers, plus the next listing page fetched meanwhile


def test_a_failing_detail_call_fails_the_fetch_and_stops_the_others(client_sandbox, make_client) -> None:
    """A detail answer that cannot be read (never retried) fails the fetch; the calls not yet
    started are never sent: at most 2 x concurrency are submitted ahead of the one consumed."""
    from alocity_etl.client import MalformedResponse

    sb = client_sandbox
    sb.admin.set_faults(endpoint="user", malformed_next=1)
    client = make_client(sb, page_size=50, concurrency=4)
    with pytest.raises(MalformedResponse):
        list(fetch_resource(client, resource("users")))
    sent = sb.admin.stats()["per_endpoint"].get("user", 0)
    assert 1 <= sent <= 12, sent  # of 20 users
