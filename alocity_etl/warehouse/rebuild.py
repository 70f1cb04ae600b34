"""Re-derive every catalog table from ``raw.pages`` alone (no API calls).

Each load in ``meta.resource_loads`` is replayed in ``load_seq`` order: its pages ->
`normalise.assemble` -> `normalise` -> merge/append with the load's own sync_id, as_of
and full_snapshot flag. Because syncs go through the same path (`Warehouse.apply_pages`),
the result equals the tables built during the syncs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alocity_etl.catalog import tables
from alocity_etl.warehouse import raw_archive
from alocity_etl.warehouse.schema import ensure_catalog_tables, is_versioned, q

if TYPE_CHECKING:
    from alocity_etl.warehouse import Warehouse


def rebuild_tables(wh: Warehouse) -> dict[str, int]:
    """Drop and re-derive every catalog table in one transaction. Returns {table: rows}
    (versioned tables: current live rows; events: all rows)."""
    from alocity_etl.warehouse import _load

    con = wh.con
    loads = con.execute(
        "SELECT load_seq, sync_id, resource, as_of, full_snapshot FROM meta.resource_loads ORDER BY load_seq"
    ).fetchall()
    # A load written from caller-made frames with no archived page cannot be re-derived:
    # refuse rather than silently drop its rows.
    lost = con.execute(
        "SELECT l.load_seq, l.resource FROM meta.resource_loads l WHERE l.frames_supplied "
        "AND NOT EXISTS (SELECT 1 FROM raw.page_meta p WHERE p.load_seq = l.load_seq) ORDER BY 1"
    ).fetchall()
    if lost:
        from alocity_etl.warehouse.connection import WarehouseError

        seqs = ", ".join(f"{s} ({r})" for s, r in lost[:5])
        raise WarehouseError(f"cannot rebuild: loads {seqs} were written from frames with no raw pages")
    con.begin()
    try:
        for table in tables():
            if is_versioned(table):
                con.execute(f"DROP VIEW IF EXISTS main.{q(table)}")
                con.execute(f"DROP MACRO TABLE IF EXISTS history.{q(table + '_as_of')}")
                con.execute(f"DROP TABLE IF EXISTS history.{q(table)}")
            else:
                con.execute(f"DROP TABLE IF EXISTS main.{q(table)}")
        con.execute("DELETE FROM meta.schema_changes WHERE sync_id IS NOT NULL")
        con.execute("DELETE FROM meta.table_syncs")
        ensure_catalog_tables(con)
        for seq, sync_id, res, as_of, full in loads:
            pages = raw_archive.load_pages(con, seq)
            _load(con, res, pages, None, sync_id, as_of, full, raw_archive.window_of(pages))
        con.commit()
    except Exception:
        con.rollback()
        raise
    counts: dict[str, int] = {}
    for table in tables():
        row = con.execute(f"SELECT count(*) FROM main.{q(table)}").fetchall()[0]
        counts[table] = int(row[0]) if row else 0
    return counts
