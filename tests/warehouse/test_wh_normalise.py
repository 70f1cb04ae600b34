from __future__ import annotations

import pandas as pd
from whdata import user

from alocity_etl.normalise import assemble, frame_meta, normalise


def test_users_types_dates_guids_nulls_and_cards() -> None:
    a = user(1, createdAt="2024-05-01T13:00:00Z", lastName="", fullName=None)
    a["cards"] = [
        {"id": 11, "cardNumber": 2**40 + 1, "facilityCode": 12, "userId": None},
        {"id": 12, "cardNumber": 5, "facilityCode": 1, "userId": a["id"].lower()},
    ]
    b = user(2, createdAt="2024-05-01T13:00:00", mobileCredential="{3F2504E04F8911D39A0C0305E82C9999}")
    b["cards"] = []
    c = user(3, createdAt="2024-05-01T13:00:00.1234567")
    del c["phoneNumber"]
    out = normalise("users", [a, b, c])
    users, cards = out["users"], out["cards"]
    assert list(users["id"]) == [x["id"].lower() for x in (a, b, c)]
    assert users.loc[1, "mobile_credential"] == "3f2504e0-4f89-11d3-9a0c-0305e82c9999"
    ts = users["created_at"]
    assert str(ts.dtype) == "datetime64[us, UTC]"
    assert ts[0] == pd.Timestamp("2024-05-01T13:00:00Z")
    assert ts[1] == pd.Timestamp("2024-05-01T13:00:00Z")  # naive = UTC
    assert ts[2] == pd.Timestamp("2024-05-01T13:00:00.123456Z")
    assert users.loc[0, "last_name"] == "" and users.loc[0, "full_name"] is None  # kept apart
    assert users.loc[0, "phone_number"] == "" and users.loc[2, "phone_number"] is None
    assert "cards" not in users.columns
    # child rows carry the parent key; a null userId is filled from the parent
    assert list(cards["id"]) == [11, 12]
    assert list(cards["user_id"]) == [a["id"].lower()] * 2
    assert cards.loc[0, "card_number"] == 2**40 + 1  # no float round trip
    assert frame_meta(users).types["id"] == "UUID"


def test_schedules_cron_child_table() -> None:
    s = {
        "id": 7, "name": "Office", "description": "", "siteId": 1, "isAutomatic": False,
        "hasCronSchedules": True, "hasGroup": False, "hasUser": True, "hasDevice": False, "hasZone": False,
        "cronSchedules": [
            {"id": 70, "scheduleId": None, "cron_expression": "0 0 8 ? * MON-FRI", "time_duration": 600,
             "start": "2024-01-01T00:00:00Z", "end": None, "activeOnHolidays": False},
        ],
    }  # fmt: skip
    out = normalise("schedules", [s])
    cron = out["cron_schedules"]
    assert list(cron.columns[:3]) == ["id", "schedule_id", "cron_expression"]
    assert cron.loc[0, "schedule_id"] == 7
    assert cron.loc[0, "time_duration"] == 600 and pd.isna(cron.loc[0, "end"])
    assert out["schedules"].loc[0, "description"] == ""


def test_fan_out_carry_column() -> None:
    m = {"id": "ABCDEF00-0000-0000-0000-000000000001", "email": "a", "firstName": "A", "lastName": "B",
         "fullName": "A B"}  # fmt: skip
    out = normalise("group_members", batches=[(12, [m]), (13, [m, dict(m, groupId=99)]), (14, [])])
    gm = out["group_members"]
    assert list(gm["group_id"]) == [12, 13, 13]  # the call's parent wins over the item
    # The membership only: the member's name and e-mail are users' columns, not stored here
    # (nor hashed: a renamed user must not version every membership).
    assert list(gm.columns) == ["group_id", "user_id"]
    assert set(gm["user_id"]) == {"abcdef00-0000-0000-0000-000000000001"}


