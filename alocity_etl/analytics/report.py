"""The report people look at: one self-contained HTML page of plots (no Dagster, no network).

Four panels, each a static matplotlib figure inlined as SVG (no script, no font or image to
fetch - the page opens from a mail attachment or a file share):

- when the doors are busy: door activity per site-local weekday x hour, one heat map per
  site (from ``analytics.door_activity_local_hourly``);
- denied attempts per day, by reason (``main.access_logs``);
- cloud keys expiring in the next 30 days, per day (``main.cloud_keys``; cards do not expire);
- the sync's health: the last syncs' requests and duration (``meta.syncs``), and late events
  (`late_events`: the access-log day ledger where the warehouse has one).

`build_html` reads the warehouse read-only; `write_report` writes the page atomically.
"""

from __future__ import annotations

import html
import io
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
# One colour per panel, so a reader (and the screenshot test) can tell them apart at a glance.
HEAT_MAP = "viridis"
EXPIRING = "#e67e22"
SYNC_OK, SYNC_FAILED, LATE = "#2e8b57", "#c0392b", "#8e44ad"
REASON_COLOURS = {  # Access Log Result Type -> colour (stable across reports)
    1: "#1f77b4",
    2: "#d62728",
    3: "#7f7f7f",
    4: "#17becf",
    6: "#bcbd22",
}


class ReportError(RuntimeError):
    """The report cannot be made; the message is one line."""


@dataclass
class Panel:
    title: str
    caption: str
    svg: str


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prologue and DOCTYPE: the SVG goes inline


def _query(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        _query(
            con,
            "SELECT 1 FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ?",
            [schema, table],
        )
    )


