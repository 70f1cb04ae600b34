"""Reconcile a warehouse with the sandbox's ground truth, table by table, row by row.

Reusable by any suite (pipeline, reliability)::

    from tests.support.reconcile import reconcile_sandbox
    rec = reconcile_sandbox(warehouse_path, sb.admin)            # current views vs ground truth now
    rec = reconcile_sandbox(path, sb.admin, day=1, as_of=ts)     # history.<t>_as_of(ts) vs day 1
    rec = reconcile_sandbox(path, sb.admin, window=(start, end)) # + access_logs in [start, end)
    assert rec.ok, rec.describe()

How rows are compared
---------------------
* Ground truth rows are wire format (camelCase, as `sb.admin.ground_truth()` returns them).
  Each wire field is mapped to its warehouse column by this module's own answer key
  (`ANSWER_KEY`, written by hand: never the product's catalog, whose mistakes it must catch),
  e.g. cloud keys' ``validFrom`` -> ``key_valid_from``, group members' ``id`` -> ``user_id``.
* Both sides are brought to one canonical Python value per type: UUID ->
  lowercase ``8-4-4-4-12`` text; TIMESTAMPTZ -> aware UTC ``datetime`` (ISO text parsed,
  naive = UTC); integers -> ``int``; BOOLEAN -> ``bool``; DOUBLE -> ``float``; VARCHAR ->
  text. A value of the wrong kind is kept as is, so ``"12"`` against ``12`` is a
  mismatch: the reconciliation is strict on purpose.
* Rows are keyed by the table's primary key (warehouse names). Per table:
  ``reconciled`` = keys present once on each side with equal values; ``lost`` = keys in
  the truth, absent from the warehouse; ``duplicated`` = extra warehouse rows of one key
  (n - 1 per key); ``mismatched`` = keys on both sides whose values differ;
  ``unexpected`` = warehouse keys the truth does not have.
* ``access_logs`` also checks the derived ``result_label`` (RESULT_LABELS, §7 of the API reference,
  ``Unknown (n)`` otherwise) and is compared only within a ``window`` = [from, to) on
  ``created_at``, on both sides.
* Only the answer key's columns are compared: columns added by schema drift, and the
  warehouse's bookkeeping columns (valid_from, sync_id, ...), are ignored. A column the key
  names that the warehouse lacks is a failure, not a skip.

`snapshot_tables` captures every table of a warehouse file (for before/after equality).
"""

from __future__ import annotations

import math
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

INT_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}
SAMPLE = 5
Window = tuple[datetime, datetime]


# ------------------------------------------------------------------ the answer key

