"""Many accounts side by side on one machine: wall time against the slowest account's API
floor, peak memory of the whole process tree, 429s per account.

One sandbox process serves N+1 accounts of one shape (`alocity-etl sandbox --accounts`),
each with its own key and its own budget at the API's real window (100 requests / 60 s).

1. Peer: the last account alone, as a single account is configured today
   (ALOCITY_ACCESS_KEY), one `alocity-etl sync` process.
2. The other N accounts from an accounts file, one `alocity-etl sync` process (one Dagster
   run: each step syncs every account side by side, each at its own budget).

Both are plain syncs (every table, each account's whole access-log history, the dbt models).
Each account's floor is its requests (counted by the sandbox) / the rate; the headline is
the N-account wall time / the slowest account's floor (target <= 1.5), with peak RSS of the
sync's whole process tree (target <= 3 GB) and 429s summed over accounts (target 0).
Writes benchmarks/results/multi_account.json.

    .venv/bin/python benchmarks/multi_account.py [--accounts 50] [--preset small] [--rate 100/60s] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import CLI, HOST, RssSampler, free_port, table, write_result  # noqa: E402
from benchmarks.api_floor import prepare_dagster_home  # noqa: E402

TARGET_RATIO, TARGET_RSS_MB = 1.5, 3072


def start_sandbox(accounts: int, preset: str, rate: str, seed: int) -> tuple[subprocess.Popen, str]:
    from alocity_etl.sandbox import SandboxAdmin

    port = free_port()
    cmd = [CLI, "sandbox", "--accounts", str(accounts), "--preset", preset, "--rate-limit", rate]
    cmd += ["--port", str(port), "--seed", str(seed)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 300
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"sandbox exited: {proc.stderr.read() if proc.stderr else ''}")
        admin = SandboxAdmin(base)
        try:
            admin.accounts()
            return proc, base
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
        finally:
            admin.close()


def run_sync(env: dict[str, str], log: Path) -> tuple[float, float, int]:
    """One `alocity-etl sync` process: (wall seconds, peak RSS of its tree in MB, exit code)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ALOCITY_", "DAGSTER_"))}
    t0 = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen([CLI, "sync"], env={**base, **env}, stdout=out, stderr=subprocess.STDOUT)
        with RssSampler(proc.pid, interval=0.2) as rss:
            code = proc.wait()
    return time.monotonic() - t0, rss.peak_mb, code


