"""`python -m tests.year.night_process ISO_TIME PAUSE_SPEC`: one night's scheduled run, as the
daemon would start it, in its own process (so the year can SIGKILL it mid-write).

The process's clock is the sandbox's (ISO_TIME, ticking from there), as in the year's own
process; the run is the nightly schedule's tick for that time, executed through Dagster's
public APIs with `PausingHooks(PAUSE_SPEC)`, which stop it at the chosen write. The
ALOCITY_* settings come from the environment.
"""

from __future__ import annotations

import sys
from datetime import datetime

import time_machine
from dagster import DagsterInstance

from alocity_etl.defs.build import build_definitions
from alocity_etl.settings import Settings
from tests.support.pausing_hooks import PausingHooks
from tests.year.nights import QUIET, nightly_request


def main(when: str, spec: str) -> int:
    at = datetime.fromisoformat(when)
    with time_machine.travel(at, tick=True), DagsterInstance.ephemeral() as instance:
        defs = build_definitions(Settings.from_env(), PausingHooks(spec))
        job, tags = nightly_request(defs, at)
        result = job.execute_in_process(instance=instance, tags=tags, run_config=QUIET, raise_on_error=False)
        return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