def test_access_logs_result_label_and_reserved_names() -> None:
    logs = [
        {"id": "A0000000-0000-0000-0000-000000000001", "createdAt": "2026-11-01T08:00:00.000Z",
         "userId": None, "fullName": None, "deviceSerialNumber": "SN1", "siteId": 1, "result": 0,
         "credentialType": "Face"},
        {"id": "a0000000-0000-0000-0000-000000000002", "createdAt": "2026-11-01T08:00:01Z",
         "userId": "B0000000-0000-0000-0000-000000000001", "fullName": "X", "deviceSerialNumber": "SN1",
         "siteId": 1, "result": 5, "credentialType": "Card"},
    ]  # fmt: skip
    df = normalise("access_logs", logs)["access_logs"]
    assert list(df["result_label"]) == ["Access Granted", "Unknown (5)"]
    assert df.loc[1, "user_id"] == "b0000000-0000-0000-0000-000000000001"
    # The catalog names cloud keys' validFrom itself; a drifted field with a bookkeeping
    # name is prefixed with the singular table name so both can coexist.
    keys = normalise("cloud_keys", [{"id": 1, "validFrom": "2024-01-01T00:00:00Z"}])["cloud_keys"]
    assert "key_valid_from" in keys.columns and "valid_from" not in keys.columns
    groups = normalise("groups", [{"id": 1, "name": "g", "isCurrent": True}])["groups"]
    assert "group_is_current" in groups.columns and "is_current" not in groups.columns


def test_unknown_fields_missing_fields_and_type_mismatch() -> None:
    groups = [
        {"id": 1, "name": "A", "description": "", "userCount": "12", "tags": ["b", "a"],
         "since": "2024-01-01T00:00:00Z", "flagX": True},
        {"id": 2, "name": "B", "description": None, "userCount": 3, "tags": {"k": 1}},
        {"id": 3, "name": "C", "userCount": "abc"},
    ]  # fmt: skip
    df = normalise("groups", groups)["groups"]
    meta = frame_meta(df)
    assert meta.widened == {"user_count": ("INTEGER", "VARCHAR")}
    assert list(df["user_count"]) == ["12", "3", "abc"]  # nothing lost
    assert meta.types["tags"] == "VARCHAR" and "tags" in meta.json_columns
    assert df.loc[0, "tags"] == '["b","a"]'
    assert meta.types["since"] == "TIMESTAMPTZ" and meta.types["flag_x"] == "BOOLEAN"
    assert set(meta.added) == {"tags", "since", "flag_x"}
    only = normalise("groups", [{"id": 1, "name": "A"}])["groups"]
    assert frame_meta(only).missing == ["description", "user_count"]
    assert only["user_count"].isna().all()


def test_empty_input_gives_typed_empty_frames() -> None:
    out = normalise("users", [])
    assert set(out) == {"users", "cards"} and all(len(df) == 0 for df in out.values())


def test_assemble_detail_replaces_list_item_and_groups_fan_out() -> None:
    listed = [user(1), user(2)]
    detail = dict(user(1, firstName="Detailed"), cards=[])
    pages = [
        {"endpoint": "user_page", "body": listed, "page_number": 1},
        {"endpoint": "user_page", "body": [], "page_number": 2},
        {"endpoint": "user", "body": detail, "parent_key": user(1)["id"].lower()},
    ]
    ((parent, items),) = assemble("users", pages)
    assert parent is None and [i["firstName"] for i in items] == ["Detailed", "First2"]
    only_details = [{"endpoint": "user", "body": [detail]}, {"endpoint": "user", "body": user(2)}]
    assert [i["firstName"] for _, its in assemble("users", only_details) for i in its] == [
        "Detailed",
        "First2",
    ]
    gm = assemble("group_members", [{"body": [{"id": "x"}], "parent_key": 5}, {"body": [], "parent_key": 6}])
    assert [(p, len(i)) for p, i in gm] == [(5, 1), (6, 0)]
