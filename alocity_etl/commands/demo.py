"""`alocity-etl demo` (README command 1): a full sync into DuckDB.

Against the real account when ALOCITY_ACCESS_KEY and ALOCITY_BASE_URL are set;
otherwise against the embedded sandbox (preset `small`), whose rate window is
compressed so the demo shows the rate-limit-aware fetcher at work in under a minute.
"""

from __future__ import annotations

import argparse
import os
from contextlib import ExitStack

from alocity_etl.commands.instance import dagster_instance
from alocity_etl.commands.preflight import preflight
from alocity_etl.sync_runner import print_summary, run_sync

# 100 requests per 5 s: the real budget's shape, 12x faster, so the demo finishes quickly.
DEMO_RATE_LIMIT = "100/5s"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="small", choices=["tiny", "small", "large"])
    parser.add_argument("--seed", type=int, default=42)


def run(args: argparse.Namespace) -> int:
    real = bool(os.environ.get("ALOCITY_ACCESS_KEY") and os.environ.get("ALOCITY_BASE_URL"))
    with ExitStack() as stack:
        if real:
            print(f"Syncing the account at {os.environ['ALOCITY_BASE_URL']}")
        else:
            from alocity_etl.sandbox import Sandbox, SandboxConfig

            sb = stack.enter_context(
                Sandbox(SandboxConfig(preset=args.preset, seed=args.seed, rate_limit=DEMO_RATE_LIMIT)).serve(
                    port=0
                )
            )
            os.environ.update(
                ALOCITY_BASE_URL=sb.base_url,
                ALOCITY_ACCESS_KEY=sb.access_key,
                ALOCITY_RATE_LIMIT=DEMO_RATE_LIMIT,
            )
            print(
                f"No ALOCITY_ACCESS_KEY/ALOCITY_BASE_URL set: syncing the embedded sandbox "
                f"(preset {args.preset}, seed {args.seed}) at {sb.base_url}, rate limit {DEMO_RATE_LIMIT}"
            )
        settings = preflight("demo")
        summary = run_sync(dagster_instance(), settings)  # a plain sync: the access logs catch up
    print_summary(summary, settings.warehouse)
    print(
        "\nNext:\n"
        '  query:  .venv/bin/alocity-etl sql "select full_name, count(*) from access_logs group by all"\n'
        "  shell:  .venv/bin/alocity-etl shell\n"
        "  UI:     make ui   (then open http://127.0.0.1:3000)"
    )
    return 0 if summary.ok else 1
