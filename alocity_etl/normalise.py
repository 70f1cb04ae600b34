"""Wire items (JSON dicts) -> typed pandas DataFrames, one per warehouse table.

`normalise(resource, items)` returns ``{table_name: DataFrame}``: the resource's own table
plus one frame per `ChildTable` (nested lists such as a user's ``cards``). Each frame
carries its warehouse types in ``df.attrs["alocity"]`` (see `FrameMeta`); the warehouse
reads them instead of guessing from pandas dtypes.

Rules (why, briefly):

* wire field -> `Column.name` (snake case). A snake name that collides with a warehouse
  bookkeeping column (``valid_from``, ``sync_id``...; cloud keys have ``validFrom``) is
  prefixed with the singular table name (``cloud_key_valid_from``) so both can coexist.
* DateTime -> tz-aware UTC ``datetime64[us, UTC]``: ``...Z``, offsets, no zone (= UTC),
  with or without fractional seconds (beyond microseconds is truncated: DuckDB's precision).
* Guid -> lowercase canonical ``8-4-4-4-12`` text (braces / no hyphens accepted); stored
  as DuckDB ``UUID``.
* Unknown wire fields are kept: new snake-cased column, type inferred (int -> BIGINT,
  float -> DOUBLE, bool -> BOOLEAN, ISO date-time text -> TIMESTAMPTZ, other text ->
  VARCHAR, lists/dicts -> canonical JSON text with sorted keys).
* A catalog column absent from every item is NULL and listed in ``meta.missing``.
* Type mismatch (``"12"`` or ``"abc"`` where INTEGER is declared, a bad Guid, an
  unparseable date): nothing is dropped or coerced. The whole column is emitted as
  VARCHAR for this batch (each value as text, formatted the way DuckDB casts the typed
  value, so a later widening of the stored column gives identical text), and
  ``meta.widened[col] = (catalog_type, "VARCHAR")``. The warehouse then widens the
  stored column to VARCHAR and records a ``type_changed`` row. Integers out of INTEGER
  range widen to BIGINT instead.
* Empty strings stay ``""``; JSON null / absent stays NULL (``None``).
* ``access_logs`` gets ``result_label`` from `ACCESS_RESULT_LABELS` ("Unknown (n)" for a
  code the docs do not list, NULL when ``result`` is NULL).

Work is per column (pandas/NumPy vectorised); per-value Python runs only on the rare
columns that hold JSON objects or values that do not fit their type.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from alocity_etl.catalog import ACCESS_RESULT_LABELS, ChildTable, Column, Resource, resource, snake

# Bookkeeping columns the warehouse adds; source columns must not use these names.
RESERVED_COLUMNS = frozenset(
    {"valid_from", "valid_to", "is_current", "is_deleted", "row_hash", "sync_id", "loaded_at"}
)

# Derived label columns: table -> (source column, label column, labels).
LABELS: dict[str, tuple[str, str, dict[int, str]]] = {
    "access_logs": ("result", "result_label", ACCESS_RESULT_LABELS),
}

INT_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}
_INT32 = (-(2**31), 2**31 - 1)
_UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_ISO_DT_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"

Batch = tuple[Any, Sequence[dict[str, Any]]]


@dataclass
class FrameMeta:
    """What the warehouse needs to know about a normalised frame (kept in df.attrs)."""

    table: str
    types: dict[str, str] = field(default_factory=dict)  # column -> DuckDB type
    missing: list[str] = field(default_factory=list)  # catalog columns absent from every item
    widened: dict[str, tuple[str, str]] = field(default_factory=dict)  # col -> (catalog, new)
    json_columns: list[str] = field(default_factory=list)  # VARCHAR columns holding JSON text
    added: list[str] = field(default_factory=list)  # columns from unknown wire fields


def frame_meta(df: pd.DataFrame) -> FrameMeta | None:
    """The `FrameMeta` of a frame made by `normalise`, or None for a hand-made frame."""
    meta = df.attrs.get("alocity")
    return meta if isinstance(meta, FrameMeta) else None


def warehouse_name(table: str, col: Column) -> str:
    """Warehouse column name of a catalog column, avoiding the bookkeeping names."""
    return _safe_name(table, col.name)


def _safe_name(table: str, name: str) -> str:
    if name in RESERVED_COLUMNS:
        singular = table[:-1] if table.endswith("s") else table
        return f"{singular}_{name}"
    return name


def parent_link(res: Resource, child: ChildTable) -> list[tuple[str, str]]:
    """(child column, parent wire field) pairs that tie a child row to its parent row.

    Explicit `ChildTable.parent_columns` win; otherwise the parent's single key is carried
    as ``<singular parent>_<key>`` (users.id -> cards.user_id, schedules.id ->
    cron_schedules.schedule_id), filling the child's own field when the API left it null.
    """
    if child.parent_columns:
        return [(c.name, c.wire) for c in child.parent_columns]
    (pk,) = res.primary_key
    wire = next(c.wire for c in res.columns if c.name == pk)
    singular = res.name[:-1] if res.name.endswith("s") else res.name
    return [(f"{singular}_{pk}", wire)]


def table_columns(table: str) -> list[tuple[str, str]]:
    """(column, DuckDB type) of a catalog table's source columns, in warehouse order."""
    from alocity_etl.catalog import tables

    res, child = tables()[table]
    out: list[tuple[str, str]] = []
    if child is None:
        if res.fan_out and res.fan_out.carry_as:
            out.append((res.fan_out.carry_as.name, res.fan_out.carry_as.type))
        out += [(warehouse_name(table, c), c.type) for c in res.columns]
        if table in LABELS:
            out.append((LABELS[table][1], "VARCHAR"))
    else:
        names = {warehouse_name(table, c) for c in child.columns}
        parent_types = {c.name: c.type for c in res.columns}
        for name, wire in parent_link(res, child):
            if name not in names:
                wire_col = next(c for c in res.columns if c.wire == wire)
                out.append((name, parent_types[wire_col.name]))
        out += [(warehouse_name(table, c), c.type) for c in child.columns]
    return out


