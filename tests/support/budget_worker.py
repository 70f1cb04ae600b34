"""A process that spends an account's request budget for a while (the shared-budget tests).

Run with multiprocessing's spawn: a clean interpreter, as another machine or Dagster's
multiprocess executor would be."""

from __future__ import annotations

import os
import time
from typing import Any

from alocity_etl.catalog import endpoint_path
from alocity_etl.client import AlocityClient, ClientSettings


def spend_budget(
    settings: ClientSettings, login_first: bool, seconds: float, ready: Any, go: Any, start_at: Any, out: Any
) -> None:
    """Say `ready` (logged in first if `login_first`), wait for `go`, then list users as fast as
    the shared budget allows until `start_at + seconds`; put the client's counters (or the
    error) on `out`."""
    try:
        with AlocityClient(settings) as client:
            if login_first:
                client.tokens.current()
            ready.put(os.getpid())
            go.wait(30)
            client.tokens.current()  # all at once when not logged in: one mints for everyone
            deadline = start_at.value + seconds
            while time.time() < deadline:
                for _page in client.iter_pages(endpoint_path("user_page"), page_size=3):
                    if time.time() >= deadline:
                        break
            out.put(client.stats.as_dict())
    except Exception as exc:  # reported to the test, which fails on it
        out.put({"error": f"{type(exc).__name__}: {exc}"})
