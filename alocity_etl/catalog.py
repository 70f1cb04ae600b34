"""The one declarative description of every Alocity resource the product syncs.

Everything downstream is derived from this module: the client's fan-out, the
normaliser's column mapping, the warehouse tables and their docs, the Dagster
assets and their lineage. Adding a resource means adding one `Resource` here.

Wire names are exact (see ../shared/alocity-api.md). Choices the public docs leave
open are marked ``INFERRED (§13)``: a user with a live account corrects them here,
in one edit. The sandbox imports only `API_PREFIX` and `ENDPOINTS` from this file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

API_PREFIX = "/v1/integration-management"

# Endpoint paths after API_PREFIX. `{name}` segments are path parameters.
ENDPOINTS: dict[str, str] = {
    "token": "token",  # INFERRED (§13): POST {"accessKey": ...} -> payload = JWT
    "user_page": "user/page",
    "user": "user/{userId}",
    "user_create": "user",
    "groups": "groups",
    "group_users": "group/{groupId}/users",  # GET is INFERRED (§13); POST is documented
    "schedules": "schedules",
    "schedule": "schedule/{scheduleId}",
    "schedule_create": "schedule",
    "cron_schedule_create": "schedule/{scheduleId}/cron-schedule",  # INFERRED (§5.2)
    "schedule_users": "schedule/{scheduleId}/users",
    "cloud_keys": "cloud-key",
    "card": "card",
    "card_deactivate": "card/{cardId}",  # INFERRED (§6.2): DELETE
    "sites": "sites",  # INFERRED (§13)
    "devices": "devices",  # INFERRED (§13)
    "device_settings": "device/{serialNumber}/access-control-settings",
    "access_log_page": "access-log/page",  # INFERRED (§13)
}


def endpoint_path(name: str, **path_params: object) -> str:
    """Full path of a named endpoint, e.g. endpoint_path("user", userId=g)."""
    return f"{API_PREFIX}/{ENDPOINTS[name].format(**path_params)}"


class Paging(StrEnum):
    UNPAGED = "unpaged"  # one call returns the whole list (or one object)
    PAGED = "paged"  # pageNumber/pageSize until an empty page


class WriteMode(StrEnum):
    VERSIONED = "versioned"  # SCD type 2 dimension, full snapshot each sync
    APPEND = "append"  # append-only events, deduplicated on the key


# Access Log Result Type (§7). 5 is not in the stored docs.
ACCESS_RESULT_LABELS: dict[int, str] = {
    0: "Access Granted",
    1: "Not Schedule",
    2: "Unknown User",
    3: "Device In Lockdown",
    4: "Non-Live User",
    6: "Card Format Error",
    7: "Lockdown Start",
    8: "Lockdown End",
    9: "Doorbell",
}

# INFERRED (§13): a from/to window wide enough to hold everything an account can have.
# Cloud keys can only be listed per user inside one. Access logs are read from the
# account's first event with no end: a listing up to WIDEST_WINDOW[1] returns every event
# the API holds, whatever our clock and the API's say today is.
WIDEST_WINDOW = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
CLOUD_KEY_WINDOW = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}


def snake(name: str) -> str:
    """Warehouse column name for a wire field: firstName -> first_name, localeISO2 -> locale_iso2."""
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    s = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", s)
    return s.lower()


@dataclass(frozen=True)
class Column:
    wire: str  # exact JSON field name
    type: str  # DuckDB type in the warehouse
    description: str
    name: str = ""  # warehouse column; defaults to snake(wire)

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", snake(self.wire))


@dataclass(frozen=True)
class FanOut:
    """How a per-parent resource is called once for each row of its parent."""

    parent: str  # parent resource name
    parent_key: str  # wire field of the parent row that fills the call
    path_param: str | None = None  # the path segment it fills, or None
    query_param: str | None = None  # or the query parameter it fills
    carry_as: Column | None = None  # column added to each child row naming the parent


@dataclass(frozen=True)
class ChildTable:
    """A nested list inside each item that lands in its own table, carrying the parent key."""

    name: str
    field: str  # wire field holding the list
    primary_key: tuple[str, ...]  # warehouse column names
    columns: tuple[Column, ...]
    description: str
    parent_columns: tuple[Column, ...] = ()  # parent key columns copied onto each child row


@dataclass(frozen=True)
class Resource:
    name: str  # warehouse table name
    endpoint: str  # key of ENDPOINTS
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]  # warehouse column names
    paging: Paging = Paging.UNPAGED
    params: dict[str, str] = field(default_factory=dict)  # fixed query parameters
    fan_out: FanOut | None = None
    detail_endpoint: str | None = None  # each listed item is replaced by its detail object
    detail_key: tuple[str, str] | None = None  # (wire field of item, path param of detail)
    children: tuple[ChildTable, ...] = ()
    write_mode: WriteMode = WriteMode.VERSIONED
    cursor: str | None = None  # wire field that orders events (incremental)
    window_params: tuple[str, str] | None = None  # (from, to) query names for time windows
    single_object: bool = False  # the payload is one object, not a list
    inferred: bool = False  # the endpoint is INFERRED (§13): a 404 means "not on this account"
    # Wire fields that belong to another table (a member's name on a membership row): neither
    # stored nor hashed here, so renaming a user versions `users` only, not every membership.
    not_stored: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def path(self) -> str:
        return f"{API_PREFIX}/{ENDPOINTS[self.endpoint]}"


def _cols(*specs: tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(wire, typ, desc) for wire, typ, desc in specs)


# Membership lists (group/{id}/users, schedule/{id}/users) return user summaries: the
# membership is the pair (parent, user); the rest is the user's and lives in `users`.
MEMBER_USER_ID = Column("id", "UUID", "Member user id (see users)", name="user_id")
MEMBER_USER_FIELDS = ("email", "firstName", "lastName", "fullName")


def membership(
    name: str,
    endpoint: str,
    description: str,
    parent: str,
    parent_param: str,
    params: dict[str, str] | None = None,
    inferred: bool = False,
) -> Resource:
    """A membership list read per parent (`group/{groupId}/users`): the pair (parent, user)."""
    carry = Column(parent_param, "BIGINT", f"{snake(parent_param).replace('_', ' ').capitalize()}")
    return Resource(
        name=name,
        endpoint=endpoint,
        description=description,
        columns=(MEMBER_USER_ID,),
        primary_key=(carry.name, "user_id"),
        paging=Paging.PAGED,
        params=params or {},
        fan_out=FanOut(parent=parent, parent_key="id", path_param=parent_param, carry_as=carry),
        not_stored=MEMBER_USER_FIELDS,
        inferred=inferred,
    )


CATALOG: tuple[Resource, ...] = (
    Resource(
        name="sites",
        endpoint="sites",
        description="Sites of the account; each carries the time zone its devices and schedules use.",
        columns=_cols(
            ("id", "BIGINT", "Site id"),
            ("name", "VARCHAR", "Site name"),
            ("timeZone", "VARCHAR", "IANA time zone of the site"),
            ("address", "VARCHAR", "Postal address"),
            ("createdAt", "TIMESTAMPTZ", "When the site was created (UTC)"),
        ),
        primary_key=("id",),
        inferred=True,
    ),
    Resource(
        name="devices",
        endpoint="devices",
        description="Door readers (one per door, gate or turnstile), keyed by serial number.",
        columns=_cols(
            ("serialNumber", "VARCHAR", "Device serial number (its id on the wire)"),
            ("name", "VARCHAR", "Door name"),
            ("siteId", "BIGINT", "Site the device belongs to"),
            ("model", "VARCHAR", "Hardware model"),
            ("firmwareVersion", "VARCHAR", "Installed firmware"),
            ("isOnline", "BOOLEAN", "Online at the time of the sync"),
            ("lastSeenAt", "TIMESTAMPTZ", "Last contact with the cloud (UTC)"),
            ("createdAt", "TIMESTAMPTZ", "When the device was added (UTC)"),
        ),
        primary_key=("serial_number",),
        inferred=True,
    ),
    Resource(
        name="device_access_settings",
        endpoint="device_settings",
        description="Door and access-control settings of each device (relays, contacts, Wiegand).",
        columns=_cols(
            ("serialNumber", "VARCHAR", "Device serial number"),
            ("doorContactPosition", "INTEGER", "Kind of door contact sensor (enum values unknown)"),
            ("doorContactType", "INTEGER", "Resting state of the door (enum values unknown)"),
            ("doorOpenTimeout", "INTEGER", "Seconds the door may stay open before an alert"),
            ("exitButtonContactPosition", "INTEGER", "Kind of exit-button sensor"),
            ("exitButtonContactType", "INTEGER", "Resting state of the exit button"),
            ("internalRelayEnabled", "BOOLEAN", "Uses the reader's internal relay"),
            ("ioRelay1Enabled", "BOOLEAN", "Uses external IO relay 1"),
            ("ioRelay2Enabled", "BOOLEAN", "Uses external IO relay 2"),
            ("lockReleaseTime", "INTEGER", "Seconds the lock stays released"),
            ("wiegandFormat", "INTEGER", "Wiegand output format (enum values unknown)"),
            ("wiegandInputEnabled", "BOOLEAN", "Reads Wiegand input"),
            ("wiegandOutputEnabled", "BOOLEAN", "Writes Wiegand output"),
        ),
        primary_key=("serial_number",),
        fan_out=FanOut(parent="devices", parent_key="serialNumber", path_param="serialNumber"),
        single_object=True,
    ),
    Resource(
        name="users",
        endpoint="user_page",
        description="People on the account (list enriched by the user detail call).",
        columns=_cols(
            ("id", "UUID", "User id (Guid)"),
            ("email", "VARCHAR", "E-mail address"),
            ("firstName", "VARCHAR", "Given name"),
            ("lastName", "VARCHAR", "Family name"),
            ("fullName", "VARCHAR", "First and last name"),
            ("localeISO2", "VARCHAR", "Language: en or es"),
            ("mobileCredential", "UUID", "Mobile credential Guid, NULL if none"),
            ("phoneNumber", "VARCHAR", "Phone number"),
            ("hasEnrolledFace", "BOOLEAN", "A face template is enrolled"),
            ("createdAt", "TIMESTAMPTZ", "When the user was created (UTC)"),
        ),
        primary_key=("id",),
        paging=Paging.PAGED,
        detail_endpoint="user",
        detail_key=("id", "userId"),
        children=(
            ChildTable(
                name="cards",
                field="cards",
                primary_key=("id",),
                columns=_cols(
                    ("id", "BIGINT", "Card id"),
                    ("cardNumber", "BIGINT", "Card number"),
                    ("facilityCode", "INTEGER", "Facility code"),
                    ("userId", "UUID", "Owning user"),
                ),
                description="Access cards, from each user's detail.",
            ),
        ),
    ),
    Resource(
        name="groups",
        endpoint="groups",
        description="User groups, with member counts.",
        columns=_cols(
            ("id", "BIGINT", "Group id"),
            ("name", "VARCHAR", "Group name"),
            ("description", "VARCHAR", "Description"),
            ("userCount", "INTEGER", "Number of members"),
        ),
        primary_key=("id",),
        params={"includeUserCount": "true"},  # INFERRED (§13) flag name
    ),
    membership(
        "group_members",
        "group_users",
        "Which users belong to which group: the membership only (names live in users).",
        parent="groups",
        parent_param="groupId",
        inferred=True,  # the GET is INFERRED (§13); the POST is documented
    ),
    Resource(
        name="schedules",
        endpoint="schedules",
        description="Base schedules (list enriched by the schedule detail call).",
        columns=_cols(
            ("id", "BIGINT", "Schedule id"),
            ("name", "VARCHAR", "Name"),
            ("description", "VARCHAR", "Description"),
            ("siteId", "BIGINT", "Owning site"),
            ("isAutomatic", "BOOLEAN", "Doors unlock automatically in active windows"),
            ("hasCronSchedules", "BOOLEAN", "Has at least one cron schedule"),
            ("hasGroup", "BOOLEAN", "At least one group linked"),
            ("hasUser", "BOOLEAN", "At least one user linked"),
            ("hasDevice", "BOOLEAN", "At least one device linked"),
            ("hasZone", "BOOLEAN", "At least one zone linked"),
        ),
        primary_key=("id",),
        detail_endpoint="schedule",
        detail_key=("id", "scheduleId"),
        children=(
            ChildTable(
                name="cron_schedules",
                field="cronSchedules",
                primary_key=("id",),
                columns=_cols(
                    ("id", "BIGINT", "Cron schedule id"),
                    ("scheduleId", "BIGINT", "Parent base schedule"),
                    ("cron_expression", "VARCHAR", "Quartz cron expression: start time and weekdays"),
                    ("time_duration", "INTEGER", "Minutes the window stays open"),
                    ("start", "TIMESTAMPTZ", "Date from which it applies (UTC)"),
                    ("end", "TIMESTAMPTZ", "Date until which it applies; NULL = open-ended"),
                    ("activeOnHolidays", "BOOLEAN", "Also applies on holidays"),
                ),
                description="Active windows of each base schedule.",
            ),
        ),
    ),
    membership(
        "schedule_users",
        "schedule_users",
        "Users linked to each schedule: the link only (names live in users).",
        parent="schedules",
        parent_param="scheduleId",
        params={"inSchedule": "true"},
    ),
    Resource(
        name="cloud_keys",
        endpoint="cloud_keys",
        description="Cloud keys (door links sent by e-mail or SMS), fetched per user.",
        columns=(
            *_cols(("id", "INTEGER", "Cloud key id"), ("userId", "UUID", "Owner")),
            # Renamed: `valid_from` is the versioned tables' own column.
            Column("validFrom", "TIMESTAMPTZ", "Start of validity (UTC)", name="key_valid_from"),
            *_cols(
                ("expireOn", "TIMESTAMPTZ", "Expiry (UTC)"),
                ("sendByEmail", "BOOLEAN", "Sent by e-mail"),
                ("sendByText", "BOOLEAN", "Sent by SMS"),
                ("useOneTime", "BOOLEAN", "Single-use key"),
                ("status", "INTEGER", "1 active, 0 inactive (an expired key can still read 1)"),
            ),
        ),
        primary_key=("id",),
        params=dict(CLOUD_KEY_WINDOW),
        fan_out=FanOut(parent="users", parent_key="id", query_param="userId"),  # INFERRED (§13)
    ),
    Resource(
        name="access_logs",
        endpoint="access_log_page",
        description="Every access attempt at every door: append-only events, partitioned by UTC day.",
        columns=_cols(
            ("id", "UUID", "Event id"),
            ("createdAt", "TIMESTAMPTZ", "When it happened (UTC)"),
            ("userId", "UUID", "Recognised user, NULL if none"),
            ("fullName", "VARCHAR", "Name of the recognised user"),
            ("deviceSerialNumber", "VARCHAR", "Device serial number"),
            ("siteId", "BIGINT", "Site of the device"),
            ("result", "INTEGER", "Access Log Result Type (see result_label)"),
            ("credentialType", "VARCHAR", "Face, Card, ExternalCard, FaceOnCard, CloudKey or Web"),
        ),
        primary_key=("id",),
        paging=Paging.PAGED,
        write_mode=WriteMode.APPEND,
        cursor="createdAt",
        window_params=("from", "to"),  # INFERRED (§13): from inclusive, to exclusive
        inferred=True,
    ),
)

RESOURCES: dict[str, Resource] = {r.name: r for r in CATALOG}


def resource(name: str) -> Resource:
    try:
        return RESOURCES[name]
    except KeyError:
        raise KeyError(f"unknown resource {name!r}; known: {', '.join(RESOURCES)}") from None


def tables() -> dict[str, tuple[Resource, ChildTable | None]]:
    """Every warehouse table: its resource and, for child tables, the child spec."""
    out: dict[str, tuple[Resource, ChildTable | None]] = {}
    for r in CATALOG:
        out[r.name] = (r, None)
        for c in r.children:
            out[c.name] = (r, c)
    return out