def normalise(
    res: Resource | str,
    items: Iterable[dict[str, Any]] | None = None,
    *,
    batches: Sequence[Batch] | None = None,
) -> dict[str, pd.DataFrame]:
    """Normalise one resource's items into ``{table: DataFrame}`` (main table + children).

    Pass either ``items`` (a flat list of wire dicts) or, for a fan-out resource,
    ``batches=[(parent_value, items_of_that_call), ...]``: the parent value fills the
    fan-out ``carry_as`` column (e.g. ``group_id`` on group_members) of every item of
    that call, overriding any value in the item itself (the call is authoritative).
    """
    res = resource(res) if isinstance(res, str) else res
    if batches is None:
        records = list(items or [])
        parents: list[Any] | None = None
    else:
        records = [it for _, its in batches for it in its]
        parents = [p for p, its in batches for _ in its]
    records = [r for r in records if isinstance(r, dict)]
    if parents is not None and len(parents) != len(records):  # non-dict items were dropped
        records, parents = [], []
        for p, its in batches or []:
            for it in its:
                if isinstance(it, dict):
                    records.append(it)
                    parents.append(p)

    raw = pd.DataFrame(records, dtype=object) if records else pd.DataFrame()
    raw = raw.astype(object) if len(raw.columns) else raw

    child_fields = {c.field for c in res.children}
    carry = res.fan_out.carry_as if res.fan_out else None
    prefix: list[tuple[Column, pd.Series]] = []
    if carry is not None:
        if parents is not None:
            prefix.append((carry, pd.Series(parents, index=raw.index, dtype=object)))
        elif carry.wire in raw.columns:
            prefix.append((carry, raw[carry.wire]))
        else:
            prefix.append((carry, pd.Series([None] * len(raw), index=raw.index, dtype=object)))
    skip = set(child_fields) | ({carry.wire} if carry else set()) | set(res.not_stored)
    out = {res.name: _build(res.name, res.columns, raw, prefix=prefix, skip=skip, n=len(records))}

    for child in res.children:
        out[child.name] = _children(res, child, raw)
    return out


def _children(res: Resource, child: ChildTable, raw: pd.DataFrame) -> pd.DataFrame:
    links = parent_link(res, child)
    link_wires = [w for _, w in links]
    if child.field in raw.columns:
        cols = [w for w in link_wires if w in raw.columns]
        ex = raw[[*cols, child.field]].explode(child.field)
        ex = ex[ex[child.field].map(lambda v: isinstance(v, dict))]
        sub = pd.DataFrame(ex[child.field].tolist(), dtype=object) if len(ex) else pd.DataFrame()
        sub = sub.astype(object) if len(sub.columns) else sub
        sub.index = range(len(sub))
        parent_vals = {w: ex[w].reset_index(drop=True) for w in cols}
    else:
        sub, parent_vals = pd.DataFrame(), {}
    n = len(sub)
    by_name = {warehouse_name(child.name, c): c for c in child.columns}
    prefix: list[tuple[Column, pd.Series]] = []
    for name, wire in links:
        pv = parent_vals.get(wire, pd.Series([None] * n, dtype=object))
        pcol = next(c for c in res.columns if c.wire == wire)
        if name in by_name:  # the child has its own field: fill its nulls from the parent
            ccol = by_name[name]
            own = sub[ccol.wire] if ccol.wire in sub.columns else pd.Series([None] * n, dtype=object)
            sub[ccol.wire] = own.where(own.notna(), pv)
        else:
            prefix.append((Column(pcol.wire, pcol.type, pcol.description, name=name), pv))
    return _build(child.name, child.columns, sub, prefix=prefix, skip=set(), n=n)


