"""`python -m tests.support.crash_sync PAUSE_SPEC SYNC_ARGS...`: `alocity-etl sync SYNC_ARGS...`
(the same command, the same run) with `PausingHooks(PAUSE_SPEC)`, for the crash-safety tests."""

from __future__ import annotations

import sys

from alocity_etl.cli import build_parser
from alocity_etl.commands import sync
from tests.support.pausing_hooks import PausingHooks

if __name__ == "__main__":
    spec, *args = sys.argv[1:]
    parsed = build_parser("sync").parse_args(["sync", *args])
    sys.exit(sync.run(parsed, hooks=PausingHooks(spec)))
