"""Reader vs writer on the one DuckDB file: what an analyst and a sync see of each other.

1. writer_wait: an analyst runs a ~2 s query with `alocity-etl sql` (a separate process,
   read-only); meanwhile the pipeline opens the file for writing as `sync_resource` does
   (`Warehouse.open(..., lock_timeout=pipeline.LOCK_TIMEOUT_S)`). How long does it wait?
2. reader_during_sync: a full sync of the sandbox (preset small, in its own process) while
   this process runs a read-only query every 0.25 s through `alocity-etl sql`'s open path
   (`open_warehouse`, lock timeout 60 s). How many queries waited, how long, any failures?

    .venv/bin/python benchmarks/reader_writer.py      # prints the figures, writes results/reader_writer.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CLI = str(Path(sys.executable).with_name("alocity-etl"))


def sync(path: str, preset: str, rate: str = "100000/1s") -> None:
    """A full sync (every resource in catalog order, 3 days of access logs) of a fresh sandbox,
    the client keeping to ``rate`` (the demo's 100/5s: the real budget's shape, 12x faster)."""
    from alocity_etl.catalog import CATALOG, WriteMode
    from alocity_etl.client import AlocityClient, ClientSettings
    from alocity_etl.sandbox import Sandbox, SandboxConfig
    from alocity_etl.sync.pipeline import finish_run, sync_resource

    with Sandbox(SandboxConfig(preset=preset, seed=7, rate_limit="none")).serve(port=0) as sb:
        cache = tempfile.mkdtemp()
        settings = ClientSettings.from_values(
            base_url=sb.base_url, access_key=sb.access_key, rate_limit=rate, cache_dir=cache
        )
        run = f"bench-{time.time()}"
        with AlocityClient(settings) as client:
            for res in CATALOG:
                window = None
                if res.write_mode is WriteMode.APPEND:
                    now = sb.admin.clock()
                    window = (now - timedelta(days=3), now)
                sync_resource(client, path, res, run_id=run, window=window, log=lambda _m: None)
        finish_run(path, run, True, 0)


def holds(pid: int, path: str) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == path for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def writer_wait(path: str, rows: int) -> dict[str, float]:
    from alocity_etl.sync.pipeline import LOCK_TIMEOUT_S
    from alocity_etl.warehouse import Warehouse

    query = f"SELECT sum(hash(i)) AS s FROM range({rows}) t(i), (SELECT count(*) FROM main.users)"
    t_start = time.monotonic()
    reader = subprocess.Popen([CLI, "sql", "--warehouse", path, query], stdout=subprocess.PIPE, text=True)
    while not holds(reader.pid, path):
        if reader.poll() is not None:
            raise RuntimeError("the reader finished before it was seen holding the file")
        time.sleep(0.005)
    t_held = time.monotonic()
    with Warehouse.open(path, lock_timeout=LOCK_TIMEOUT_S):
        t_got = time.monotonic()
    reader.wait()
    t_end = time.monotonic()
    out = reader.stdout.read() if reader.stdout else ""
    query_s = float(out.rsplit("(", 1)[1].split("s)")[0]) if "s)" in out else float("nan")
    return {
        "reader_query_seconds": round(query_s, 2),
        "writer_waited_seconds": round(t_got - t_held, 2),
        "reader_process_seconds": round(t_end - t_start, 2),
    }


def reader_during_sync(path: str, preset: str) -> dict[str, float]:
    from alocity_etl.commands.sql import open_warehouse

    writer = subprocess.Popen([sys.executable, __file__, "--sync-only", path, preset, "100/5s"])
    while not Path(path).exists() and writer.poll() is None:
        time.sleep(0.05)
    latencies: list[float] = []
    waits: list[str] = []
    failures: list[str] = []
    t0 = time.monotonic()
    while writer.poll() is None:
        t = time.monotonic()
        try:
            with open_warehouse(path, write=False, lock_timeout=60, notify=waits.append) as wh:
                wh.con.execute("SELECT count(*) FROM main.access_logs").fetchall()
            latencies.append(time.monotonic() - t)
        except Exception as e:
            failures.append(str(e).splitlines()[0])
        time.sleep(0.25)
    sync_s = time.monotonic() - t0
    waited = [x for x in latencies if x > 0.2]
    got = [float(w.split("after ")[1].rstrip("s")) for w in waits if w.startswith("got")]
    return {
        "sync_seconds": round(sync_s, 1),
        "sync_ok": writer.returncode == 0,
        "queries": len(latencies),
        "queries_that_waited": len(got),
        "max_wait_seconds": round(max(got), 2) if got else 0.0,
        "median_query_seconds": round(sorted(latencies)[len(latencies) // 2], 3) if latencies else None,
        "max_query_seconds": round(max(latencies), 2) if latencies else None,
        "slow_queries_over_0_2s": len(waited),
        "failures": len(failures),
        "first_failure": failures[0] if failures else None,
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--sync-only":
        sync(sys.argv[2], sys.argv[3], sys.argv[4])
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "alocity.duckdb")
        sync(path, "tiny")
        results = {"writer_wait": [writer_wait(path, 250_000_000) for _ in range(3)]}
        results["reader_during_sync"] = reader_during_sync(str(Path(tmp) / "small.duckdb"), "small")
    print(json.dumps(results, indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reader_writer.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
