"""A schedule's tick evaluated the way the Dagster daemon evaluates it (public APIs only):
the run it requests, as a job and the tags (and partition) to execute it with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dagster import Definitions, build_schedule_context

# The console stays quiet (a year of runs, and the failures the year provokes, would print
# thousands of lines); every event still reaches the instance, where the year reads it.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
NIGHTLY, INTRADAY = "nightly_sync", "intraday_access_logs"


def _request(defs: Definitions, schedule: str, at: datetime) -> tuple[Any, Any]:
    sched = next(s for s in defs.schedules if s.name == schedule)
    ctx = build_schedule_context(scheduled_execution_time=at, repository_def=defs.get_repository_def())
    (request,) = sched.evaluate_tick(ctx).run_requests
    return defs.resolve_job_def(sched.job_name), request


def nightly_request(defs: Definitions, at: datetime) -> tuple[Any, dict[str, str]]:
    """The job and tags of the run the nightly schedule asks for at `at`."""
    job, request = _request(defs, NIGHTLY, at)
    return job, dict(request.tags)


def intraday_request(defs: Definitions, at: datetime) -> tuple[Any, dict[str, str], str]:
    """The job, tags and partition of the run the intraday schedule asks for at `at`."""
    job, request = _request(defs, INTRADAY, at)
    return job, dict(request.tags), request.partition_key