# What the warehouse must hold for each table of the sandbox's ground truth, written by hand
# and NOT derived from the product's catalog (a typo there must fail here, not be copied):
# table -> (primary key, [(warehouse column, wire field in the truth row or None = derived,
# type the values are compared as)]). tests/test_support_reconcile.py checks it against the
# catalog, so a new column is added here on purpose.
ANSWER_KEY: dict[str, tuple[tuple[str, ...], list[tuple[str, str | None, str]]]] = {
    "sites": (
        ("id",),
        [
            ("id", "id", "BIGINT"),
            ("name", "name", "VARCHAR"),
            ("time_zone", "timeZone", "VARCHAR"),
            ("address", "address", "VARCHAR"),
            ("created_at", "createdAt", "TIMESTAMPTZ"),
        ],
    ),
    "devices": (
        ("serial_number",),
        [
            ("serial_number", "serialNumber", "VARCHAR"),
            ("name", "name", "VARCHAR"),
            ("site_id", "siteId", "BIGINT"),
            ("model", "model", "VARCHAR"),
            ("firmware_version", "firmwareVersion", "VARCHAR"),
            ("is_online", "isOnline", "BOOLEAN"),
            ("last_seen_at", "lastSeenAt", "TIMESTAMPTZ"),
            ("created_at", "createdAt", "TIMESTAMPTZ"),
        ],
    ),
    "device_access_settings": (
        ("serial_number",),
        [
            ("serial_number", "serialNumber", "VARCHAR"),
            ("door_contact_position", "doorContactPosition", "INTEGER"),
            ("door_contact_type", "doorContactType", "INTEGER"),
            ("door_open_timeout", "doorOpenTimeout", "INTEGER"),
            ("exit_button_contact_position", "exitButtonContactPosition", "INTEGER"),
            ("exit_button_contact_type", "exitButtonContactType", "INTEGER"),
            ("internal_relay_enabled", "internalRelayEnabled", "BOOLEAN"),
            ("io_relay1_enabled", "ioRelay1Enabled", "BOOLEAN"),
            ("io_relay2_enabled", "ioRelay2Enabled", "BOOLEAN"),
            ("lock_release_time", "lockReleaseTime", "INTEGER"),
            ("wiegand_format", "wiegandFormat", "INTEGER"),
            ("wiegand_input_enabled", "wiegandInputEnabled", "BOOLEAN"),
            ("wiegand_output_enabled", "wiegandOutputEnabled", "BOOLEAN"),
        ],
    ),
    "users": (
        ("id",),
        [
            ("id", "id", "UUID"),
            ("email", "email", "VARCHAR"),
            ("first_name", "firstName", "VARCHAR"),
            ("last_name", "lastName", "VARCHAR"),
            ("full_name", "fullName", "VARCHAR"),
            ("locale_iso2", "localeISO2", "VARCHAR"),
            ("mobile_credential", "mobileCredential", "UUID"),
            ("phone_number", "phoneNumber", "VARCHAR"),
            ("has_enrolled_face", "hasEnrolledFace", "BOOLEAN"),
            ("created_at", "createdAt", "TIMESTAMPTZ"),
        ],
    ),
    "cards": (
        ("id",),
        [
            ("id", "id", "BIGINT"),
            ("card_number", "cardNumber", "BIGINT"),
            ("facility_code", "facilityCode", "INTEGER"),
            ("user_id", "userId", "UUID"),
        ],
    ),
    "groups": (
        ("id",),
        [
            ("id", "id", "BIGINT"),
            ("name", "name", "VARCHAR"),
            ("description", "description", "VARCHAR"),
            ("user_count", "userCount", "INTEGER"),
        ],
    ),
    "group_members": (
        ("group_id", "user_id"),
        [
            ("group_id", "groupId", "BIGINT"),
            ("user_id", "id", "UUID"),
        ],
    ),
    "schedules": (
        ("id",),
        [
            ("id", "id", "BIGINT"),
            ("name", "name", "VARCHAR"),
            ("description", "description", "VARCHAR"),
            ("site_id", "siteId", "BIGINT"),
            ("is_automatic", "isAutomatic", "BOOLEAN"),
            ("has_cron_schedules", "hasCronSchedules", "BOOLEAN"),
            ("has_group", "hasGroup", "BOOLEAN"),
            ("has_user", "hasUser", "BOOLEAN"),
            ("has_device", "hasDevice", "BOOLEAN"),
            ("has_zone", "hasZone", "BOOLEAN"),
        ],
    ),
    "cron_schedules": (
        ("id",),
        [
            ("id", "id", "BIGINT"),
            ("schedule_id", "scheduleId", "BIGINT"),
            ("cron_expression", "cron_expression", "VARCHAR"),
            ("time_duration", "time_duration", "INTEGER"),
            ("start", "start", "TIMESTAMPTZ"),
            ("end", "end", "TIMESTAMPTZ"),
            ("active_on_holidays", "activeOnHolidays", "BOOLEAN"),
        ],
    ),
    "schedule_users": (
        ("schedule_id", "user_id"),
        [
            ("schedule_id", "scheduleId", "BIGINT"),
            ("user_id", "id", "UUID"),
        ],
    ),
    "cloud_keys": (
        ("id",),
        [
            ("id", "id", "INTEGER"),
            ("user_id", "userId", "UUID"),
            ("key_valid_from", "validFrom", "TIMESTAMPTZ"),
            ("expire_on", "expireOn", "TIMESTAMPTZ"),
            ("send_by_email", "sendByEmail", "BOOLEAN"),
            ("send_by_text", "sendByText", "BOOLEAN"),
            ("use_one_time", "useOneTime", "BOOLEAN"),
            ("status", "status", "INTEGER"),
        ],
    ),
    "access_logs": (
        ("id",),
        [
            ("id", "id", "UUID"),
            ("created_at", "createdAt", "TIMESTAMPTZ"),
            ("user_id", "userId", "UUID"),
            ("full_name", "fullName", "VARCHAR"),
            ("device_serial_number", "deviceSerialNumber", "VARCHAR"),
            ("site_id", "siteId", "BIGINT"),
            ("result", "result", "INTEGER"),
            ("credential_type", "credentialType", "VARCHAR"),
            ("result_label", None, "VARCHAR"),
        ],
    ),
}
# Access Log Result Type (../shared/alocity-api.md §7); 5 is not in the docs.
RESULT_LABELS = {
    0: "Access Granted", 1: "Not Schedule", 2: "Unknown User", 3: "Device In Lockdown",
    4: "Non-Live User", 6: "Card Format Error", 7: "Lockdown Start", 8: "Lockdown End", 9: "Doorbell",
}  # fmt: skip
EVENT_TABLES = {"access_logs"}  # append-only; the others are versioned (SCD2)


