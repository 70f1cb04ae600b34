"""Peak memory (RSS) of a whole sync at `small` and `large`, and of dlt on the same load.

The sandbox runs in its own process (`alocity-etl sandbox`, rate limit none) so its memory is
not counted. Each measured run is a subprocess; its peak RSS is the larger of a psutil
sampler over its process tree (every 50 ms) and its own `ru_maxrss`.

* peak_rss_mb_small / peak_rss_mb_large (headline): `alocity-etl sync --full-refresh`, the
  path users run (one Dagster run of the job `sync`: every resource, the access logs of the
  account's whole history, 30 days on small, 90 days / ~1M events on large, then the models).
* pipeline_peak_rss_mb_small / _large: the same resources through `sync.pipeline.sync_resource`
  alone (the function each Dagster asset calls), without Dagster.
* dlt_peak_rss_mb_large: dlt's REST API source on users (+ detail) and --dlt-days days of
  access logs (see throughput.py); alocity_same_load_peak_rss_mb is alocity on exactly that load.

Target: flat in data size, <= 400 MB at large. Writes benchmarks/results/memory.json.

    .venv/bin/python benchmarks/memory.py [--large-days 90] [--dlt-days 15] [--skip-dlt]
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

TARGET_MB = 400


def child_full_sync(base: str, key: str, days: int) -> dict:
    from alocity_etl.catalog import CATALOG, WriteMode
    from alocity_etl.client import AlocityClient, ClientSettings
    from alocity_etl.sync.pipeline import sync_resource

    tmp = Path(tempfile.mkdtemp(prefix="alocity-bench-mem-"))
    settings = ClientSettings.from_values(
        base_url=base, access_key=key, rate_limit="1000000/1s", cache_dir=tmp / "cache"
    )
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rows, t0 = 0, time.perf_counter()
    with AlocityClient(settings) as client:
        for res in CATALOG:
            window = (today - timedelta(days=days), today) if res.write_mode is WriteMode.APPEND else None
            result = sync_resource(
                client,
                str(tmp / "wh.duckdb"),
                res,
                "bench-mem",
                window=window,
                log=lambda m: None,
            )
            rows += sum(t.row_count for t in result.tables.values())
        requests = client.stats.as_dict().get("requests", 0)
    return {"rows": rows, "requests": requests, "seconds": time.perf_counter() - t0}


def child_cli_sync(base: str, key: str) -> dict:
    """`alocity-etl sync` as a user runs it (a Dagster run of the job `sync`, models included),
    here with --full-refresh: every access-log day of the account's history."""
    import io
    import os
    from contextlib import redirect_stdout

    from alocity_etl.cli import main as cli

    tmp = Path(tempfile.mkdtemp(prefix="alocity-bench-mem-cli-"))
    (tmp / "dh").mkdir()
    (tmp / "dh" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    os.environ.update(
        DAGSTER_HOME=str(tmp / "dh"),
        ALOCITY_BASE_URL=base,
        ALOCITY_ACCESS_KEY=key,
        ALOCITY_RATE_LIMIT="none",
        ALOCITY_WAREHOUSE=str(tmp / "wh.duckdb"),
        ALOCITY_CACHE_DIR=str(tmp / "cache"),
    )
    t0 = time.perf_counter()
    with redirect_stdout(io.StringIO()):  # the summary table: only the JSON line goes out
        code = cli(["sync", "--full-refresh"])
    import duckdb

    with duckdb.connect(str(tmp / "wh.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT count(*) FROM main.access_logs").fetchone()[0]
    return {"exit_code": code, "rows": rows, "seconds": time.perf_counter() - t0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small-days", type=int, default=30)
    ap.add_argument("--large-days", type=int, default=90)
    ap.add_argument("--dlt-days", type=int, default=15)
    ap.add_argument("--skip-dlt", action="store_true")
    ap.add_argument("--child", choices=["full", "cli"], help=argparse.SUPPRESS)
    ap.add_argument("--base", help=argparse.SUPPRESS)
    ap.add_argument("--key", help=argparse.SUPPRESS)
    ap.add_argument("--days", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "cli":
        print(json.dumps({**child_cli_sync(args.base, args.key), "ru_maxrss_mb": ru_maxrss_mb()}))
        return 0
    if args.child:
        print(json.dumps({**child_full_sync(args.base, args.key, args.days), "ru_maxrss_mb": ru_maxrss_mb()}))
        return 0

    me = str(Path(__file__).resolve())
    tp = str(Path(__file__).resolve().with_name("throughput.py"))
    runs: dict[str, dict] = {}
    for preset, days in (("small", args.small_days), ("large", args.large_days)):
        with sandbox_process(preset, rate_limit="none") as (base, key, _admin):
            print(f"alocity-etl sync --full-refresh, {preset} ...", flush=True)
            res, peak = run_measured([me, "--child", "cli", "--base", base, "--key", key])
            runs[f"alocity_cli_{preset}"] = {**res, "days": days, "peak_rss_mb": peak}
            print(f"full sync, {preset}, pipeline.sync_resource ...", flush=True)
            res, peak = run_measured(
                [me, "--child", "full", "--base", base, "--key", key, "--days", str(days)]
            )
            runs[f"alocity_full_{preset}"] = {**res, "days": days, "peak_rss_mb": peak}
            if preset == "large":
                for tool in ("alocity", *(() if args.skip_dlt else ("dlt",))):
                    print(f"{tool}, users + {args.dlt_days} days of access logs, large ...", flush=True)
                    res, peak = run_measured(
                        [tp, "--child", tool, "--base", base, "--key", key, "--days", str(args.dlt_days)]
                    )
                    rows = res["users"] + res["access_logs"]
                    runs[f"{tool}_same_load_large"] = {
                        **res,
                        "rows": rows,
                        "days": args.dlt_days,
                        "peak_rss_mb": peak,
                    }
    table(
        [(name, r["rows"], r["days"], round(r["seconds"], 1), r["peak_rss_mb"]) for name, r in runs.items()],
        ("run", "rows", "log_days", "seconds", "peak_rss_mb"),
    )
    dlt_source = "measured here"
    if args.skip_dlt:  # dlt's figure from the last throughput run (same load), if any
        tp = ROOT / "benchmarks" / "results" / "throughput.json"
        prev = json.loads(tp.read_text()).get("runs", {}).get("dlt") if tp.exists() else None
        if prev:
            runs["dlt_same_load_large"] = {**prev, "days": json.loads(tp.read_text())["access_log_days"]}
            dlt_source = "benchmarks/results/throughput.json (--skip-dlt)"
    small = runs["alocity_cli_small"]["peak_rss_mb"]
    large = runs["alocity_cli_large"]["peak_rss_mb"]
    dlt = runs.get("dlt_same_load_large", {}).get("peak_rss_mb")
    print(f"peak RSS small {small} MB, large {large} MB (target <= {TARGET_MB}), dlt large {dlt} MB")
    write_result(
        "memory",
        {
            "peak_rss_mb_small": small,
            "peak_rss_mb_large": large,
            "pipeline_peak_rss_mb_small": runs["alocity_full_small"]["peak_rss_mb"],
            "pipeline_peak_rss_mb_large": runs["alocity_full_large"]["peak_rss_mb"],
            "dlt_peak_rss_mb_large": dlt,
            "alocity_same_load_peak_rss_mb": runs.get("alocity_same_load_large", {}).get("peak_rss_mb"),
            "dlt_source": dlt_source,
            "target_mb": TARGET_MB,
            "path": "alocity-etl sync --full-refresh (headline); sync.pipeline.sync_resource beside it",
            "runs": runs,
        },
    )
    return 0 if large <= TARGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
