"""``meta.schema_changes``: every column a sync added, widened, or found missing."""

from __future__ import annotations

import duckdb


def record_change(
    con: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    kind: str,
    old_type: str | None,
    new_type: str | None,
    sync_id: int | None,
) -> None:
    """One meta.schema_changes row; `missing` at most once per (table, column, sync)."""
    if kind == "missing":
        seen = con.execute(
            "SELECT count(*) FROM meta.schema_changes WHERE table_name = ? AND column_name = ? "
            "AND change_kind = 'missing' AND sync_id IS NOT DISTINCT FROM ?",
            [table, column, sync_id],
        ).fetchall()[0]
        if seen and seen[0]:
            return
    con.execute(
        "INSERT INTO meta.schema_changes VALUES (?, ?, ?, ?, ?, ?, now())",
        [table, column, kind, old_type, new_type, sync_id],
    )


def schema_changes_of(con: duckdb.DuckDBPyConnection, table: str, sync_id: int) -> list[str]:
    """The column changes one sync made to `table`, as "kind column old->new" lines."""
    rows = con.execute(
        "SELECT change_kind, column_name, coalesce(old_type, ''), coalesce(new_type, '') "
        "FROM meta.schema_changes WHERE table_name = ? AND sync_id = ?",
        [table, sync_id],
    ).fetchall()
    return [f"{k} {c} {o}->{n}".strip() for k, c, o, n in rows]
