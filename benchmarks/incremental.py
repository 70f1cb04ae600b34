"""Incremental syncs: requests spent against the minimum the API's shape needs.

The access-log contract (README, "Access logs") reads every day not settled yet as ONE
listing, so its minimum is that of one listing: ceil(events / page size) + 1 (no total
count: an empty page ends it). Scenarios, each through `run_sync` (Dagster), against an
in-process sandbox with no rate limit, page size 500:

  a. first sync of 90 days of history (preset `quarter`, empty warehouse), access logs only:
     one small request finds the first event, then one listing;
  b. catch-up after 3 missed nights (preset `small`, with late uploads back-dated 2 days):
     one listing from the first day not settled;
  c. the no-op nightly: the next sync with nothing new, the whole sync (dimensions too: one
     call per unpaged list, ceil(n/500)+1 pages per paged list, one detail call per user
     and schedule, one call or listing per parent of a fan-out, one token call);
  d. intraday ticks: one with nothing new (minimum: one empty page), one after 4 hours.

Also: versions the nightly wrote to the dimensions after a simulated day against the
changes the sandbox made to them, and the settle window's cost: access-log requests of one nightly for
ALOCITY_ACCESS_LOG_SETTLE_DAYS = 1, 2, 3, 7 (the default is chosen from it).

Writes benchmarks/results/incremental.json.

    .venv/bin/python benchmarks/incremental.py
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import table, write_result  # noqa: E402
from benchmarks.api_floor import prepare_dagster_home  # noqa: E402
from tests.support.syncs import sync_in_process  # noqa: E402  (the tests' in-process sync)

PAGE = 500


def _pages(n: int) -> int:
    return math.ceil(n / PAGE) + 1


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


def diff(before: list[dict], after: list[dict], key: list[str], fields: list[str] | None) -> dict[str, int]:
    """Keys added, removed, and changed (in the catalog's fields, when given)."""
    b = {tuple(str(r.get(k)) for k in key): r for r in before}
    a = {tuple(str(r.get(k)) for k in key): r for r in after}

    def view(r: dict) -> Any:
        return r if fields is None else {f: r.get(f) for f in fields}

    return {
        "inserted": len(a.keys() - b.keys()),
        "deleted": len(b.keys() - a.keys()),
        "updated": sum(1 for k in a.keys() & b.keys() if view(a[k]) != view(b[k])),
    }


def stored_fields(table: str) -> list[str]:
    """The wire fields a table keeps (membership tables: not the member's name)."""
    from alocity_etl.catalog import tables

    res, child = tables()[table]
    cols = list(child.columns if child else res.columns)
    if res.fan_out and res.fan_out.carry_as and not child:
        cols.append(res.fan_out.carry_as)
    return [c.wire for c in cols]


def min_dimension_requests(gt: dict) -> dict[str, int]:
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
    }


class Bench:
    """A sandbox in this process and syncs through run_sync against it."""

    def __init__(self, preset: str, start: datetime, **env: str) -> None:
        from alocity_etl.sandbox import Sandbox, SandboxConfig

        self.tmp = Path(tempfile.mkdtemp(prefix="alocity-bench-incr-"))
        cfg = SandboxConfig(
            preset=preset, seed=1, rate_limit="none", start=start, token_lifetime_s=90 * 86400
        )
        self.sb = Sandbox(cfg).serve(port=0)
        self.env = {
            "DAGSTER_HOME": str(self.tmp / "dagster_home"),
            "ALOCITY_BASE_URL": self.sb.base_url,
            "ALOCITY_ACCESS_KEY": self.sb.access_key,
            "ALOCITY_RATE_LIMIT": "1000000/1s",
            "ALOCITY_WAREHOUSE": str(self.tmp / "alocity.duckdb"),
            "ALOCITY_CACHE_DIR": str(self.tmp / "cache"),
            "ALOCITY_PAGE_SIZE": str(PAGE),
            # The sandbox lives days behind this machine's clock, by which the weekly re-read is
            # judged: it would be due at once. These figures are the plain contract's; the
            # re-read's are in reports/year.json.
            "ALOCITY_ACCESS_LOG_RECHECK_DAYS": "0",
            **env,
        }
        prepare_dagster_home(self.tmp / "dagster_home")

    def sync(self, select: set[str] | None = None, read: Any = None) -> tuple[Any, dict[str, int]]:
        """One sync; (summary, requests per endpoint it made)."""
        self.sb.admin.reset_stats()
        summary = sync_in_process(self.env, select, read)
        if not summary.ok:
            raise SystemExit(f"sync failed: {summary.errors}")
        return summary, dict(self.sb.admin.stats()["per_endpoint"])

    def events_since(self, day: Any) -> int:
        rows = self.sb.admin.ground_truth(table="access_logs")
        return sum(1 for r in rows if r["createdAt"][:10] >= day.isoformat())

    def close(self) -> None:
        self.sb.stop()