@dataclass(frozen=True)
class Col:
    name: str  # warehouse column
    wire: str | None  # wire field in the ground truth row; None = derived
    type: str  # comparison type


def table_spec(table: str) -> tuple[list[Col], tuple[str, ...], bool]:
    """(columns, primary key, versioned) of a table, from the answer key."""
    key, cols = ANSWER_KEY[table]
    return [Col(*c) for c in cols], key, table not in EVENT_TABLES


def versioned_tables() -> list[str]:
    return [t for t in ANSWER_KEY if table_spec(t)[2]]


# ------------------------------------------------------------------ canonical values

_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def parse_ts(v: str) -> datetime | None:
    txt = v.strip().replace(" ", "T")
    if txt.endswith(("Z", "z")):
        txt = txt[:-1] + "+00:00"
    m = re.match(r"^(.*T\d{2}:\d{2}:\d{2})\.(\d+)(.*)$", txt)
    if m:
        txt = f"{m.group(1)}.{m.group(2)[:6].ljust(6, '0')}{m.group(3)}"
    if re.search(r"[+-]\d{2}$", txt):  # DuckDB's "+00"
        txt += ":00"
    try:
        dt = datetime.fromisoformat(txt)
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def canonical(value: Any, typ: str) -> Any:
    """One value in the canonical form of its catalog type (wrong kinds are left as they are)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if typ == "UUID":
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, str):
            g = value.strip().lower().strip("{}")
            if _HEX32.match(g):
                g = f"{g[:8]}-{g[8:12]}-{g[12:16]}-{g[16:20]}-{g[20:]}"
            return g
        return value
    if typ == "TIMESTAMPTZ":
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if isinstance(value, str):
            return parse_ts(value) or value
        return value
    if typ in INT_TYPES:
        return value if isinstance(value, bool) else int(value) if isinstance(value, int) else value
    if typ == "DOUBLE":
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    return value


def expected_label(result: Any) -> str | None:
    if result is None or not isinstance(result, int) or isinstance(result, bool):
        return None
    return RESULT_LABELS.get(result, f"Unknown ({result})")


# ------------------------------------------------------------------ reports


@dataclass
class TableReport:
    table: str
    expected_rows: int = 0
    warehouse_rows: int = 0
    reconciled: int = 0
    lost: int = 0
    duplicated: int = 0
    mismatched: int = 0
    unexpected: int = 0
    lost_samples: list[Any] = field(default_factory=list)
    duplicated_samples: list[Any] = field(default_factory=list)
    mismatched_samples: list[dict[str, Any]] = field(default_factory=list)
    unexpected_samples: list[Any] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.mismatched or self.unexpected)

    def describe(self) -> str:
        head = (
            f"{self.table}: expected {self.expected_rows}, warehouse {self.warehouse_rows}, "
            f"reconciled {self.reconciled}, lost {self.lost}, duplicated {self.duplicated}, "
            f"mismatched {self.mismatched}, unexpected {self.unexpected}"
        )
        lines = [head]
        for label, sample in (
            ("lost", self.lost_samples),
            ("duplicated", self.duplicated_samples),
            ("mismatched", self.mismatched_samples),
            ("unexpected", self.unexpected_samples),
        ):
            if sample:
                lines.append(f"    {label}: {sample}")
        return "\n".join(lines)


@dataclass
class Reconciliation:
    tables: dict[str, TableReport] = field(default_factory=dict)

    def _sum(self, attr: str) -> int:
        return sum(getattr(t, attr) for t in self.tables.values())

    @property
    def rows_reconciled(self) -> int:
        return self._sum("reconciled")

    @property
    def rows_lost(self) -> int:
        return self._sum("lost")

    @property
    def rows_duplicated(self) -> int:
        return self._sum("duplicated")

    @property
    def rows_mismatched(self) -> int:
        return self._sum("mismatched")

    @property
    def rows_unexpected(self) -> int:
        return self._sum("unexpected")

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables.values())

    def counts(self) -> dict[str, int]:
        return {
            "rows_reconciled": self.rows_reconciled,
            "rows_lost": self.rows_lost,
            "rows_duplicated": self.rows_duplicated,
            "rows_mismatched": self.rows_mismatched,
            "rows_unexpected": self.rows_unexpected,
        }

    def describe(self) -> str:
        return "\n".join([str(self.counts()), *(t.describe() for t in self.tables.values())])


# ------------------------------------------------------------------ reading both sides


def truth_rows(table: str, rows: Iterable[Mapping[str, Any]]) -> list[tuple[tuple, tuple]]:
    """[(key, values)] of ground-truth wire rows, in warehouse column order, canonical values."""
    cols, key, _ = table_spec(table)
    names = [c.name for c in cols]
    out = []
    for row in rows:
        vals = []
        for c in cols:
            if c.wire is None:  # derived: result_label
                vals.append(expected_label(row.get("result")))
            else:
                vals.append(canonical(row.get(c.wire), c.type))
        rec = dict(zip(names, vals, strict=True))
        out.append((tuple(rec[k] for k in key), tuple(vals)))
    return out


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def warehouse_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    *,
    as_of: datetime | None = None,
    window: Window | None = None,
) -> list[tuple[tuple, tuple]]:
    """[(key, values)] of a warehouse table: the current view, or the as-of state of a
    versioned table; events within ``window`` on created_at."""
    cols, key, versioned = table_spec(table)
    names = [c.name for c in cols]
    select = ", ".join(_q(n) for n in names)
    params: list[Any] = []
    if versioned and as_of is not None:
        src = f"history.{_q(table + '_as_of')}(?)"
        params.append(as_of)
    else:
        src = f"main.{_q(table)}"
    where = ""
    if window is not None:
        where = " WHERE created_at >= ? AND created_at < ?"
        params += [window[0], window[1]]
    rows = con.execute(f"SELECT {select} FROM {src}{where}", params).fetchall()
    out = []
    for row in rows:
        vals = tuple(canonical(v, c.type) for v, c in zip(row, cols, strict=True))
        rec = dict(zip(names, vals, strict=True))
        out.append((tuple(rec[k] for k in key), vals))
    return out


def compare(
    table: str, expected: Sequence[tuple[tuple, tuple]], actual: Sequence[tuple[tuple, tuple]]
) -> TableReport:
    """Compare (key, values) rows of one table; see the module docstring for the counts."""
    cols, _, _ = table_spec(table)
    names = [c.name for c in cols]
    rep = TableReport(table, expected_rows=len(expected), warehouse_rows=len(actual))
    exp: dict[tuple, tuple] = {}
    for k, v in expected:
        if k in exp:
            raise AssertionError(f"ground truth of {table} lists key {k} twice")
        exp[k] = v
    got: dict[tuple, list[tuple]] = {}
    for k, v in actual:
        got.setdefault(k, []).append(v)
    for k, v in exp.items():
        rows = got.get(k)
        if not rows:
            rep.lost += 1
            if len(rep.lost_samples) < SAMPLE:
                rep.lost_samples.append(k)
            continue
        if len(rows) > 1:
            rep.duplicated += len(rows) - 1
            if len(rep.duplicated_samples) < SAMPLE:
                rep.duplicated_samples.append((k, len(rows)))
        if any(r != v for r in rows):
            rep.mismatched += 1
            if len(rep.mismatched_samples) < SAMPLE:
                bad = next(r for r in rows if r != v)
                diff = {
                    n: {"expected": e, "warehouse": a}
                    for n, e, a in zip(names, v, bad, strict=True)
                    if e != a
                }
                rep.mismatched_samples.append({"key": k, "diff": diff})
        elif len(rows) == 1:
            rep.reconciled += 1
    for k, rows in got.items():
        if k not in exp:
            rep.unexpected += len(rows)
            if len(rep.unexpected_samples) < SAMPLE:
                rep.unexpected_samples.append(k)
    return rep


# ------------------------------------------------------------------ entry points


def reconcile(
    con: duckdb.DuckDBPyConnection,
    truth: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    as_of: datetime | None = None,
    window: Window | None = None,
    only: Iterable[str] | None = None,
) -> Reconciliation:
    """Compare every table named in ``truth`` (or ``only``) with the warehouse on ``con``.

    ``as_of``: versioned tables are read through ``history.<t>_as_of(as_of)``.
    ``window``: access_logs are compared on created_at in [from, to); without a window
    access_logs are skipped (an event table has no "as of").
    """
    rec = Reconciliation()
    for table in only or truth:
        _, _, versioned = table_spec(table)
        if not versioned and window is None:
            continue
        expected = truth_rows(table, truth[table])
        if not versioned:
            expected = [(k, v) for k, v in expected if _in_window(v[_col_index(table, "created_at")], window)]
        actual = warehouse_rows(con, table, as_of=as_of, window=window if not versioned else None)
        rec.tables[table] = compare(table, expected, actual)
    return rec


def _col_index(table: str, name: str) -> int:
    return [c.name for c in table_spec(table)[0]].index(name)


def _in_window(ts: Any, window: Window | None) -> bool:
    if window is None:
        return True
    lo, hi = (canonical(w, "TIMESTAMPTZ") for w in window)
    return isinstance(ts, datetime) and lo <= ts < hi


def ground_truth(
    admin: Any, *, day: int | None = None, window: Window | None = None, only: Iterable[str] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Ground truth per table from the sandbox admin (access_logs only with a window)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for table in only or ANSWER_KEY:
        versioned = table_spec(table)[2]
        if versioned:
            out[table] = list(admin.ground_truth(day=day, table=table))
        elif window is not None:
            out[table] = list(admin.ground_truth(day=day, table=table, from_=window[0], to=window[1]))
    return out


def reconcile_sandbox(
    warehouse: str | Path | duckdb.DuckDBPyConnection,
    admin: Any,
    *,
    day: int | None = None,
    as_of: datetime | None = None,
    window: Window | None = None,
    only: Iterable[str] | None = None,
) -> Reconciliation:
    """`reconcile` against ``admin.ground_truth(day=day)``; a path is opened read-only."""
    only = list(only) if only is not None else None
    truth = ground_truth(admin, day=day, window=window, only=only)
    if isinstance(warehouse, duckdb.DuckDBPyConnection):
        return reconcile(warehouse, truth, as_of=as_of, window=window, only=only and list(truth))
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return reconcile(con, truth, as_of=as_of, window=window, only=only and list(truth))
    finally:
        con.close()


# ------------------------------------------------------------------ whole-file snapshots


def column_names(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    """A table's columns, in order, as the file's catalog lists them."""
    return [
        c
        for (c,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
            "AND table_name = ? ORDER BY ordinal_position",
            [schema, table],
        ).fetchall()
    ]


def snapshot_tables(
    path: str | Path, *, exclude_columns: Mapping[str, Iterable[str]] | None = None
) -> dict[str, Counter]:
    """Every base table of a warehouse file (all schemas) as a multiset of rows.

    ``exclude_columns`` maps "schema.table" (or "*") to columns left out, for values that
    legitimately differ between the two sides being compared.
    """
    exclude_columns = exclude_columns or {}
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        names = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY 1, 2"
        ).fetchall()
        out: dict[str, Counter] = {}
        for schema, table in names:
            full = f"{schema}.{table}"
            skip = set(exclude_columns.get(full, ())) | set(exclude_columns.get("*", ()))
            cols = [c for c in column_names(con, schema, table) if c not in skip]
            sel = ", ".join(f"{_q(c)}::VARCHAR" for c in cols) or "1"
            rows = con.execute(f"SELECT {sel} FROM {_q(schema)}.{_q(table)}").fetchall()
            out[full] = Counter(rows)
        return out
    finally:
        con.close()


def snapshot_diff(before: Mapping[str, Counter], after: Mapping[str, Counter]) -> list[str]:
    """Human-readable differences between two `snapshot_tables` results ([] = identical)."""
    out = []
    for name in sorted(set(before) | set(after)):
        b, a = before.get(name), after.get(name)
        if b is None or a is None:
            out.append(f"{name}: {'added' if b is None else 'removed'}")
            continue
        gone, new = b - a, a - b
        if gone or new:
            out.append(
                f"{name}: {sum(gone.values())} row(s) gone e.g. {list(gone)[:2]}, "
                f"{sum(new.values())} new e.g. {list(new)[:2]}"
            )
    return out
