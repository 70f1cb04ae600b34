"""Write hand-made frames to a warehouse, as if a resource had been loaded (tests only).

The product always writes from archived pages (`Warehouse.apply_pages`), which rebuild
can replay; tests that build a warehouse of a precise shape (quality rules, drift) write
frames directly through the same load path, in one transaction, with no page archived.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pandas as pd

from alocity_etl.warehouse import MergeStats, Warehouse, ledger
from alocity_etl.warehouse.loads import load_resource


def write_frames(
    wh: Warehouse,
    resource: str,
    frames: Mapping[str, pd.DataFrame],
    sync_id: int,
    as_of: datetime,
    *,
    full_snapshot: bool = True,
    window: tuple[datetime, datetime] | None = None,
) -> dict[str, MergeStats]:
    wh.con.begin()
    try:
        ledger.next_load(wh.con, sync_id, resource, as_of, full_snapshot, window)
        out = load_resource(wh.con, resource, [], frames, sync_id, as_of, full_snapshot, window)
        wh.con.commit()
    except BaseException:
        wh.con.rollback()
        raise
    return out
