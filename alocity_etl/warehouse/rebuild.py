"""Re-derive catalog tables from ``raw.pages`` alone (no API calls).

Each load in ``meta.resource_loads`` is replayed in ``load_seq`` order: its pages ->
`normalise.assemble` -> `normalise` -> merge/append with the load's own sync_id, as_of
and full_snapshot flag. Because syncs go through the same path (`loads.load_resource`),
the result equals the tables built during the syncs. A migration that changes how a
table is derived replays that table's loads the same way (`migrations`, ``-- rederive:``).
"""

from __future__ import annotations

from collections.abc import Collection

import duckdb

from alocity_etl.catalog import tables
from alocity_etl.warehouse import raw_archive
from alocity_etl.warehouse.layout import ensure_catalog_tables, is_versioned
from alocity_etl.warehouse.loads import load_resource
from alocity_etl.warehouse.sql import q


def drop_tables(con: duckdb.DuckDBPyConnection, resources: Collection[str] | None = None) -> None:
    """Drop the tables of `resources` (all when None) with their views, macros and ledger rows."""
    names = [t for t, (res, _) in tables().items() if resources is None or res.name in resources]
    for table in names:
        if is_versioned(table):
            con.execute(f"DROP VIEW IF EXISTS main.{q(table)}")
            con.execute(f"DROP MACRO TABLE IF EXISTS history.{q(table + '_as_of')}")
            con.execute(f"DROP TABLE IF EXISTS history.{q(table)}")
        else:
            con.execute(f"DROP TABLE IF EXISTS main.{q(table)}")
    marks = ", ".join("?" for _ in names)
    con.execute(
        f"DELETE FROM meta.schema_changes WHERE sync_id IS NOT NULL AND table_name IN ({marks})", names
    )
    con.execute(f"DELETE FROM meta.table_syncs WHERE table_name IN ({marks})", names)


def replay_loads(con: duckdb.DuckDBPyConnection, resources: Collection[str] | None = None) -> None:
    """Recreate the dropped tables and replay every load of `resources` (all when None), in
    order. The caller holds the transaction."""
    where = "" if resources is None else f"WHERE resource IN ({', '.join('?' for _ in resources)})"
    args = [] if resources is None else list(resources)
    ensure_catalog_tables(con)
    loads = con.execute(
        "SELECT load_seq, sync_id, resource, as_of, full_snapshot, window_start, window_end "
        f"FROM meta.resource_loads {where} ORDER BY load_seq",
        args,
    ).fetchall()
    for seq, sync_id, res, as_of, full, start, end in loads:
        pages = raw_archive.load_pages(con, seq)
        # The load's own window: a day read with no event has no page to tell it.
        window = (start, end) if start is not None and end is not None else raw_archive.window_of(pages)
        load_resource(con, res, pages, None, sync_id, as_of, full, window)


def rebuild_tables(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Drop and re-derive every catalog table in one transaction. Returns {table: rows}
    (versioned tables: current live rows; events: all rows)."""
    con.begin()
    try:
        drop_tables(con)
        replay_loads(con)
        con.commit()
    except Exception:
        con.rollback()
        raise
    counts: dict[str, int] = {}
    for table in tables():
        row = con.execute(f"SELECT count(*) FROM main.{q(table)}").fetchall()[0]
        counts[table] = int(row[0]) if row else 0
    return counts
