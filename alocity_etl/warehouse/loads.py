"""One resource load: its pages (or frames) written to every table of the resource.

Shared by live writes (`Warehouse.apply`) and replays from ``raw.pages`` (`rebuild`), so
both derive the tables the same way. The caller holds the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from alocity_etl.catalog import WriteMode, resource, tables
from alocity_etl.normalise import assemble, normalise
from alocity_etl.warehouse import ledger
from alocity_etl.warehouse.events import append_events
from alocity_etl.warehouse.versioned_tables import MergeStats, merge_versioned

Window = tuple[datetime, datetime]


def load_resource(
    con: duckdb.DuckDBPyConnection,
    res_name: str,
    pages: Sequence[dict[str, Any]],
    frames: Mapping[str, pd.DataFrame] | None,
    sync_id: int,
    as_of: datetime,
    full_snapshot: bool,
    window: Window | None,
) -> dict[str, MergeStats]:
    """Write one resource's tables from ``frames`` (or, when None, from its pages)."""
    res = resource(res_name)
    if frames is None:
        frames = normalise(res, batches=assemble(res, pages))
    unknown = set(frames) - {t for t, (r, _) in tables().items() if r.name == res.name}
    if unknown:
        raise ValueError(f"{res.name}: frames for tables outside the resource: {sorted(unknown)}")
    out: dict[str, MergeStats] = {}
    for table, df in frames.items():
        if res.write_mode == WriteMode.APPEND:
            stats = append_events(con, table, df, sync_id, window, loaded_at=as_of)
        else:
            stats = merge_versioned(con, table, df, sync_id, as_of, full_snapshot)
        ledger.record_table_sync(con, sync_id, table, stats, window)
        out[table] = stats
    return out
