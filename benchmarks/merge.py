"""Cost of the SCD2 merge against a plain table copy of the same data.

For each size N (default 100k, 1M, 5M rows) a `users`-shaped dimension is loaded into a
fresh warehouse (`merge_versioned`, the initial load), then a second snapshot with 1% of
the rows changed (last_name) is merged with `merge_versioned` - the measured merge. The
baseline is a plain copy of the same second snapshot: `CREATE TABLE ... AS SELECT * FROM
df` from the same DataFrame. ratio = merge seconds / copy seconds.

5M runs only when the 1M merge took under --max-1m-s seconds (so the whole benchmark
stays within a couple of minutes on a small machine); otherwise it is reported as
skipped. Writes benchmarks/results/merge.json.

    .venv/bin/python benchmarks/merge.py [--sizes 100000,1000000,5000000] [--max-1m-s 20]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks._common import table, write_result  # noqa: E402

CHANGED_SHARE = 0.01


def make_users(n: int, seed: int = 1) -> pd.DataFrame:
    """A users-shaped frame (the warehouse columns of main.users), vectorised."""
    rng = np.random.default_rng(seed)
    hexes = rng.integers(0, 2**63 - 1, size=(n, 2), dtype=np.int64)
    a = pd.Series(hexes[:, 0]).map("{:016x}".format)
    b = pd.Series(hexes[:, 1]).map("{:016x}".format)
    ids = a.str[:8] + "-" + a.str[8:12] + "-4" + a.str[13:16] + "-8" + b.str[1:4] + "-" + b.str[4:16]
    first = pd.Series(
        np.array(["Ana", "Luis", "Maria", "John", "Wei", "Sara", "Omar", "Eva"])[rng.integers(0, 8, n)]
    )
    last = pd.Series(np.array(["Garcia", "Smith", "Chen", "Lopez", "Khan", "Brown"])[rng.integers(0, 6, n)])
    idx = pd.Series(np.arange(n)).astype(str)
    created = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 3e7, n), unit="s")
    return pd.DataFrame(
        {
            "id": ids.astype(object),
            "email": ("user" + idx + "@example.com").astype(object),
            "first_name": first.astype(object),
            "last_name": last.astype(object),
            "full_name": (first + " " + last).astype(object),
            "locale_iso2": pd.Series(np.where(rng.random(n) < 0.3, "es", "en")).astype(object),
            "mobile_credential": pd.Series([None] * n, dtype=object),
            "phone_number": ("+1786" + idx.str.zfill(7)).astype(object),
            "has_enrolled_face": rng.random(n) < 0.5,
            "created_at": pd.Series(created).astype("datetime64[us, UTC]"),
        }
    )


def run_size(n: int) -> dict:
    import duckdb

    from alocity_etl.warehouse import Warehouse, merge_versioned

    df0 = make_users(n)
    df1 = df0.copy()
    rng = np.random.default_rng(2)
    changed = rng.choice(n, size=max(1, int(n * CHANGED_SHARE)), replace=False)
    df1.loc[changed, "last_name"] = "Changed"
    tmp = Path(tempfile.mkdtemp(prefix="alocity-bench-merge-"))
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with Warehouse.open(tmp / "wh.duckdb") as wh:
        started = time.perf_counter()
        first = merge_versioned(wh.con, "users", df0, 1, t0)
        initial_s = time.perf_counter() - started
        started = time.perf_counter()
        second = merge_versioned(wh.con, "users", df1, 2, t0 + timedelta(days=1))
        merge_s = time.perf_counter() - started
        versions = wh.con.execute("SELECT count(*) FROM history.users").fetchone()[0]
    # Baseline: a plain copy of the same DataFrame, in its own file.
    con = duckdb.connect(str(tmp / "copy.duckdb"))
    con.register("df1", df1)
    started = time.perf_counter()
    con.execute("CREATE TABLE users_copy AS SELECT * FROM df1")
    copy_s = time.perf_counter() - started
    con.close()
    assert first.inserted == n and second.updated == len(changed), (first, second)
    del df0, df1
    gc.collect()
    return {
        "rows": n,
        "changed": len(changed),
        "initial_load_s": round(initial_s, 3),
        "merge_s": round(merge_s, 3),
        "copy_s": round(copy_s, 3),
        "ratio": round(merge_s / copy_s, 2),
        "history_rows_after": int(versions),
        "stats": second.as_dict(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000,5000000")
    ap.add_argument("--max-1m-s", type=float, default=20.0, help="skip 5M if the 1M merge took longer")
    args = ap.parse_args()
    rows, skipped = [], []
    for n in (int(s) for s in args.sizes.split(",")):
        if n >= 5_000_000:
            at_1m = next((r for r in rows if r["rows"] == 1_000_000), None)
            if at_1m is None or (at_1m["merge_s"] + at_1m["initial_load_s"]) > args.max_1m_s:
                skipped.append({"rows": n, "why": f"1M merge + load took over {args.max_1m_s:g}s"})
                continue
        print(f"merging {n:,} rows ...", flush=True)
        rows.append(run_size(n))
    print("SCD2 merge_versioned (1% changed) vs CREATE TABLE AS SELECT of the same DataFrame")
    table(
        [(r["rows"], r["changed"], r["initial_load_s"], r["merge_s"], r["copy_s"], r["ratio"]) for r in rows],
        ("rows", "changed", "initial_load_s", "merge_s", "copy_s", "merge/copy"),
    )
    for s in skipped:
        print(f"skipped {s['rows']:,}: {s['why']}")
    write_result(
        "merge",
        {
            "changed_share": CHANGED_SHARE,
            "sizes": rows,
            "skipped": skipped,
            "ratio": {str(r["rows"]): r["ratio"] for r in rows},
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
