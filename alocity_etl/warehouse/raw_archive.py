"""``raw.pages``: every fetched page payload, enough to rebuild every table offline.

Stored as ``raw.page_meta`` (one row per page) and ``raw.page_parts`` (its compressed
payload in parts of at most PART_BYTES, see migration 0006); ``raw.pages`` is the view
joining them back, one row per page with the whole ``body_z``.

A page is a dict with keys:
  ``body`` (required: the envelope's payload, never headers or tokens; stored as
  zlib-compressed JSON in ``body_z``, see `encode_body`; a page may carry its ``body_z``
  already, encoded where it was fetched),
  ``endpoint`` (catalog.ENDPOINTS key; defaults to the resource's list endpoint),
  ``parent_key`` (fan-out parent value, e.g. the groupId; for detail calls the item key),
  ``params`` (query parameters dict), ``page_number``, ``fetched_at``,
  ``window`` = (start, end) or ``window_start`` / ``window_end`` (access-log partitions).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb
import orjson
import pandas as pd
import pyarrow as pa

from alocity_etl.catalog import resource as catalog_resource
from alocity_etl.warehouse.sql import register

COLUMNS = (
    "sync_id", "load_seq", "page_seq", "resource", "endpoint", "parent_key", "params",
    "page_number", "window_start", "window_end", "fetched_at",
)  # fmt: skip
# Parts this small stay inline in DuckDB's string segments, and ROW_GROUP_ROWS of them make
# a row group of ~8 MB: what a checkpoint rewrites after each commit (migration 0006).
PART_BYTES = 512


def encode_body(body: Any) -> bytes:
    """A payload as stored: compact JSON (orjson), zlib level 1 (fast; ~13x smaller than text)."""
    try:
        text = orjson.dumps(body, default=str)
    except TypeError:  # e.g. an integer beyond 64 bits: the standard library takes anything
        text = json.dumps(body, separators=(",", ":"), default=str).encode()
    # A window no larger than the payload: zlib's default 32 KB window and 128 KB hash table
    # cost ~70 us to set up, several times the compression of a one-row detail payload.
    # Any zlib reader (decompress's default wbits=15) reads a smaller window.
    wbits = min(15, max(9, len(text).bit_length()))
    packer = zlib.compressobj(1, zlib.DEFLATED, wbits, min(8, max(1, wbits - 7)))
    return packer.compress(text) + packer.flush()


def decode_body(body_z: bytes | None, body: str | None = None) -> Any:
    """The payload of a stored page (``body`` holds pages written before migration 0005)."""
    if body_z is not None:  # the standard library: orjson would read a huge integer as a float
        return json.loads(zlib.decompress(body_z))
    return json.loads(body) if body is not None else None


def body_text(body_z: bytes | None) -> str | None:
    """``raw_json(body_z)`` for ad-hoc SQL: the stored payload as JSON text."""
    return None if body_z is None else zlib.decompress(body_z).decode()


def _window(p: dict[str, Any]) -> tuple[Any, Any]:
    if p.get("window"):
        return tuple(p["window"])  # type: ignore[return-value]
    return p.get("window_start"), p.get("window_end")


def _ts(v: Any) -> pd.Timestamp | None:
    return (
        None
        if v is None
        else pd.Timestamp(v).tz_localize("UTC")
        if pd.Timestamp(v).tzinfo is None
        else pd.Timestamp(v).tz_convert("UTC")
    )


def archive_pages(
    con: duckdb.DuckDBPyConnection,
    resource: str,
    pages: Sequence[dict[str, Any]],
    sync_id: int,
    load_seq: int,
) -> int:
    """Bulk-insert the pages of one resource load (in fetch order). Returns the count."""
    if not pages:
        return 0
    default_endpoint = catalog_resource(resource).endpoint
    rows: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    parts: dict[str, list[Any]] = {"page_seq": [], "part": [], "chunk": []}
    for i, p in enumerate(pages):
        if "body" not in p:
            raise ValueError(f"raw page {i} of {resource} has no 'body' (the payload)")
        ws, we = _window(p)
        rows["sync_id"].append(sync_id)
        rows["load_seq"].append(load_seq)
        rows["page_seq"].append(i)
        rows["resource"].append(p.get("resource", resource))
        rows["endpoint"].append(p.get("endpoint") or default_endpoint)
        pk = p.get("parent_key")
        rows["parent_key"].append(None if pk is None else json.dumps(pk, default=str))
        rows["params"].append(json.dumps(p.get("params") or {}, sort_keys=True, default=str))
        rows["page_number"].append(p.get("page_number"))
        rows["window_start"].append(_ts(ws))
        rows["window_end"].append(_ts(we))
        rows["fetched_at"].append(_ts(p.get("fetched_at")))
        body_z = p.get("body_z") or encode_body(p["body"])
        for k in range(0, max(len(body_z), 1), PART_BYTES):
            parts["page_seq"].append(i)
            parts["part"].append(k // PART_BYTES)
            parts["chunk"].append(body_z[k : k + PART_BYTES])
    ts = pa.timestamp("us", tz="UTC")
    schema = pa.schema([
        ("sync_id", pa.int64()), ("load_seq", pa.int64()), ("page_seq", pa.int32()),
        ("resource", pa.string()), ("endpoint", pa.string()), ("parent_key", pa.string()),
        ("params", pa.string()), ("page_number", pa.int32()), ("window_start", ts),
        ("window_end", ts), ("fetched_at", ts),
    ])  # fmt: skip
    part_table = pa.table({
        "load_seq": pa.array([load_seq] * len(parts["page_seq"]), pa.int64()),
        "page_seq": pa.array(parts["page_seq"], pa.int32()),
        "part": pa.array(parts["part"], pa.int32()),
        "chunk": pa.array(parts["chunk"], pa.binary()),
    })  # fmt: skip
    cols = ", ".join(COLUMNS)
    for name, arrow, sql in (
        ("_raw_pages_in", pa.Table.from_pydict(rows, schema=schema),
         f"INSERT INTO raw.page_meta ({cols}) SELECT {cols} FROM _raw_pages_in"),
        ("_raw_parts_in", part_table, "INSERT INTO raw.page_parts SELECT * FROM _raw_parts_in"),
    ):  # fmt: skip
        register(con, name, arrow)
        try:
            con.execute(sql)
        finally:
            con.unregister(name)
    return len(pages)


def load_pages(con: duckdb.DuckDBPyConnection, load_seq: int) -> list[dict[str, Any]]:
    """The pages of one load, in fetch order, as dicts shaped like `archive_pages` input."""
    rows = con.execute(
        "SELECT page_seq, resource, endpoint, parent_key, params, page_number, window_start, "
        "window_end, fetched_at, body, body_z FROM raw.page_meta WHERE load_seq = ? ORDER BY page_seq",
        [load_seq],
    ).fetchall()
    chunks: dict[int, list[bytes]] = {}
    for seq, chunk in con.execute(
        "SELECT page_seq, chunk FROM raw.page_parts WHERE load_seq = ? ORDER BY page_seq, part", [load_seq]
    ).fetchall():
        chunks.setdefault(seq, []).append(chunk)
    out = []
    for seq, res, ep, pk, params, num, ws, we, fetched, body, body_z in rows:
        if body_z is None and seq in chunks:  # pages before migration 0006 keep body_z whole
            body_z = b"".join(chunks[seq])
        out.append({
            "resource": res, "endpoint": ep,
            "parent_key": None if pk is None else json.loads(pk),
            "params": json.loads(params) if params else {}, "page_number": num,
            "window_start": ws, "window_end": we, "fetched_at": fetched,
            "body": decode_body(body_z, body),
        })  # fmt: skip
    return out


def window_of(pages: Sequence[dict[str, Any]]) -> tuple[datetime, datetime] | None:
    """Overall (min start, max end) of the pages' windows, or None."""
    starts = [w[0] for p in pages if (w := _window(p))[0] is not None]
    ends = [w[1] for p in pages if (w := _window(p))[1] is not None]
    if not starts or not ends:
        return None
    return min(_ts(s) for s in starts).to_pydatetime(), max(_ts(e) for e in ends).to_pydatetime()  # type: ignore[union-attr]
