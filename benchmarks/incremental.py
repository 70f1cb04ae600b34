"""The second nightly sync: requests spent and versions written against what is needed.

A `small` sandbox (in this process, rate limit off) starts at yesterday 00:00 UTC with
30 days of access logs. Sync 1 (`run_sync`, through Dagster) loads everything; then
`simulate(days=1)` plays one day (new/changed/deleted users, cards, keys, memberships, and
the day's access logs). Sync 2 is the nightly sync: every dimension plus yesterday's
access-log partition, also through `run_sync`.

* requests: API calls of sync 2 counted by the sandbox (incl. token and 401 replays);
* min_requests: from the API's shape at day 1: one call per unpaged list, ceil(n/500)+1
  pages per paged list (the API has no total: an empty page ends it), one detail call per
  user and schedule, one call (or paged listing) per parent for fan-outs, one token call,
  and the access-log pages of the new day alone (the 6 h lookback for late events is extra);
* versions_written: inserted + updated + deleted of sync 2 in meta.table_syncs;
* changes_made: ground truth day 0 vs day 1, per table: new keys + removed keys + changed
  rows; access logs: the day's events.

Writes benchmarks/results/incremental.json.

    .venv/bin/python benchmarks/incremental.py
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import table, write_result  # noqa: E402
from benchmarks.api_floor import prepare_dagster_home  # noqa: E402

PAGE = 500


def _pages(n: int) -> int:
    return math.ceil(n / PAGE) + 1 if n else 1


def keys_by_table() -> dict[str, list[str]]:
    """Primary key of each catalog table as wire field names (ground truth is in wire form)."""
    from alocity_etl.catalog import tables

    out = {}
    for name, (res, child) in tables().items():
        cols = list(child.columns if child else res.columns)
        if res.fan_out and res.fan_out.carry_as and not child:
            cols.append(res.fan_out.carry_as)
        wire = {c.name: c.wire for c in cols}
        pk = child.primary_key if child else res.primary_key
        out[name] = [wire.get(k, k) for k in pk]
    return out


def diff(before: list[dict], after: list[dict], key: list[str]) -> dict[str, int]:
    b = {tuple(str(r.get(k)) for k in key): r for r in before}
    a = {tuple(str(r.get(k)) for k in key): r for r in after}
    return {
        "inserted": len(a.keys() - b.keys()),
        "deleted": len(b.keys() - a.keys()),
        "updated": sum(1 for k in a.keys() & b.keys() if a[k] != b[k]),
    }


def min_requests(gt: dict, new_day_events: int) -> dict[str, int]:
    from collections import Counter

    members = Counter(r["groupId"] for r in gt["group_members"])
    sched_users = Counter(r["scheduleId"] for r in gt["schedule_users"])
    users, groups, schedules = len(gt["users"]), gt["groups"], gt["schedules"]
    return {
        "token": 1,
        "sites": 1,
        "devices": 1,
        "device_settings": len(gt["devices"]),
        "user_page": _pages(users),
        "user": users,
        "groups": 1,
        "group_users": sum(_pages(members.get(g["id"], 0)) for g in groups),
        "schedules": 1,
        "schedule": len(schedules),
        "schedule_users": sum(_pages(sched_users.get(s["id"], 0)) for s in schedules),
        "cloud_keys": users,
        "access_log_page": _pages(new_day_events),
    }


def main() -> int:
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    from alocity_etl.sandbox import Sandbox, SandboxConfig

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=1)
    tmp = Path(tempfile.mkdtemp(prefix="alocity-bench-incr-"))
    cfg = SandboxConfig(preset="small", seed=1, rate_limit="none", start=start)
    with Sandbox(cfg).serve(port=0) as sb:
        os.environ.update(
            DAGSTER_HOME=str(tmp / "dagster_home"),
            ALOCITY_BASE_URL=sb.base_url,
            ALOCITY_ACCESS_KEY=sb.access_key,
            ALOCITY_RATE_LIMIT="1000000/1s",
            ALOCITY_WAREHOUSE=str(tmp / "alocity.duckdb"),
            ALOCITY_CACHE_DIR=str(tmp / "cache"),
        )
        prepare_dagster_home(Path(os.environ["DAGSTER_HOME"]))
        from dagster import DagsterInstance

        from alocity_etl.settings import env_settings
        from alocity_etl.sync_runner import run_sync
        from alocity_etl.warehouse import Warehouse

        settings = env_settings()
        instance = DagsterInstance.get()
        # Sync 1: everything, access logs up to the (still empty) start day.
        s1 = run_sync(
            instance,
            access_log_days=31,
            access_log_start=settings.access_log_start,
            warehouse=settings.warehouse,
        )
        day0 = sb.admin.ground_truth(day=0)
        sb.admin.simulate(days=1)
        day1 = sb.admin.ground_truth(day=1)
        new_day = sb.admin.ground_truth(table="access_logs", from_=start, to=today)
        sb.admin.reset_stats()
        # Sync 2: the nightly sync (every dimension + yesterday's partition).
        s2 = run_sync(
            instance,
            access_log_days=1,
            access_log_start=settings.access_log_start,
            warehouse=settings.warehouse,
        )
        stats = sb.admin.stats()
    run_ids = [r for _, r, _ in s2.runs]
    with Warehouse.open(settings.warehouse, read_only=True) as wh:
        marks = ",".join("?" * len(run_ids))
        rows = wh.con.execute(
            "SELECT t.table_name, sum(inserted), sum(updated), sum(deleted), sum(unchanged) "
            f"FROM meta.table_syncs t JOIN meta.syncs s USING (sync_id) WHERE s.dagster_run_id IN ({marks}) "
            "GROUP BY ALL ORDER BY 1",
            run_ids,
        ).fetchall()
    written = {
        t: {"inserted": int(i), "updated": int(u), "deleted": int(d), "unchanged": int(n)}
        for t, i, u, d, n in rows
    }
    keys = keys_by_table()
    made = {t: diff(day0[t], day1[t], keys[t]) for t in day1 if t in keys and t != "access_logs"}
    made["access_logs"] = {"inserted": len(new_day), "deleted": 0, "updated": 0}
    minimum = min_requests(day1, len(new_day))
    per_endpoint = stats.get("per_endpoint", {})
    requests = int(stats["requests_total"])
    min_total = sum(minimum.values())

    def total(d: dict) -> int:
        return d.get("inserted", 0) + d.get("updated", 0) + d.get("deleted", 0)

    versions = sum(total(w) for w in written.values())
    changes = sum(total(m) for m in made.values())
    print("second nightly sync after one simulated day (small), through run_sync")
    table(
        [
            (t, total(made.get(t, {})), total(written.get(t, {})), written.get(t, {}).get("unchanged", 0))
            for t in sorted(set(made) | set(written))
        ],
        ("table", "changes_made", "versions_written", "unchanged"),
    )
    print()
    table(
        [(e, per_endpoint.get(e, 0), minimum.get(e, 0)) for e in sorted(set(per_endpoint) | set(minimum))],
        ("endpoint", "requests", "min_requests"),
    )
    print(
        f"requests {requests} vs min {min_total} ({requests / min_total:.3f}x); versions written "
        f"{versions} vs changes made {changes}; sync 1 ok={s1.ok}, sync 2 ok={s2.ok}"
    )
    write_result(
        "incremental",
        {
            "preset": "small",
            "path": "sync_runner.run_sync (Dagster), access_log_days=1 for sync 2",
            "requests": requests,
            "min_requests": min_total,
            "requests_ratio": round(requests / min_total, 4),
            "versions_written": versions,
            "changes_made": changes,
            "requests_per_endpoint": per_endpoint,
            "min_requests_per_endpoint": minimum,
            "versions_per_table": written,
            "changes_per_table": made,
            "responses_401": stats.get("by_status", {}).get("401", 0),
            "sync1_ok": s1.ok,
            "sync2_ok": s2.ok,
            "errors": s1.errors + s2.errors,
        },
    )
    return 0 if (s1.ok and s2.ok) else 1


if __name__ == "__main__":
    sys.exit(main())
