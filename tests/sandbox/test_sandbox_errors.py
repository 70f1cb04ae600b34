"""Controlled errors: HTTP 200, hasErrors true, payload null, one Error event — per endpoint family."""

from __future__ import annotations

import pytest

GOOD_USER = {"email": "a.b@example.com", "firstName": "A", "lastName": "B", "localeISO2": "en"}


def test_token_errors(make_api, sandbox):
    api = make_api(sandbox, login=False)
    assert api.error_code("POST", "token", json={"accessKey": "alk_nope"}) == "error_accesskey_not_found"
    assert api.error_code("POST", "token", json={}) == "error_accesskey_not_found"
    assert api.error_code("POST", "token", json=["x"]) == "error_accesskey_not_found"
    r = api.session.post(api.url("token"), data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["applicationEvents"][0]["code"] == "error_accesskey_not_found"


def test_user_errors(api, sandbox):
    users = sandbox.admin.ground_truth(table="users")
    owner, other = users[0], users[1]
    assert (
        api.error_code("GET", "user", userId="00000000-0000-0000-0000-000000000000") == "error_user_not_found"
    )
    assert api.error_code("GET", "user", userId="not-a-guid") == "error_user_not_found"
    cases = [
        ({**GOOD_USER, "localeISO2": "fr"}, "error_locale_not_found"),
        ({**GOOD_USER, "phoneNumber": "call me"}, "error_phonenumber_invalid_format"),
        ({**GOOD_USER, "email": other["email"]}, "error_user_email_already_used_on_same_account"),
        ({**GOOD_USER, "email": "no-at-sign"}, "error_user_not_created"),
        ({"firstName": "x"}, "error_user_not_created"),
        ([1, 2], "error_user_not_created"),
        (None, "error_user_not_created"),
    ]
    if other["phoneNumber"]:
        cases.append(
            ({**GOOD_USER, "phoneNumber": other["phoneNumber"]}, "error_phone_number_used_on_same_account")
        )
    for body, code in cases:
        assert api.error_code("POST", "user_create", json=body) == code, body
    r = api.session.post(
        api.url("user_create"),
        data=b"\xff\xfe garbage",
        headers={"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"},
    )
    assert r.status_code == 200 and r.json()["applicationEvents"][0]["code"] == "error_user_not_created"
    assert (
        api.error_code("PUT", "user", userId=owner["id"], json=GOOD_USER)
        == "error_user_error_updating_account_owner"
    )
    assert api.error_code("DELETE", "user", userId=owner["id"]) == "error_user_error_deleting_account_owner"
    assert (
        api.error_code("PUT", "user", userId="00000000-0000-0000-0000-000000000000", json=GOOD_USER)
        == "error_user_not_found"
    )
    assert api.error_code("PUT", "user", userId=other["id"], json="text") == "error_user_not_updated"
    dup = next((u for u in users[2:] if u["phoneNumber"] and u["phoneNumber"] != other["phoneNumber"]), None)
    if dup:
        body = {**GOOD_USER, "email": other["email"], "phoneNumber": dup["phoneNumber"]}
        assert api.error_code("PUT", "user", userId=other["id"], json=body) == "error_phonenumber_duplicated"
    assert (
        api.error_code("DELETE", "user", userId="00000000-0000-0000-0000-000000000000")
        == "error_user_not_found"
    )


def test_group_errors(api, sandbox):
    gt = sandbox.admin.ground_truth()
    group = next(g for g in gt["groups"] if g["userCount"])
    member = next(m["id"] for m in gt["group_members"] if m["groupId"] == group["id"])
    assert api.error_code("GET", "group_users", groupId=999999) == "error_group_not_found"
    assert api.error_code("GET", "group_users", groupId="abc") == "error_group_not_found"
    assert api.error_code("POST", "group_users", groupId=999999, json=[member]) == "error_group_not_found"
    assert (
        api.error_code("POST", "group_users", groupId=group["id"], json=[member])
        == "error_user_already_on_group"
    )
    assert (
        api.error_code(
            "POST", "group_users", groupId=group["id"], json=["00000000-0000-0000-0000-000000000000"]
        )
        == "error_user_not_found"
    )
    assert (
        api.error_code("POST", "group_users", groupId=group["id"], json={"ids": 1})
        == "error_group_not_created"
    )


def test_schedule_errors(api, sandbox):
    gt = sandbox.admin.ground_truth()
    sched = next(s for s in gt["schedules"] if s["hasUser"])
    linked = next(m["id"] for m in gt["schedule_users"] if m["scheduleId"] == sched["id"])
    site = gt["sites"][0]["id"]
    assert api.error_code("GET", "schedule", scheduleId=424242) == "error_schedule_not_found"
    assert api.error_code("GET", "schedule_users", scheduleId=424242) == "error_schedule_not_found"
    assert api.error_code("POST", "schedule_users", scheduleId=sched["id"], json=[]) == "error_user_required"
    assert (
        api.error_code("POST", "schedule_users", scheduleId=424242, json=[linked])
        == "error_schedule_not_found"
    )
    assert (
        api.error_code("POST", "schedule_users", scheduleId=sched["id"], json=[linked])
        == "error_schedule_has_duplicated_entities"
    )
    assert (
        api.error_code(
            "POST", "schedule_users", scheduleId=sched["id"], json=["00000000-0000-0000-0000-000000000000"]
        )
        == "error_user_not_found"
    )
    cron = {"cron_expression": "0 0 8 ? * MON-FRI", "time_duration": 60, "start": "2026-11-01T00:00:00Z"}
    base = {"name": "N", "description": "", "isAutomatic": False, "siteId": site}
    cases = [
        (None, "error_schedule_is_null"),
        ({}, "error_schedule_is_null"),
        ({**base, "siteId": 1}, "error_site_not_found"),
        ({**base, "siteId": None}, "error_site_not_found"),
        ({**base, "cronSchedules": [{**cron, "time_duration": 0}]}, "error_cron_has_no_duration"),
        ({**base, "cronSchedules": [{**cron, "end": "2026-10-01T00:00:00Z"}]}, "error_cron_invalid_interval"),
        ({**base, "cronSchedules": [{**cron, "cron_expression": ""}]}, "error_cron_invalid_expression"),
    ]
    for body, code in cases:
        assert api.error_code("POST", "schedule_create", json=body) == code, body
    assert (
        api.error_code("POST", "cron_schedule_create", scheduleId=424242, json=cron)
        == "error_schedule_not_found"
    )
    assert (
        api.error_code("POST", "cron_schedule_create", scheduleId=sched["id"], json={})
        == "error_schedule_is_null"
    )
    assert (
        api.error_code(
            "POST", "cron_schedule_create", scheduleId=sched["id"], json={**cron, "cron_expression": "nope"}
        )
        == "error_cron_invalid_expression"
    )


def test_card_and_cloud_key_errors(api, sandbox):
    gt = sandbox.admin.ground_truth()
    card = gt["cards"][0]
    uid = gt["users"][1]["id"]
    assert (
        api.error_code(
            "POST",
            "card",
            json={"cardNumber": card["cardNumber"], "facilityCode": card["facilityCode"], "userId": uid},
        )
        == "error_card_duplicated"
    )
    assert (
        api.error_code(
            "POST",
            "card",
            json={"cardNumber": 1, "facilityCode": 1, "userId": "00000000-0000-0000-0000-000000000000"},
        )
        == "error_user_not_found"
    )
    assert (
        api.error_code("POST", "card", json={"cardNumber": "x", "facilityCode": 1, "userId": uid})
        == "error_card_not_created"
    )
    assert api.error_code("DELETE", "card_deactivate", cardId=1) == "error_card_not_found"
    lost = next(c for c in sandbox.state.account.cards.values() if c.lost_or_stolen and not c.active)
    assert (
        api.error_code(
            "POST",
            "card",
            json={"cardNumber": lost.cardNumber, "facilityCode": lost.facilityCode, "userId": uid},
        )
        == "error_card_lost_or_stolen"
    )
    good = {"userId": uid, "validFrom": "2026-11-01T00:00:00Z", "expireOn": "2027-01-01T00:00:00Z"}
    assert (
        api.error_code("POST", "cloud_keys", json={**good, "expireOn": "2020-01-01T00:00:00Z"})
        == "error_invalid_time_scope"
    )
    assert (
        api.error_code("POST", "cloud_keys", json={**good, "validFrom": "2028-01-01T00:00:00Z"})
        == "error_invalid_time_scope"
    )
    assert (
        api.error_code("POST", "cloud_keys", json={k: v for k, v in good.items() if k != "userId"})
        == "error_user_not_found"
    )
    assert api.error_code("POST", "cloud_keys", json="oops") == "error_creating_cloud_key"


@pytest.mark.parametrize("params", [{"from": "yesterday"}, {"to": "2026-13-45"}])
def test_device_and_access_log_errors(api, sandbox, params):
    assert api.error_code("GET", "device_settings", serialNumber="NOPE123") == "error_device_not_found"
    assert api.error_code("GET", "access_log_page", params) == "error_invalid_dates"


WRITES = [
    ("POST", "user_create", {}),
    ("PUT", "user", {"userId": "USER"}),
    ("POST", "card", {}),
    ("POST", "cloud_keys", {}),
    ("POST", "group_users", {"groupId": "GROUP"}),
    ("POST", "schedule_users", {"scheduleId": "SCHEDULE"}),
    ("POST", "schedule_create", {}),
    ("POST", "cron_schedule_create", {"scheduleId": "SCHEDULE"}),
    ("POST", "token", {}),
]
GARBAGE = [
    b"",
    b"null",
    b"[]",
    b"{}",
    b"42",
    b'"text"',
    b"{bad json",
    b"\x00\xff",
    b'{"a": [1, {"b": null}]}',
    b'[{"cron_expression": 5}]',
    b'{"email": 5, "siteId": true, "cronSchedules": [7], "userId": 3}',
]


def test_write_endpoints_never_500(api, sandbox):
    gt = sandbox.admin.ground_truth()
    ids = {"USER": gt["users"][1]["id"], "GROUP": gt["groups"][0]["id"], "SCHEDULE": gt["schedules"][0]["id"]}
    for method, name, path in WRITES:
        for body in GARBAGE:
            url = api.url(name, **{k: ids[v] for k, v in path.items()})
            r = api.session.request(
                method,
                url,
                data=body,
                timeout=10,
                headers={"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"},
            )
            assert r.status_code == 200, (name, body, r.text)
            assert r.json()["hasErrors"] is True, (name, body)