def _build(
    table: str,
    columns: Sequence[Column],
    raw: pd.DataFrame,
    *,
    prefix: list[tuple[Column, pd.Series]],
    skip: set[str],
    n: int,
) -> pd.DataFrame:
    meta = FrameMeta(table=table)
    data: dict[str, pd.Series] = {}
    index = pd.RangeIndex(n)

    def put(name: str, series: pd.Series, declared: str, typ: str | None, catalog: bool) -> None:
        conv, typ2, is_json = _convert(series.reset_index(drop=True), declared)
        data[name] = conv
        meta.types[name] = typ2
        if is_json:
            meta.json_columns.append(name)
        if catalog and typ2 != declared:
            meta.widened[name] = (declared, typ2)

    for col, series in prefix:
        put(col.name, series, col.type, col.type, True)
    known_wires = set(skip) | {c.wire for c, _ in prefix}
    for col in columns:
        known_wires.add(col.wire)
        name = warehouse_name(table, col)
        if col.wire in raw.columns:
            put(name, raw[col.wire], col.type, col.type, True)
        else:
            if n:
                meta.missing.append(name)
            data[name] = _nulls(col.type, n)
            meta.types[name] = col.type
    if table in LABELS:
        src, label, labels = LABELS[table]
        data[label] = _labels(data[src], labels)
        meta.types[label] = "VARCHAR"
    for wire in raw.columns:
        if wire in known_wires:
            continue
        name = _safe_name(table, snake(str(wire)))
        while name in data:  # two wire names with one snake form: keep both
            name += "_"
        conv, typ, is_json = _infer(raw[wire].reset_index(drop=True))
        data[name] = conv
        meta.types[name] = typ
        meta.added.append(name)
        if is_json:
            meta.json_columns.append(name)
    df = pd.DataFrame(data, index=index)
    df.attrs["alocity"] = meta
    return df


# ---------------------------------------------------------------- conversions


def _nulls(typ: str, n: int) -> pd.Series:
    if typ in INT_TYPES:
        return pd.Series(pd.array([None] * n, dtype="Int64"))
    if typ == "BOOLEAN":
        return pd.Series(pd.array([None] * n, dtype="boolean"))
    if typ == "DOUBLE":
        return pd.Series(pd.array([None] * n, dtype="Float64"))
    if typ == "TIMESTAMPTZ":
        return pd.Series(pd.NaT, index=range(n), dtype="datetime64[us, UTC]")
    return pd.Series([None] * n, dtype=object)


def _isnull(s: pd.Series) -> np.ndarray:
    return s.isna().to_numpy()


def _object(s: pd.Series) -> pd.Series:
    """Object series with None (not NaN) for nulls."""
    s = s.astype(object)
    return s.where(~_isnull(s), None)


def _convert(s: pd.Series, typ: str) -> tuple[pd.Series, str, bool]:
    """(converted series, DuckDB type actually used, holds JSON text)."""
    kind = infer_dtype(s, skipna=True)
    if kind == "empty":
        return _nulls(typ, len(s)), typ, False
    if typ in INT_TYPES:
        if kind == "integer" or (kind in ("floating", "mixed-integer-float") and _integral(s)):
            try:
                if kind == "integer":
                    arr = pd.array(_object(s).tolist(), dtype="Int64")
                else:  # integral floats such as 12.0
                    arr = pd.array(pd.to_numeric(_object(s)), dtype="Float64").astype("Int64")
            except (OverflowError, TypeError, ValueError):
                return _as_text(s), "VARCHAR", False
            if typ == "INTEGER":
                lo, hi = arr.min(skipna=True), arr.max(skipna=True)
                if lo < _INT32[0] or hi > _INT32[1]:
                    return pd.Series(arr), "BIGINT", False
            return pd.Series(arr), typ, False
        return _as_text(s), "VARCHAR", False
    if typ == "DOUBLE":
        if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
            return pd.Series(pd.array(_object(s).tolist(), dtype="Float64")), typ, False
        return _as_text(s), "VARCHAR", False
    if typ == "BOOLEAN":
        if kind == "boolean":
            return pd.Series(pd.array(_object(s).tolist(), dtype="boolean")), typ, False
        return _as_text(s), "VARCHAR", False
    if typ == "TIMESTAMPTZ":
        if kind in ("string", "datetime"):
            ts, ok = _parse_datetimes(s)
            if ok:
                return ts, typ, False
        return _as_text(s), "VARCHAR", False
    if typ == "UUID":
        if kind == "string":
            g = _canonical_guids(s)
            bad = g.notna() & ~g.str.match(_UUID_RE, na=False).astype(bool)
            if not bad.any():
                return _object(g), typ, False
            return _object(g.where(~bad, s)), "VARCHAR", False
        return _as_text(s), "VARCHAR", False
    # VARCHAR and anything else: text, JSON for nested values.
    if kind == "string":
        return _object(s), typ, False
    return _as_text(s), typ, _has_nested(s)


