"""How much of the account's rate budget the shared limiter uses, with 1 and 2 processes.

Against a local sandbox with a compressed window (default 30/3s), each run lasts
~10 windows. Reports, per run:
  fraction_total   requests sent / (duration / W) / N  (includes the free first burst)
  fraction_steady  the sustained rate after the first window, as a fraction of N/W
  max_per_window   most requests in any sliding W (must be <= N)
  429s             as counted by the sandbox
Writes benchmarks/results/ratelimit.json.

    .venv/bin/python benchmarks/ratelimit_fraction.py [--rate 30/3s] [--windows 10] [--no-margin-run]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alocity_etl.catalog import endpoint_path  # noqa: E402
from alocity_etl.client import AlocityClient, ClientSettings  # noqa: E402
from alocity_etl.client.settings import parse_rate_limit  # noqa: E402
from alocity_etl.sandbox import Sandbox, SandboxConfig  # noqa: E402

GROUPS = endpoint_path("groups")


def _worker(settings: ClientSettings, go, start_at, seconds: float, out) -> None:  # type: ignore[no-untyped-def]
    with AlocityClient(settings) as client:
        client.tokens.current()
        go.wait(60)
        deadline = start_at.value + seconds
        stamps = []
        while time.time() < deadline:
            client.get(GROUPS)
            stamps.append(time.time())
        out.put({"stamps": stamps, "stats": client.stats.as_dict()})


def max_in_window(stamps: list[float], window: float) -> int:
    best, j = 0, 0
    for i, t in enumerate(stamps):
        while stamps[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def steady_fraction(stamps: list[float], limit: int, window: float) -> float | None:
    """Rate between the first request after the initial burst and the last full multiple of N."""
    m = len(stamps) // limit - 1
    if m < 2:
        return None
    a, b = stamps[limit], stamps[m * limit]
    return ((m - 1) * limit / (b - a)) * window / limit


def run(processes: int, limit: int, window: float, windows: int, margin: float | None) -> dict:
    seconds = windows * window
    with Sandbox(SandboxConfig(preset="tiny", seed=7, rate_limit=f"{limit}/{window:g}s")).serve(0) as sb:
        cache = Path(tempfile.mkdtemp(prefix="alocity-bench-"))
        settings = ClientSettings(
            access_key=sb.access_key,
            base_url=sb.base_url,
            rate_limit=limit,
            rate_window_s=window,
            rate_margin_s=margin,
            cache_dir=cache,
        )
        ctx = mp.get_context("spawn")
        go, start_at, out = ctx.Event(), ctx.Value("d", 0.0), ctx.Queue()
        args = (settings, go, start_at, seconds, out)
        procs = [ctx.Process(target=_worker, args=args) for _ in range(processes)]
        for p in procs:
            p.start()
        time.sleep(2.0)  # imported and logged in
        sb.admin.reset_stats()
        start_at.value = time.time()
        go.set()
        results = [out.get(timeout=seconds + 120) for _ in procs]
        for p in procs:
            p.join(timeout=30)
        server = sb.admin.stats()
    stamps = sorted(t for r in results for t in r["stamps"])
    return {
        "processes": processes,
        "limit": limit,
        "window_s": window,
        "margin_s": settings.margin_s,
        "duration_s": seconds,
        "requests": server["requests_total"],
        "responses_429": server.get("responses_429", 0),
        "fraction_total": round(server["requests_total"] / (seconds / window) / limit, 4),
        "fraction_steady": round(steady_fraction(stamps, limit, window) or 0.0, 4),
        "max_per_window": max_in_window(stamps, window),
        "throttled_seconds": round(sum(r["stats"]["throttled_seconds"] for r in results), 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", default="30/3s")
    ap.add_argument("--windows", type=int, default=10)
    ap.add_argument("--no-margin-run", action="store_true", help="also run 2 processes with margin 0")
    args = ap.parse_args()
    limit, window = parse_rate_limit(args.rate)
    plan: list[tuple[int, float | None]] = [(1, None), (2, None)]
    if args.no_margin_run:
        plan.append((2, 0.0))
    rows = [run(n, limit, window, args.windows, margin) for n, margin in plan]
    header = f"{'procs':>5} {'margin':>7} {'requests':>8} {'429s':>5} {'total':>7} {'steady':>7} {'max/W':>6}"
    print(f"rate limit {limit}/{window:g}s, {args.windows} windows per run")
    print(header)
    for r in rows:
        print(
            f"{r['processes']:>5} {r['margin_s']:>6.2f}s {r['requests']:>8} {r['responses_429']:>5} "
            f"{r['fraction_total']:>7.3f} {r['fraction_steady']:>7.3f} {r['max_per_window']:>6}"
        )
    out = ROOT / "benchmarks" / "results" / "ratelimit.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "rate": args.rate,
                "windows": args.windows,
                "cpus": mp.cpu_count(),
                "python": platform.python_version(),
                "runs": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out.relative_to(ROOT)}")
    ok = all(r["responses_429"] == 0 and r["fraction_steady"] >= 0.95 for r in rows if r["margin_s"] > 0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
