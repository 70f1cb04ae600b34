"""Write hooks that stop a sync at one point, so a test can kill it exactly there.

`PausingHooks("write:users:120")` prints ``ALOCITY_TEST_PAUSED write users`` on stderr when
the sync reaches that phase of that resource (see alocity_etl/warehouse/write_hooks.py)
and sleeps there. `python -m tests.support.crash_sync SPEC ARGS...` runs `alocity-etl sync
ARGS...` with them (tests/reliability/test_crash_safety.py).
"""

from __future__ import annotations

import sys
import time

from alocity_etl.warehouse.write_hooks import PHASES, WriteHooks

PAUSED = "ALOCITY_TEST_PAUSED"


class PausingHooks(WriteHooks):
    def __init__(self, spec: str) -> None:
        """`phase[:resource[:seconds]]`, e.g. ``write:users:30`` (default 60 s)."""
        parts = spec.split(":")
        if parts[0] not in PHASES:
            raise ValueError(f"unknown phase {parts[0]!r}; one of {PHASES}")
        self.phase = parts[0]
        self.resource = parts[1] if len(parts) > 1 and parts[1] else None
        self.seconds = float(parts[2]) if len(parts) > 2 and parts[2] else 60.0

    def reached(self, phase: str, resource: str) -> None:
        if phase == self.phase and self.resource in (None, resource):
            print(f"{PAUSED} {phase} {resource}", file=sys.stderr, flush=True)
            time.sleep(self.seconds)
