"""Test-only pause points, inert unless ALOCITY_TEST_PAUSE_AT is set.

The crash-safety suite kills a sync at precise phases that last milliseconds on a small
account (normalising, writing inside the transaction, just after the commit). With
``ALOCITY_TEST_PAUSE_AT=<phase>[:<resource>][:<seconds>]`` (e.g. ``write:users:30``) the
sync prints ``ALOCITY_TEST_PAUSED <phase> <resource>`` on stderr when it reaches that
phase and sleeps there, so the test can kill it at that exact point. Unset (the default),
`pause_at` returns at once and does nothing.
"""

from __future__ import annotations

import os
import sys
import time

ENV = "ALOCITY_TEST_PAUSE_AT"
PHASES = ("normalise", "write", "commit")


def pause_at(phase: str, resource: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    parts = spec.split(":")
    if parts[0] != phase or (len(parts) > 1 and parts[1] and parts[1] != resource):
        return
    seconds = float(parts[2]) if len(parts) > 2 and parts[2] else 60.0
    print(f"ALOCITY_TEST_PAUSED {phase} {resource}", file=sys.stderr, flush=True)
    time.sleep(seconds)