def _integral(s: pd.Series) -> bool:
    vals = pd.to_numeric(_object(s), errors="coerce")
    vals = vals[vals.notna()]
    return bool(np.all(np.isfinite(vals)) and np.all(np.floor(vals) == vals))


def _labels(result: pd.Series, labels: dict[int, str]) -> pd.Series:
    # Vectorised: map the few distinct codes, not every row. A non-numeric result (widened
    # to text) gets no label rather than a wrong one.
    codes = pd.Series(pd.to_numeric(_object(result), errors="coerce"), dtype="Float64")
    distinct = {c: labels.get(int(c), f"Unknown ({int(c)})") for c in codes.dropna().unique()}
    out = codes.map(distinct).astype(object)
    return out.where(codes.notna().to_numpy(), None)


def _canonical_guids(s: pd.Series) -> pd.Series:
    g = pd.Series(_object(s), dtype="string").str.strip().str.lower().str.strip("{}")
    plain = g.str.match(r"^[0-9a-f]{32}$", na=False).astype(bool)
    if plain.any():
        p = g[plain]
        g[plain] = p.str[:8] + "-" + p.str[8:12] + "-" + p.str[12:16] + "-" + p.str[16:20] + "-" + p.str[20:]
    return g


def _parse_datetimes(s: pd.Series) -> tuple[pd.Series, bool]:
    """Parse ISO-8601 text to UTC microseconds; naive = UTC. ok=False if any value fails."""
    obj = _object(s)
    notnull = obj.notna()
    if not notnull.any():
        return _nulls("TIMESTAMPTZ", len(s)), True
    parsed = pd.to_datetime(obj, utc=True, format="ISO8601", errors="coerce")
    parsed = parsed.dt.as_unit("us")
    failed = notnull & parsed.isna()
    if failed.any():
        # Outside pandas' fast range (e.g. .NET's 0001-01-01): parse those few one by one.
        vals: list[Any] = list(parsed.astype(object).where(parsed.notna(), None))
        for i in np.flatnonzero(failed.to_numpy()):
            dt = _parse_one(obj.iloc[i])
            if dt is None:
                return parsed, False
            vals[i] = dt
        try:
            parsed = pd.Series(pd.array(vals, dtype="datetime64[us, UTC]"))
        except (OverflowError, ValueError, TypeError):
            return parsed, False
    return parsed.reset_index(drop=True), True


