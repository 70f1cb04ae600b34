"""Local throughput, rate limit off: alocity-etl against a plain fetch loop and dlt's REST API source.

One `large` sandbox (its own process, rate limit none) serves three measured runs, each in
its own subprocess (so each peak RSS is that tool's alone), on the same workload:

* access logs: `access-log/page` per UTC day (from/to), pageSize 500, --days days;
* users: `user/page` (pageSize 500) plus the `user/{id}` detail call per user (the product
  needs the detail: it carries the cards) - capped at --users detail calls for dlt and the
  floor only when the product is capped too (it is not: all users, by default).

Runs:
  floor    a plain `requests` loop that pages and parses (json) the same calls, keeps nothing;
  alocity  `pipeline.sync_resource` for users and access_logs: HTTP page -> raw archive ->
           normalise -> SCD2 / append-only DuckDB tables (split: fetch+parse, normalise, write);
           with ALOCITY_RATE_LIMIT=none, as the floor and dlt run: no client-side limit;
  alocity_limiter  the same with the shared limiter keeping its log at 1,000,000 requests/s
           (never binding): what its per-request bookkeeping costs (`rows_per_s_with_limiter`);
  dlt      `dlt.sources.rest_api` loading the same endpoints into DuckDB (bearer token from
           POST /token once, data under `payload`, pageNumber 1-based + pageSize, stop on an
           empty page; the user detail as a child resource resolved from users.id).

rows = user rows + access-log rows. Targets: ratio_vs_floor >= 0.75, ratio_vs_dlt >= 5.
Writes benchmarks/results/throughput.json.

    .venv/bin/python benchmarks/throughput.py [--days 15] [--skip-dlt]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import ru_maxrss_mb, run_measured, sandbox_process, table, write_result  # noqa: E402

PAGE_SIZE = 500
PREFIX = "/v1/integration-management"


def days_window(days: int) -> list[tuple[datetime, datetime]]:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return [(today - timedelta(days=d), today - timedelta(days=d - 1)) for d in range(days, 0, -1)]


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- children


def child_floor(base: str, key: str, days: int) -> dict:
    import requests

    s = requests.Session()
    t0 = time.perf_counter()
    token = s.post(f"{base}{PREFIX}/token", json={"accessKey": key}, timeout=60).json()["payload"]
    s.headers["Authorization"] = f"Bearer {token}"

    def pages(path: str, params: dict) -> int:
        n, number = 0, 1
        while True:
            payload = s.get(
                f"{base}{PREFIX}/{path}",
                params={**params, "pageNumber": number, "pageSize": PAGE_SIZE},
                timeout=60,
            ).json()["payload"]
            if not payload:
                return n
            n += len(payload)
            number += 1

    t_users = time.perf_counter()
    ids: list[str] = []
    number = 1
    while True:
        payload = s.get(
            f"{base}{PREFIX}/user/page", params={"pageNumber": number, "pageSize": PAGE_SIZE}, timeout=60
        ).json()["payload"]
        if not payload:
            break
        ids += [u["id"] for u in payload]
        number += 1
    for uid in ids:
        s.get(f"{base}{PREFIX}/user/{uid}", timeout=60).json()["payload"]
    users_s = time.perf_counter() - t_users
    t_logs = time.perf_counter()
    logs = sum(pages("access-log/page", {"from": iso(a), "to": iso(b)}) for a, b in days_window(days))
    logs_s = time.perf_counter() - t_logs
    return {
        "users": len(ids),
        "access_logs": logs,
        "users_s": users_s,
        "access_logs_s": logs_s,
        "seconds": time.perf_counter() - t0,
    }


def child_alocity(base: str, key: str, days: int, rate_limit: str = "none") -> dict:
    import alocity_etl.sync.pipeline as pipeline
    import alocity_etl.warehouse as warehouse
    import alocity_etl.warehouse.loads as loads
    from alocity_etl.catalog import resource
    from alocity_etl.client import AlocityClient, ClientSettings

    tmp = Path(tempfile.mkdtemp(prefix="alocity-bench-tp-"))
    # Time inside each stage. For access logs the next day is fetched (worker thread) while
    # this one is written, so fetch_parse_s + write_s can exceed the wall time.
    split = {"fetch_parse_s": 0.0, "normalise_s": 0.0, "warehouse_s": 0.0}

    def timed(fn, slot):  # type: ignore[no-untyped-def]
        def wrapper(*a, **kw):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                split[slot] += time.perf_counter() - started

        return wrapper

    pipeline._fetch = timed(pipeline._fetch, "fetch_parse_s")  # type: ignore[assignment]
    # Where a resource load calls them (warehouse/loads.py), so the split sees every call.
    loads.normalise = timed(loads.normalise, "normalise_s")  # type: ignore[assignment]
    loads.assemble = timed(loads.assemble, "normalise_s")  # type: ignore[assignment]
    wh_cls = warehouse.Warehouse
    wh_cls.open = classmethod(timed(wh_cls.open.__func__, "warehouse_s"))  # type: ignore[method-assign]
    wh_cls.close = timed(wh_cls.close, "warehouse_s")  # type: ignore[method-assign]
    wh_cls.apply_pages = timed(wh_cls.apply_pages, "warehouse_s")  # type: ignore[method-assign]
    wh_cls.apply_day = timed(wh_cls.apply_day, "warehouse_s")  # type: ignore[method-assign]
    settings = ClientSettings.from_values(
        base_url=base, access_key=key, rate_limit=rate_limit, page_size=PAGE_SIZE, cache_dir=tmp / "cache"
    )
    wh = str(tmp / "wh.duckdb")
    win = days_window(days)
    t0 = time.perf_counter()
    with AlocityClient(settings) as client:
        client.tokens.current()
        t_users = time.perf_counter()
        users = pipeline.sync_resource(client, wh, resource("users"), "bench", log=lambda m: None)
        users_s = time.perf_counter() - t_users
        t_logs = time.perf_counter()
        logs = pipeline.sync_resource(
            client,
            wh,
            resource("access_logs"),
            "bench",
            window=(win[0][0], win[-1][1]),
            log=lambda m: None,
        )
        logs_s = time.perf_counter() - t_logs
    seconds = time.perf_counter() - t0
    # open + write + close of the warehouse, normalise (which runs inside apply) excluded
    write_s = split.pop("warehouse_s") - split["normalise_s"]
    return {
        "users": users.tables["users"].row_count,
        "access_logs": logs.tables["access_logs"].row_count,
        "users_s": users_s,
        "access_logs_s": logs_s,
        "seconds": seconds,
        "write_s": write_s,
        **split,
    }


def child_dlt(base: str, key: str, days: int) -> dict:
    import os

    import requests

    tmp = Path(tempfile.mkdtemp(prefix="alocity-bench-dlt-"))
    os.environ.setdefault("DLT_DATA_DIR", str(tmp / "dlt_data"))
    os.environ["RUNTIME__LOG_LEVEL"] = "WARNING"
    import dlt
    from dlt.sources.rest_api import rest_api_source

    t0 = time.perf_counter()
    token = requests.post(f"{base}{PREFIX}/token", json={"accessKey": key}, timeout=60).json()["payload"]
    paginator = {
        "type": "page_number",
        "base_page": 1,
        "page_param": "pageNumber",
        "total_path": None,
        "stop_after_empty_page": True,
    }
    resources: list = [
        {"name": "users", "endpoint": {"path": "user/page", "params": {"pageSize": PAGE_SIZE}}},
        {
            "name": "user_details",
            "endpoint": {
                "path": "user/{id}",
                "paginator": "single_page",
                "params": {"id": {"type": "resolve", "resource": "users", "field": "id"}},
            },
        },
    ]
    for i, (a, b) in enumerate(days_window(days)):
        resources.append(
            {
                "name": f"access_logs_{i}",
                "table_name": "access_logs",
                "endpoint": {
                    "path": "access-log/page",
                    "params": {"pageSize": PAGE_SIZE, "from": iso(a), "to": iso(b)},
                },
            }
        )
    source = rest_api_source(
        {
            "client": {
                "base_url": f"{base}{PREFIX}/",
                "auth": {"type": "bearer", "token": token},
                "paginator": paginator,
            },
            "resource_defaults": {"endpoint": {"data_selector": "payload"}, "write_disposition": "append"},
            "resources": resources,
        }
    )
    pipe = dlt.pipeline(
        pipeline_name="bench",
        destination=dlt.destinations.duckdb(str(tmp / "dlt.duckdb")),
        dataset_name="alocity",
        pipelines_dir=str(tmp / "pipelines"),
        progress=None,
    )
    pipe.run(source)
    seconds = time.perf_counter() - t0
    import duckdb

    con = duckdb.connect(str(tmp / "dlt.duckdb"), read_only=True)
    users = con.execute("SELECT count(*) FROM alocity.users").fetchone()[0]
    logs = con.execute("SELECT count(*) FROM alocity.access_logs").fetchone()[0]
    con.close()
    return {"users": int(users), "access_logs": int(logs), "seconds": seconds}


CHILDREN = {
    "floor": child_floor,
    "alocity": child_alocity,
    "alocity_limiter": lambda base, key, days: child_alocity(base, key, days, rate_limit="1000000/1s"),
    "dlt": child_dlt,
}


# ---------------------------------------------------------------- parent


def measure(tool: str, base: str, key: str, days: int) -> dict:
    result, peak = run_measured(
        [str(Path(__file__).resolve()), "--child", tool, "--base", base, "--key", key, "--days", str(days)]
    )
    rows = result["users"] + result["access_logs"]
    return {**result, "rows": rows, "rows_per_s": round(rows / result["seconds"], 1), "peak_rss_mb": peak}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=15, help="access-log days (the large sandbox holds 90)")
    ap.add_argument("--preset", default="large")
    ap.add_argument("--skip-dlt", action="store_true")
    ap.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    ap.add_argument("--base", help=argparse.SUPPRESS)
    ap.add_argument("--key", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        out = CHILDREN[args.child](args.base, args.key, args.days)
        print(json.dumps({**out, "ru_maxrss_mb": ru_maxrss_mb()}))
        return 0

    tools = ["floor", "alocity", "alocity_limiter"] + ([] if args.skip_dlt else ["dlt"])
    results: dict[str, dict] = {}
    with sandbox_process(args.preset, rate_limit="none") as (base, key, admin):
        for tool in tools:
            print(f"measuring {tool} ...", flush=True)
            results[tool] = measure(tool, base, key, args.days)
            results[tool]["sandbox_requests"] = admin.stats()["requests_total"]
            admin.reset_stats()
    a, f, lim = results["alocity"], results["floor"], results["alocity_limiter"]
    d = results.get("dlt")
    print(f"{args.preset} sandbox, rate limit off: users (list + detail) + {args.days} days of access logs")
    table(
        [
            (
                t,
                r["rows"],
                round(r["seconds"], 2),
                r["rows_per_s"],
                r["peak_rss_mb"],
                r.get("sandbox_requests"),
            )
            for t, r in results.items()
        ],
        ("tool", "rows", "seconds", "rows/s", "peak_rss_mb", "requests"),
    )
    print(
        f"alocity split: fetch+parse {a['fetch_parse_s']:.2f}s, normalise {a['normalise_s']:.2f}s, "
        f"write {a['write_s']:.2f}s"
    )
    ratio_floor = a["rows_per_s"] / f["rows_per_s"]
    ratio_dlt = a["rows_per_s"] / d["rows_per_s"] if d else None
    print(
        f"ratio_vs_floor {ratio_floor:.3f} (target >= 0.75)   ratio_vs_dlt "
        f"{'-' if ratio_dlt is None else f'{ratio_dlt:.2f}'} (target >= 5)"
    )
    print(
        f"with the shared limiter's log kept: {lim['rows_per_s']} rows/s "
        f"({lim['rows_per_s'] / a['rows_per_s']:.2f} of alocity without it)"
    )
    write_result(
        "throughput",
        {
            "preset": args.preset,
            "access_log_days": args.days,
            "page_size": PAGE_SIZE,
            "rows_per_s": a["rows_per_s"],
            "rows_per_s_with_limiter": lim["rows_per_s"],
            "fetch_floor_rows_per_s": f["rows_per_s"],
            "dlt_rows_per_s": d["rows_per_s"] if d else None,
            "ratio_vs_floor": round(ratio_floor, 4),
            "ratio_vs_dlt": None if ratio_dlt is None else round(ratio_dlt, 3),
            "fetch_parse_s": round(a["fetch_parse_s"], 3),
            "normalise_s": round(a["normalise_s"], 3),
            "write_s": round(a["write_s"], 3),
            "targets": {"ratio_vs_floor": 0.75, "ratio_vs_dlt": 5},
            "runs": results,
        },
    )
    ok = ratio_floor >= 0.75 and (ratio_dlt is None or ratio_dlt >= 5)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