def heat_map(con: duckdb.DuckDBPyConnection, since: date) -> Panel:
    import matplotlib.pyplot as plt
    import numpy as np

    data = _query(
        con,
        "SELECT site_id, any_value(site_name), any_value(time_zone), local_weekday, local_hour, "
        "sum(attempts) FROM analytics.door_activity_local_hourly WHERE local_date >= ? "
        "GROUP BY site_id, local_weekday, local_hour ORDER BY site_id",
        [since],
    )
    sites: dict[int, tuple[str, str, Any]] = {}
    for site, name, tz, weekday, hour, n in data:
        if site not in sites:
            sites[site] = (name or f"site {site}", tz, np.zeros((7, 24)))
        sites[site][2][weekday - 1, hour] += n
    cols = min(2, max(1, len(sites)))
    rows = max(1, -(-len(sites) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(7.2 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.flat[len(sites) :]:
        ax.axis("off")
    for ax, (name, tz, grid) in zip(axes.flat, sites.values(), strict=False):
        image = ax.imshow(grid, aspect="auto", cmap=HEAT_MAP, interpolation="nearest")
        ax.set_title(f"{name} ({tz})", fontsize=10)
        ax.set_yticks(range(7), WEEKDAYS, fontsize=8)
        ax.set_xticks(range(0, 24, 3), [f"{h:02d}" for h in range(0, 24, 3)], fontsize=8)
        ax.set_xlabel("local hour", fontsize=8)
        fig.colorbar(image, ax=ax, label="attempts", shrink=0.9)
    if not sites:
        axes.flat[0].text(0.5, 0.5, "no door activity in this period", ha="center", va="center")
    fig.tight_layout()
    return Panel(
        "When the doors are busy",
        "Access attempts per site-local weekday and hour (the site's own clock, daylight saving "
        f"included), since {since.isoformat()}.",
        _svg(fig),
    )


def denied_over_time(con: duckdb.DuckDBPyConnection, since: date) -> Panel:
    import matplotlib.pyplot as plt

    data = _query(
        con,
        "SELECT CAST(created_at AS DATE) AS day, result, any_value(result_label), count(*) "
        "FROM main.access_logs WHERE result NOT IN (0, 7, 8, 9) AND CAST(created_at AS DATE) >= ? "
        "GROUP BY day, result ORDER BY result, day",
        [since],
    )
    days = sorted({d for d, *_ in data})
    reasons: dict[int, tuple[str, dict[date, int]]] = {}
    for day, result, label, n in data:
        reasons.setdefault(result, (label, {}))[1][day] = n
    fig, ax = plt.subplots(figsize=(14, 3.4))
    bottom = [0] * len(days)
    for result, (label, per_day) in reasons.items():
        heights = [per_day.get(d, 0) for d in days]
        ax.bar(days, heights, bottom=bottom, label=label, color=REASON_COLOURS.get(result, "#555555"))
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    if reasons:
        # Above the plot, so it never hides a bar.
        ax.legend(
            fontsize=8, ncols=min(len(reasons), 6), loc="lower left", bbox_to_anchor=(0, 1), frameon=False
        )
    else:
        ax.text(
            0.5, 0.5, "no denied attempts in this period", ha="center", va="center", transform=ax.transAxes
        )
    ax.set_ylabel("denied attempts")
    ax.tick_params(axis="x", labelsize=8, rotation=30)
    fig.tight_layout()
    total = sum(n for *_, n in data)
    return Panel(
        "Denied attempts over time",
        f"{total} denied attempts per UTC day since {since.isoformat()}, by reason (Access Log Result "
        "Type; lockdown and doorbell events are not attempts).",
        _svg(fig),
    )


def expiring_credentials(con: duckdb.DuckDBPyConnection, now: datetime) -> Panel:
    import matplotlib.pyplot as plt

    data = _query(
        con,
        "SELECT CAST(expire_on AS DATE) AS day, count(*) FROM main.cloud_keys WHERE status = 1 "
        "AND expire_on >= ? AND expire_on < ? GROUP BY day ORDER BY day",
        [now, now + timedelta(days=30)],
    )
    days = [now.date() + timedelta(days=i) for i in range(31)]
    per_day = dict(data)
    fig, ax = plt.subplots(figsize=(14, 2.8))
    ax.bar(days, [per_day.get(d, 0) for d in days], color=EXPIRING)
    ax.set_ylabel("cloud keys")
    ax.tick_params(axis="x", labelsize=8, rotation=30)
    fig.tight_layout()
    total = sum(per_day.values())
    return Panel(
        "Credentials expiring in the next 30 days",
        f"{total} active cloud keys expire by {(now + timedelta(days=30)).date().isoformat()}, per day "
        "(access cards do not expire). The list: analytics.cloud_keys_expiring_soon.",
        _svg(fig),
    )


def late_events(con: duckdb.DuckDBPyConnection, since: date) -> tuple[str, list[tuple[str, int]]]:
    """(what the numbers are, [(UTC day, count)]): access-log events that reached the
    warehouse late, per day.

    With the access-log day ledger (``meta.access_log_days``): events that arrived after the
    day had been read complete. Without it: events loaded by a later sync than the first one
    that read their day (``meta.resource_loads``) - found by a re-read, not by the first."""
    if _has_table(con, "meta", "access_log_days"):
        rows = _query(
            con,
            "SELECT day, late_events FROM meta.access_log_days WHERE day >= ? ORDER BY day",
            [since],
        )
        return "events that arrived after their UTC day was read complete", [
            (d.isoformat(), int(n)) for d, n in rows
        ]
    rows = _query(
        con,
        "WITH first_read AS ("
        "  SELECT CAST(window_start AS DATE) AS day, min(sync_id) AS first_sync FROM meta.resource_loads"
        "  WHERE resource = 'access_logs' AND window_start IS NOT NULL GROUP BY 1) "
        "SELECT f.day, count(l.id) FILTER (WHERE l.sync_id > f.first_sync) "
        "FROM first_read AS f LEFT JOIN main.access_logs AS l ON CAST(l.created_at AS DATE) = f.day "
        "WHERE f.day >= ? GROUP BY f.day ORDER BY f.day",
        [since],
    )
    return "events loaded by a later sync than the first that read their UTC day", [
        (d.isoformat(), int(n)) for d, n in rows
    ]


def sync_health(con: duckdb.DuckDBPyConnection, since: date, last: int = 20) -> Panel:
    import matplotlib.pyplot as plt

    syncs = _query(
        con,
        "SELECT sync_id, status, coalesce(requests, 0), "
        "coalesce(epoch(finished_at) - epoch(started_at), 0) FROM meta.syncs "
        "ORDER BY sync_id DESC LIMIT ?",
        [last],
    )[::-1]
    what, late = late_events(con, since)
    fig, (req, dur, lat) = plt.subplots(1, 3, figsize=(14, 3.2))
    labels = [f"#{s}" for s, *_ in syncs]
    colours = [SYNC_OK if status == "success" else SYNC_FAILED for _, status, *_ in syncs]
    req.bar(labels, [r for *_, r, _ in syncs], color=colours)
    req.set_title("requests per sync", fontsize=10)
    dur.bar(labels, [d for *_, d in syncs], color=colours)
    dur.set_title("seconds per sync (red: not a success)", fontsize=10)
    lat.bar(range(len(late)), [n for _, n in late], color=LATE)
    step = max(1, len(late) // 8)
    lat.set_xticks(range(0, len(late), step), [x[5:] for x, _ in late][::step])  # MM-DD
    lat.set_ylim(bottom=0, top=max([n for _, n in late] + [1]) * 1.1)
    lat.set_title(f"late events per day ({sum(n for _, n in late)} in all)", fontsize=10)
    for ax in (req, dur, lat):
        ax.tick_params(axis="x", labelsize=7, rotation=45)
        ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], 1))
    fig.tight_layout()
    failed = sum(status != "success" for _, status, *_ in syncs)
    return Panel(
        "The sync's health",
        f"The last {len(syncs)} syncs ({failed} not a success): requests to the API and duration; "
        f"late events: {what}.",
        _svg(fig),
    )


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #222; background: #fff; max-width: 1400px; }}
h1 {{ font-size: 22px; margin: 0 0 4px; }} h2 {{ font-size: 17px; margin: 0 0 4px; }}
.meta {{ color: #666; font-size: 13px; margin-bottom: 16px; }}
section {{ border: 1px solid #ddd; border-radius: 6px; padding: 12px 16px; margin-bottom: 16px; }}
section p {{ color: #555; font-size: 13px; margin: 0 0 8px; }}
section svg {{ max-width: 100%; height: auto; }}
</style></head><body>
<h1>{title}</h1>
<div class="meta">{meta}</div>
{sections}
</body></html>
"""


def build_html(warehouse: str | os.PathLike[str], days: int = 30, now: datetime | None = None) -> str:
    """The report as one HTML page, for the ``days`` before ``now`` (default: now)."""
    import matplotlib

    matplotlib.use("Agg")  # files, never a window
    from alocity_etl.warehouse import Warehouse, WarehouseError

    now = (now or datetime.now(UTC)).astimezone(UTC)
    since = now.date() - timedelta(days=days)
    path = Path(warehouse)
    if not path.exists():
        raise ReportError(f"no warehouse at {path}: run a sync first (make sync)")
    try:
        wh = Warehouse.open(path, read_only=True, lock_timeout=60)
    except WarehouseError as exc:
        raise ReportError(str(exc)) from None
    try:
        con = wh.con
        events = _query(con, "SELECT count(*), max(created_at) FROM main.access_logs")[0]
        if not events[0]:
            raise ReportError(
                f"the warehouse at {path} holds no access logs yet: run a sync first (make sync)"
            )
        if not _has_table(con, "analytics", "door_activity_local_hourly"):
            raise ReportError(f"the warehouse at {path} has no analytics models yet: run a sync first")
        panels = [
            heat_map(con, since),
            denied_over_time(con, since),
            expiring_credentials(con, now),
            sync_health(con, since),
        ]
    finally:
        wh.close()
    meta = (
        f"Warehouse {html.escape(str(path))} - the {days} days since {since.isoformat()} - made "
        f"{now.strftime('%Y-%m-%d %H:%M')} UTC - latest event {events[1]:%Y-%m-%d %H:%M} UTC"
    )
    sections = "\n".join(
        f'<section id="panel-{i}"><h2>{html.escape(p.title)}</h2>'
        f"<p>{html.escape(p.caption)}</p>{p.svg}</section>"
        for i, p in enumerate(panels, 1)
    )
    return PAGE.format(title="Alocity doors report", meta=meta, sections=sections)


def write_report(
    warehouse: str | os.PathLike[str],
    out: str | os.PathLike[str],
    days: int = 30,
    now: datetime | None = None,
) -> Path:
    """Write the page to ``out`` (a temporary file renamed when complete)."""
    text = build_html(warehouse, days, now)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return target
