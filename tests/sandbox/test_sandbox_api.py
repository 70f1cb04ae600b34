"""Read endpoints, envelope, paging and writes of the sandbox, over real HTTP."""

from __future__ import annotations

import requests

from alocity_etl.catalog import API_PREFIX

ENVELOPE = {"applicationEvents", "payload", "hasErrors"}
MEMBER = {"id", "email", "firstName", "lastName", "fullName"}


def test_envelope_on_every_read_endpoint(api, sandbox):
    gt = sandbox.admin.ground_truth()
    user, group, sched = gt["users"][0], gt["groups"][0], gt["schedules"][0]
    device = gt["devices"][0]["serialNumber"]
    calls = [
        ("user_page", {}, {}),
        ("user", {}, {"userId": user["id"]}),
        ("groups", {}, {}),
        ("group_users", {}, {"groupId": group["id"]}),
        ("schedules", {}, {}),
        ("schedule", {}, {"scheduleId": sched["id"]}),
        ("schedule_users", {}, {"scheduleId": sched["id"]}),
        ("cloud_keys", {"userId": user["id"]}, {}),
        ("sites", {}, {}),
        ("devices", {}, {}),
        ("device_settings", {}, {"serialNumber": device}),
        ("access_log_page", {}, {}),
    ]
    for name, params, path in calls:
        r = api.get(name, params, **path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json"), name
        body = r.json()
        assert set(body) == ENVELOPE and body["hasErrors"] is False and body["applicationEvents"] == [], name


def test_lists_match_ground_truth(api, sandbox):
    gt = sandbox.admin.ground_truth()
    assert api.payload("GET", "sites") == gt["sites"]
    assert api.payload("GET", "devices") == gt["devices"]
    assert api.payload("GET", "schedules") == gt["schedules"]
    assert api.payload("GET", "user_page", {"pageSize": 500}) == gt["users"]
    assert api.payload("GET", "groups", {"includeUserCount": "true"}) == gt["groups"]
    assert all(g["userCount"] is None for g in api.payload("GET", "groups"))
    for dev in gt["device_access_settings"]:
        assert api.payload("GET", "device_settings", serialNumber=dev["serialNumber"]) == dev
    logs = api.payload("GET", "access_log_page", {"pageSize": 500})
    assert logs == gt["access_logs"] and 100 < len(logs) < 500
    assert [(x["createdAt"], x["id"]) for x in logs] == sorted((x["createdAt"], x["id"]) for x in logs)
    assert {x["result"] for x in logs} <= {0, 1, 2, 3, 4, 6, 7, 8, 9}
    unknown = [x for x in logs if x["result"] == 2]
    assert unknown and all(x["userId"] is None for x in unknown)
    names = {u["fullName"] for u in gt["users"]}
    assert any(not n.isascii() for n in names)
    assert any(u["mobileCredential"] is None for u in gt["users"])
    assert gt["users"][0]["createdAt"].endswith("Z") and len(gt["users"][0]["createdAt"]) == 24


def test_user_detail_cards_and_memberships(api, sandbox):
    gt = sandbox.admin.ground_truth()
    cards_by_user: dict[str, list] = {}
    for c in gt["cards"]:
        cards_by_user.setdefault(c["userId"], []).append(c)
    for user in gt["users"]:
        detail = api.payload("GET", "user", userId=user["id"])
        assert {k: v for k, v in detail.items() if k != "cards"} == user
        assert detail["cards"] == cards_by_user.get(user["id"], [])
    for g in gt["groups"]:
        members = api.payload("GET", "group_users", {"pageSize": 500}, groupId=g["id"])
        assert [{"groupId": g["id"], **m} for m in members] == [
            x for x in gt["group_members"] if x["groupId"] == g["id"]
        ]
        assert all(set(m) == MEMBER for m in members) and g["userCount"] == len(members)


def test_schedule_detail_and_users(api, sandbox):
    gt = sandbox.admin.ground_truth()
    for s in gt["schedules"]:
        detail = api.payload("GET", "schedule", scheduleId=s["id"])
        assert {k: v for k, v in detail.items() if k != "cronSchedules"} == s
        assert detail["cronSchedules"] == [c for c in gt["cron_schedules"] if c["scheduleId"] == s["id"]]
        inside = api.payload(
            "GET", "schedule_users", {"inSchedule": "true", "pageSize": 500}, scheduleId=s["id"]
        )
        outside = api.payload(
            "GET", "schedule_users", {"inSchedule": "false", "pageSize": 500}, scheduleId=s["id"]
        )
        assert {u["id"] for u in inside} | {u["id"] for u in outside} == {u["id"] for u in gt["users"]}
        assert not {u["id"] for u in inside} & {u["id"] for u in outside}
        assert s["hasUser"] == bool(inside)
    crons = gt["cron_schedules"]
    assert crons and set(crons[0]) == {
        "id",
        "scheduleId",
        "cron_expression",
        "time_duration",
        "start",
        "end",
        "activeOnHolidays",
    }


def test_cloud_key_window(api, sandbox):
    keys = sandbox.admin.ground_truth(table="cloud_keys")
    k = keys[0]
    got = api.payload("GET", "cloud_keys", {"userId": k["userId"]})
    assert k in got
    # Overlap: a window ending exactly at validFrom excludes it, one ending just after includes it.
    assert k not in api.payload(
        "GET", "cloud_keys", {"userId": k["userId"], "from": "2000-01-01T00:00:00Z", "to": k["validFrom"]}
    )
    assert k not in api.payload(
        "GET", "cloud_keys", {"userId": k["userId"], "from": k["expireOn"], "to": "2100-01-01T00:00:00Z"}
    )
    assert (
        api.error_code(
            "GET",
            "cloud_keys",
            {"userId": k["userId"], "from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        )
        == "error_cloud_key_out_of_time_rage"
    )
    assert (
        api.error_code(
            "GET",
            "cloud_keys",
            {"userId": k["userId"], "from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        )
        == "error_cloud_key_out_of_time_rage"
    )


def test_paging_edges(api, sandbox):
    users = sandbox.admin.ground_truth(table="users")
    assert len(users) == 20
    pages = [api.payload("GET", "user_page", {"pageNumber": n, "pageSize": 10}) for n in (1, 2, 3)]
    assert [len(p) for p in pages] == [10, 10, 0] and pages[0] + pages[1] == users
    assert api.payload("GET", "user_page", {"page": 2, "pageSize": 10}) == pages[1]  # alias
    assert len(api.payload("GET", "user_page")) == 20  # default size 50
    assert api.payload("GET", "user_page", {"pageNumber": 99}) == []
    # An empty window: nothing, as [] not null.
    assert api.payload("GET", "access_log_page", {"from": "2030-01-01T00:00:00Z", "to": "2030-01-02"}) == []
    # from inclusive, to exclusive
    logs = sandbox.admin.ground_truth(table="access_logs")
    t = logs[10]["createdAt"]
    after = api.payload("GET", "access_log_page", {"from": t, "pageSize": 500})
    before = api.payload("GET", "access_log_page", {"to": t, "pageSize": 500})
    assert after[0]["createdAt"] == t and all(x["createdAt"] < t for x in before)
    assert len(after) + len(before) == len(logs)


def test_page_size_capped_at_500(sandbox_factory, make_api):
    sb = sandbox_factory(preset="small")
    api = make_api(sb)
    page = api.payload("GET", "access_log_page", {"pageSize": 5000})
    assert len(page) == 500
    assert api.payload("GET", "access_log_page", {"pageSize": 500, "pageNumber": 2})[0] != page[0]


def test_unknown_route_404_and_missing_token_401(api, sandbox):
    assert requests.get(f"{sandbox.base_url}{API_PREFIX}/nothing-here", timeout=5).status_code == 404
    assert requests.get(f"{sandbox.base_url}/v2/whatever", timeout=5).status_code == 404
    r = requests.get(api.url("sites"), timeout=5)
    assert r.status_code == 401 and r.content == b""
    r = requests.get(api.url("sites"), headers={"Authorization": "Bearer not.a.jwt"}, timeout=5)
    assert r.status_code == 401 and r.content == b""
    r = requests.get(api.url("sites"), headers={"Authorization": api.token}, timeout=5)  # no scheme
    assert r.status_code == 401


def test_user_writes_and_delete_cascade(api, sandbox):
    uid = api.payload(
        "POST",
        "user_create",
        json={
            "email": "zoe.new@example.com",
            "firstName": "Zoë",
            "lastName": "Łukasz",
            "phoneNumber": "+13055559999",
            "localeISO2": "es",
        },
    )
    detail = api.payload("GET", "user", userId=uid)
    assert detail["fullName"] == "Zoë Łukasz" and detail["cards"] == [] and detail["mobileCredential"] is None
    assert (
        api.payload(
            "PUT",
            "user",
            userId=uid,
            json={
                "email": "zoe.new@example.com",
                "firstName": "Zoë",
                "lastName": "Smith",
                "localeISO2": "en",
            },
        )
        is True
    )
    assert api.payload("GET", "user", userId=uid)["lastName"] == "Smith"
    card_id = api.payload("POST", "card", json={"cardNumber": 123456, "facilityCode": 42, "userId": uid})
    assert api.payload("GET", "user", userId=uid)["cards"] == [
        {"id": card_id, "cardNumber": 123456, "facilityCode": 42, "userId": uid}
    ]
    key_id = api.payload(
        "POST",
        "cloud_keys",
        json={
            "userId": uid,
            "validFrom": "2026-11-01T00:00:00Z",
            "expireOn": "2030-01-01T00:00:00Z",
            "sendByEmail": True,
        },
    )
    assert [k["id"] for k in api.payload("GET", "cloud_keys", {"userId": uid})] == [key_id]
    gid = sandbox.admin.ground_truth(table="groups")[0]["id"]
    sid = sandbox.admin.ground_truth(table="schedules")[0]["id"]
    assert api.payload("POST", "group_users", json=[uid], groupId=gid) is True
    assert api.payload("POST", "schedule_users", json=[uid], scheduleId=sid) is True
    gt = sandbox.admin.ground_truth()
    assert {"groupId": gid, "id": uid}.items() <= next(
        m for m in gt["group_members"] if m["id"] == uid
    ).items()
    assert any(m["id"] == uid and m["scheduleId"] == sid for m in gt["schedule_users"])
    # Deactivate the card: it leaves the user's cards.
    assert api.payload("DELETE", "card_deactivate", cardId=card_id) is True
    assert api.payload("GET", "user", userId=uid)["cards"] == []
    api.payload("POST", "card", json={"cardNumber": 777, "facilityCode": 1, "userId": uid})
    assert api.payload("DELETE", "user", userId=uid) is True
    gt = sandbox.admin.ground_truth()
    assert uid not in {u["id"] for u in gt["users"]}
    for table in ("cards", "cloud_keys"):
        assert all(r["userId"] != uid for r in gt[table])
    for table in ("group_members", "schedule_users"):
        assert all(r["id"] != uid for r in gt[table])
    assert api.error_code("GET", "user", userId=uid) == "error_user_not_found"


def test_schedule_writes(api, sandbox):
    site = sandbox.admin.ground_truth(table="sites")[0]["id"]
    created = api.payload(
        "POST",
        "schedule_create",
        json={
            "name": "Guards",
            "description": "",
            "isAutomatic": True,
            "siteId": site,
            "cronSchedules": [
                {
                    "cron_expression": "0 0 8 ? * MON-FRI",
                    "time_duration": 60,
                    "start": "2026-11-01T00:00:00Z",
                    "end": None,
                    "activeOnHolidays": False,
                }
            ],
        },
    )
    assert set(created) == {"id", "name", "description", "siteId", "isAutomatic", "cronSchedules"}
    assert created["cronSchedules"][0]["end"] is None
    cron_id = api.payload(
        "POST",
        "cron_schedule_create",
        scheduleId=created["id"],
        json={
            "cron_expression": "0 0 9 ? * SAT",
            "time_duration": 30,
            "start": "2026-11-01T00:00:00Z",
            "end": "2027-11-01T00:00:00Z",
            "activeOnHolidays": True,
        },
    )
    detail = api.payload("GET", "schedule", scheduleId=created["id"])
    assert [c["id"] for c in detail["cronSchedules"]][-1] == cron_id and detail["hasCronSchedules"]