def first_unsettled(read_at: datetime, settle_days: int) -> Any:
    return (read_at - timedelta(days=settle_days)).date()


def scenario(name: str, requests: int, minimum: int, **details: Any) -> dict[str, Any]:
    return {"scenario": name, "requests": requests, "min_requests": minimum,
            "ratio": round(requests / minimum, 4), **details}  # fmt: skip


def main() -> int:
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    from alocity_etl.sync.read_plan import Intraday

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    out: list[dict[str, Any]] = []

    # a. the first sync of a quarter of history
    b = Bench("quarter", today)
    try:
        _, per = b.sync({"access_logs"})
        events = b.events_since(datetime.min.date())
        out.append(scenario("a: first sync, 90 days of history", per["access_log_page"], _pages(events),
                            events=events, note="+1 request finds the first event"))  # fmt: skip
    finally:
        b.close()

    # b, c, d and the nightly's versions on `small`, settle window 3 (the default)
    b = Bench("small", today - timedelta(days=5), ALOCITY_ACCESS_LOG_SETTLE_DAYS="3")
    try:
        b.sync()
        day0 = b.sb.admin.ground_truth(day=0)
        b.sb.admin.simulate(1)
        nightly_at = b.sb.admin.clock()
        s2, per = b.sync()
        day1 = b.sb.admin.ground_truth(day=1)
        written = {
            t: (line.inserted + line.updated + line.deleted)
            for t, line in s2.tables.items()
            if t != "access_logs"  # events: compared with the listing's minimum above
        }
        keys = keys_by_table()
        made = {
            t: sum(diff(day0[t], day1[t], keys[t], stored_fields(t)).values())
            for t in day1
            if t in keys and t != "access_logs"
        }
        b.sb.admin.simulate(3, late_per_day=5, late_days_back=2)
        _, per = b.sync()
        events = b.events_since(first_unsettled(nightly_at, 3))
        out.append(scenario("b: catch-up after 3 missed nights", per["access_log_page"], _pages(events),
                            events=events, late_uploads=len(b.sb.admin.late_uploads())))  # fmt: skip
        caught_up_at = b.sb.admin.clock()
        _, per = b.sync()
        dims_min = min_dimension_requests(b.sb.admin.ground_truth())
        events = b.events_since(first_unsettled(caught_up_at, 3))
        minimum = {**dims_min, "access_log_page": _pages(events)}
        out.append(scenario("c: no-op nightly (whole sync)", sum(per.values()), sum(minimum.values()),
                            access_log_requests=per["access_log_page"], access_log_min=_pages(events),
                            per_endpoint=per, min_per_endpoint=minimum))  # fmt: skip
        _, per = b.sync({"access_logs"}, Intraday())
        out.append(scenario("d: intraday tick, nothing new", per["access_log_page"], 1))
        b.sb.admin.simulate(days=0, hours=10)
        new = [
            r
            for r in b.sb.admin.ground_truth(table="access_logs")
            if r["createdAt"] >= caught_up_at.isoformat()[:19]
        ]
        _, per = b.sync({"access_logs"}, Intraday())
        out.append(scenario("d: intraday tick after 10 hours", per["access_log_page"], _pages(len(new)),
                            events=len(new)))  # fmt: skip
    finally:
        b.close()

    # The settle window's cost: one nightly's access-log requests per setting.
    settle_cost = []
    for settle in (1, 2, 3, 7):
        b = Bench("small", today - timedelta(days=10), ALOCITY_ACCESS_LOG_SETTLE_DAYS=str(settle))
        try:
            b.sync({"access_logs"})
            for _ in range(8):  # a week of nights: the window has reached its steady size
                b.sb.admin.simulate(1)
                _, per = b.sync({"access_logs"})
            settle_cost.append({"settle_days": settle, "nightly_requests": per["access_log_page"]})
        finally:
            b.close()

    print("access-log requests against the minimum (page size 500)")
    table([(o["scenario"], o["requests"], o["min_requests"], o["ratio"]) for o in out],
          ("scenario", "requests", "min", "ratio"))  # fmt: skip
    print()
    table(
        [(s["settle_days"], s["nightly_requests"]) for s in settle_cost], ("settle_days", "nightly requests")
    )
    versions, changes = sum(written.values()), sum(made.values())
    print(f"\nnightly after one simulated day: {versions} dimension versions for {changes} changes made")
    write_result(
        "incremental",
        {
            "page_size": PAGE,
            "path": "sync_runner.run_sync (Dagster), in-process sandbox, no rate limit",
            "scenarios": out,
            "settle_window_cost": settle_cost,
            "versions_written": versions,
            "changes_made": changes,
            "versions_per_table": written,
            "changes_per_table": made,
            "ok": all(o["ratio"] <= 1.05 for o in out),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
