"""Run every benchmark (`make bench`), one subprocess each, and print a summary.

Each benchmark prints its own table and writes benchmarks/results/<name>.json; this
script then prints the headline figures of each against its target. Exit status 1 if
any benchmark failed or missed its target.

    .venv/bin/python benchmarks/run_all.py [--only api_floor,merge] [--skip-dlt]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
RESULTS = BENCH / "results"

# name -> (script, result file); in the order they run (cheapest first).
BENCHMARKS = {
    "merge": ("merge.py", "merge.json"),
    "incremental": ("incremental.py", "incremental.json"),
    "dbt_step": ("dbt_step.py", "dbt_step.json"),
    "api_floor": ("api_floor.py", "api_floor.json"),
    "throughput": ("throughput.py", "throughput.json"),
    "memory": ("memory.py", "memory.json"),
    "ratelimit_fraction": ("ratelimit_fraction.py", "ratelimit.json"),
}
DLT_AWARE = {"throughput", "memory"}


def headline(name: str, data: dict) -> str:
    if name == "api_floor":
        return (
            f"ratio {data['ratio']} (<= 1.06), requests {data['requests']}, "
            f"429s {data['responses_429']}, wall {data['wall_s']} s; at the real window "
            f"{data.get('real_rate_limit') or '-'}: ratio {data.get('ratio_real_window') or '-'}"
        )
    if name == "throughput":
        return (
            f"{data['rows_per_s']:,.0f} rows/s; floor {data['fetch_floor_rows_per_s']:,.0f}; dlt "
            f"{data['dlt_rows_per_s'] or 0:,.0f}; vs floor {data['ratio_vs_floor']} (>= 0.75), "
            f"vs dlt {data['ratio_vs_dlt']} (>= 5)"
        )
    if name == "memory":
        return (
            f"peak RSS small {data['peak_rss_mb_small']} MB, large {data['peak_rss_mb_large']} MB "
            f"(<= 400), dlt large {data['dlt_peak_rss_mb_large']} MB"
        )
    if name == "merge":
        return "merge/copy " + ", ".join(f"{int(k):,} rows: {v}x" for k, v in data["ratio"].items())
    if name == "incremental":
        return (
            f"requests {data['requests']} vs min {data['min_requests']}; versions "
            f"{data['versions_written']} vs changes {data['changes_made']}"
        )
    if name == "dbt_step":
        return (
            f"dbt step worst {data['step_s_worst']} s, nightly median {data['step_s_nightly_median']} s "
            f"(<= {data['target_s']})"
        )
    if name == "ratelimit_fraction":
        return ", ".join(
            f"{r['processes']} proc: steady {r['fraction_steady']}, 429s {r['responses_429']}"
            for r in data["runs"]
        )
    return ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated benchmark names: " + ", ".join(BENCHMARKS))
    ap.add_argument("--skip-dlt", action="store_true", help="leave dlt out of throughput and memory")
    args = ap.parse_args()
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    status: dict[str, tuple[int, float]] = {}
    for name in names:
        script, _ = BENCHMARKS[name]
        cmd = [sys.executable, str(BENCH / script)]
        if args.skip_dlt and name in DLT_AWARE:
            cmd.append("--skip-dlt")
        print(f"\n=== {name} ({script}) ===", flush=True)
        started = time.monotonic()
        rc = subprocess.call(cmd, cwd=ROOT)
        status[name] = (rc, time.monotonic() - started)
    print("\n=== summary ===")
    for name in names:
        rc, seconds = status[name]
        path = RESULTS / BENCHMARKS[name][1]
        line = ""
        if path.exists():
            try:
                line = headline(name, json.loads(path.read_text()))
            except (KeyError, ValueError, TypeError) as exc:
                line = f"(unreadable result: {exc})"
        verdict = "ok" if rc == 0 else ("MISSED TARGET" if rc == 1 else f"FAILED (exit {rc})")
        print(f"{name:<19} {verdict:<14} {seconds:6.0f}s  {line}")
    return 0 if all(rc == 0 for rc, _ in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