def account_stats(base: str, name: str) -> dict[str, Any]:
    from alocity_etl.sandbox import SandboxAdmin

    admin = SandboxAdmin(base, account=name)
    try:
        return admin.stats()
    finally:
        admin.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=50)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--rate", default="100/60s")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, help="ALOCITY_ACCOUNT_RUNS of the N-account sync")
    args = ap.parse_args()
    from alocity_etl.client.settings import parse_rate_limit
    from alocity_etl.sandbox import SandboxAdmin
    from alocity_etl.sandbox.tenants import accounts_toml, key_env

    limit, window = parse_rate_limit(args.rate)
    rate = limit / window
    tmp = Path(tempfile.mkdtemp(prefix="alocity-bench-accounts-"))
    sandbox, base = start_sandbox(args.accounts + 1, args.preset, args.rate, args.seed)
    try:
        admin = SandboxAdmin(base)
        keys = {a["name"]: a["accessKey"] for a in admin.accounts()}
        admin.close()
        names = sorted(keys)
        peer, many = names[-1], names[:-1]
        common = {"ALOCITY_RATE_LIMIT": args.rate, "ALOCITY_CACHE_DIR": str(tmp / "cache")}

        # 1. The peer: one account, configured as a single account is.
        prepare_dagster_home(tmp / "dh-one")
        one_env = {
            **common,
            "DAGSTER_HOME": str(tmp / "dh-one"),
            "ALOCITY_BASE_URL": base,
            "ALOCITY_ACCESS_KEY": keys[peer],
            "ALOCITY_WAREHOUSE": str(tmp / "one" / "alocity.duckdb"),
        }
        print(f"peer: {peer} alone at {args.rate} ...", flush=True)
        one_wall, one_rss, one_code = run_sync(one_env, tmp / "one.log")
        one_stats = account_stats(base, peer)
        assert one_code == 0, (tmp / "one.log").read_text()[-3000:]

        # 2. N accounts from an accounts file, one command.
        from alocity_etl.sandbox.config import SandboxConfig

        configs = {n: SandboxConfig(preset=args.preset, rate_limit=args.rate) for n in many}
        (tmp / "accounts.toml").write_text(accounts_toml(base, configs))
        prepare_dagster_home(tmp / "dh-many")
        many_env = {
            **common,
            "DAGSTER_HOME": str(tmp / "dh-many"),
            "ALOCITY_ACCOUNTS_FILE": str(tmp / "accounts.toml"),
            "ALOCITY_WAREHOUSE": str(tmp / "many" / "unused.duckdb"),
            **{key_env(n): keys[n] for n in many},
            **({"ALOCITY_ACCOUNT_RUNS": str(args.runs)} if args.runs else {}),
        }
        print(f"{len(many)} accounts side by side at {args.rate} each ...", flush=True)
        wall, rss, code = run_sync(many_env, tmp / "many.log")
        stats = {n: account_stats(base, n) for n in many}
        assert code == 0, (tmp / "many.log").read_text()[-3000:]
        sandbox_rss = RssSampler(sandbox.pid)
        with sandbox_rss:
            time.sleep(0.3)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)

    requests = {n: int(s["requests_total"]) for n, s in stats.items()}
    r429 = {n: int(s.get("responses_429", 0)) for n, s in stats.items()}
    floors = {n: r / rate for n, r in requests.items()}
    slowest = max(floors, key=floors.__getitem__)
    one_requests = int(one_stats["requests_total"])
    ratio = wall / floors[slowest]
    per_account_vs_one = sorted(round(r / one_requests, 3) for r in requests.values())
    table(
        [
            ("one account alone", 1, one_requests, round(one_requests / rate, 1), round(one_wall, 1),
             round(one_wall / (one_requests / rate), 3), one_rss, int(one_stats.get("responses_429", 0))),
            (f"{len(many)} accounts", len(many), max(requests.values()), round(floors[slowest], 1),
             round(wall, 1), round(ratio, 3), rss, sum(r429.values())),
        ],
        ("run", "accounts", "requests (max)", "floor_s", "wall_s", "wall/floor", "peak_rss_mb", "429s"),
    )  # fmt: skip
    ok = ratio <= TARGET_RATIO and rss <= TARGET_RSS_MB and sum(r429.values()) == 0
    print(
        f"{len(many)} accounts: wall {wall:.0f} s = {ratio:.3f} x the slowest account's floor "
        f"({slowest}: {requests[slowest]} requests = {floors[slowest]:.0f} s at {args.rate}); "
        f"peak RSS {rss:.0f} MB; 429s {sum(r429.values())}; requests per account vs one alone "
        f"{per_account_vs_one[0]}-{per_account_vs_one[-1]}  ->  {'MET' if ok else 'MISSED'}"
    )
    write_result(
        "multi_account",
        {
            "accounts": len(many),
            "wall_vs_slowest_floor": round(ratio, 4),
            "peak_rss_mb": rss,
            "responses_429": sum(r429.values()),
            "targets": {
                "wall_vs_slowest_floor": TARGET_RATIO,
                "peak_rss_mb": TARGET_RSS_MB,
                "responses_429": 0,
            },
            "met": ok,
            "preset": args.preset,
            "rate_limit": args.rate,
            "account_runs": args.runs or "default (ALOCITY_ACCOUNT_RUNS)",
            "wall_s": round(wall, 1),
            "slowest_account": slowest,
            "slowest_floor_s": round(floors[slowest], 1),
            "peak_rss_mb_sandbox": sandbox_rss.peak_mb,
            "single_account": {
                "account": peer,
                "requests": one_requests,
                "wall_s": round(one_wall, 1),
                "floor_s": round(one_requests / rate, 1),
                "wall_vs_floor": round(one_wall / (one_requests / rate), 4),
                "peak_rss_mb": one_rss,
                "responses_429": int(one_stats.get("responses_429", 0)),
            },
            "requests_per_account": requests,
            "requests_vs_single_account": {"min": per_account_vs_one[0], "max": per_account_vs_one[-1]},
            "responses_429_per_account": r429,
            "path": "alocity-etl sync with ALOCITY_ACCOUNTS_FILE (one process, one Dagster run)",
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
