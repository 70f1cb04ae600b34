"""`alocity-etl demo` (README command 1): a full sync into DuckDB.

Against the configured account when ALOCITY_ACCESS_KEY is set (ALOCITY_BASE_URL: its host), or
the accounts of ALOCITY_ACCOUNTS_FILE;
otherwise against the embedded sandbox (preset `small`), whose rate window is
compressed so the demo shows the rate-limit-aware fetcher at work in under a minute.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack

from alocity_etl.commands.instance import dagster_instance
from alocity_etl.commands.preflight import preflight
from alocity_etl.commands.sync_summary import print_summary
from alocity_etl.defs.runs import run_sync
from alocity_etl.settings import Settings, SettingsError

# 100 requests per 5 s: the real budget's shape, 12x faster, so the demo finishes quickly.
DEMO_RATE_LIMIT = "100/5s"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="small", choices=["tiny", "small", "large"])
    parser.add_argument("--seed", type=int, default=42)


def run(args: argparse.Namespace) -> int:
    try:
        env_settings = Settings.from_env()
    except SettingsError as exc:
        print(f"alocity-etl demo: {exc}", file=sys.stderr)
        return 2
    configured = env_settings.api
    with ExitStack() as stack:
        if env_settings.multi_account:
            print(f"Syncing the accounts of ALOCITY_ACCOUNTS_FILE: {', '.join(env_settings.account_names())}")
        elif configured.access_key:
            print(f"Syncing the account at {configured.base_url}")
        else:
            from alocity_etl.sandbox import Sandbox, SandboxConfig

            sb = stack.enter_context(
                Sandbox(SandboxConfig(preset=args.preset, seed=args.seed, rate_limit=DEMO_RATE_LIMIT)).serve(
                    port=0
                )
            )
            # This process's own environment: the run reads the key through EnvVar, as in the UI.
            os.environ.update(
                ALOCITY_BASE_URL=sb.base_url,
                ALOCITY_ACCESS_KEY=sb.access_key,
                ALOCITY_RATE_LIMIT=DEMO_RATE_LIMIT,
            )
            print(
                f"No ALOCITY_ACCESS_KEY set: syncing the embedded sandbox "
                f"(preset {args.preset}, seed {args.seed}) at {sb.base_url}, rate limit {DEMO_RATE_LIMIT}"
            )
        settings = preflight("demo")
        summary = run_sync(dagster_instance(), settings)  # a plain sync: the access logs catch up
    print_summary(summary, settings.warehouse.path)
    print(
        "\nNext:\n"
        '  query:  .venv/bin/alocity-etl sql "select full_name, count(*) from access_logs group by all"\n'
        "  shell:  .venv/bin/alocity-etl shell\n"
        "  UI:     make ui   (then open http://127.0.0.1:3000)"
    )
    return 0 if summary.ok else 1