def _parse_one(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    if not isinstance(v, str):
        return None
    txt = v.strip()
    m = re.match(r"^(.*T\d{2}:\d{2}:\d{2})\.(\d+)(.*)$", txt)
    if m:  # Python parses at most 6 fractional digits
        txt = f"{m.group(1)}.{m.group(2)[:6].ljust(6, '0')}{m.group(3)}"
    try:
        dt = datetime.fromisoformat(txt)
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _has_nested(s: pd.Series) -> bool:
    return bool(s.map(lambda v: isinstance(v, (list, dict))).any())


def canonical_json(v: Any, *, sort_lists: bool = False) -> str:
    """Compact JSON with sorted keys; with sort_lists, list order is ignored too (hashing)."""
    if sort_lists:
        v = _sorted_lists(v)
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _sorted_lists(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _sorted_lists(x) for k, x in v.items()}
    if isinstance(v, list):
        items = [_sorted_lists(x) for x in v]
        return sorted(items, key=lambda x: json.dumps(x, sort_keys=True, default=str))
    return v


def _text(v: Any) -> Any:
    """One value as text, formatted as DuckDB casts the typed value to VARCHAR."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, dict)):
        return canonical_json(v)
    if isinstance(v, datetime):
        return _duck_ts_text(v)
    return str(v)


def _duck_ts_text(dt: datetime) -> str:
    dt = dt.astimezone(UTC) if dt.tzinfo else dt
    txt = dt.strftime("%Y-%m-%d %H:%M:%S")
    if dt.microsecond:
        txt += f".{dt.microsecond:06d}".rstrip("0")
    return txt + "+00"


def _as_text(s: pd.Series) -> pd.Series:
    """Mismatched values keep their exact wire text; values that do fit the catalog type
    are rendered the way DuckDB casts them, so widening the stored column agrees."""
    obj = _object(s)
    out = obj.map(_text)
    strs = obj.map(lambda v: isinstance(v, str))
    if strs.any():
        # Guids in canonical form, parseable date-times in DuckDB's text form.
        g = _canonical_guids(obj[strs])
        is_guid = g.str.match(_UUID_RE, na=False).astype(bool)
        out[strs & is_guid.reindex(obj.index, fill_value=False)] = g[is_guid]
        dts = obj[strs][obj[strs].str.match(_ISO_DT_RE, na=False).astype(bool)]
        for i, v in dts.items():
            dt = _parse_one(v)
            if dt is not None:
                out[i] = _duck_ts_text(dt)
    return _object(out)


def _infer(s: pd.Series) -> tuple[pd.Series, str, bool]:
    """Type of an unknown wire field, from its values."""
    kind = infer_dtype(s, skipna=True)
    if kind == "empty":
        return _nulls("VARCHAR", len(s)), "VARCHAR", False
    if kind == "integer":
        return _convert(s, "BIGINT")
    if kind in ("floating", "mixed-integer-float"):
        return _convert(s, "DOUBLE")
    if kind == "boolean":
        return _convert(s, "BOOLEAN")
    if kind == "string":
        if bool(_object(s).dropna().str.match(_ISO_DT_RE).all()):
            ts, ok = _parse_datetimes(s)
            if ok:
                return ts, "TIMESTAMPTZ", False
        return _object(s), "VARCHAR", False
    return _as_text(s), "VARCHAR", _has_nested(s)


# ---------------------------------------------------------------- raw pages -> items


def page_items(body: Any) -> list[dict[str, Any]]:
    """Items of one page payload: a list of objects, or one object (single-object calls)."""
    if isinstance(body, list):
        return [x for x in body if isinstance(x, dict)]
    if isinstance(body, dict):
        return [body]
    return []


def assemble(res: Resource | str, pages: Sequence[dict[str, Any]]) -> list[Batch]:
    """Turn the archived pages of one resource load into `normalise(batches=...)` input.

    The one place that decides what gets normalised, used by syncs and by rebuild alike:
    list pages (endpoint = resource.endpoint) in order, grouped by ``parent_key`` for
    fan-out resources; when the resource has a detail endpoint, each listed item is
    replaced by its detail page (matched on ``detail_key``; the detail page's
    ``parent_key`` is the item's key value). A listed item without a detail page is kept
    as listed; when only detail pages were archived, they are the items, in order.
    Pages must be in fetch order.
    """
    res = resource(res) if isinstance(res, str) else res
    details: dict[str, dict[str, Any]] = {}
    detail_order: list[dict[str, Any]] = []
    if res.detail_endpoint:
        for p in pages:
            if p.get("endpoint") == res.detail_endpoint:
                for body in page_items(p.get("body")):  # an object, or [object]
                    key = p.get("parent_key")
                    if key is None and res.detail_key:
                        key = body.get(res.detail_key[0])
                    details[_key_text(key)] = body
                    detail_order.append(body)
    if detail_order and not any(p.get("endpoint", res.endpoint) == res.endpoint for p in pages):
        # Only detail pages were archived (the client already replaced each listed item).
        return [(None, detail_order)]
    batches: list[Batch] = []
    index: dict[str, int] = {}
    for p in pages:
        if p.get("endpoint", res.endpoint) != res.endpoint:
            continue
        items = page_items(p.get("body"))
        if details and res.detail_key:
            field_name = res.detail_key[0]
            items = [details.get(_key_text(it.get(field_name)), it) for it in items]
        parent = p.get("parent_key") if res.fan_out else None
        k = _key_text(parent)
        if k not in index:
            index[k] = len(batches)
            batches.append((parent, []))
        batches[index[k]][1].extend(items)  # type: ignore[union-attr]
    return batches


def _key_text(v: Any) -> str:
    return "" if v is None else str(v).strip().lower()
