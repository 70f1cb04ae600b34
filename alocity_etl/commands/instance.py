"""The Dagster instance the CLI runs against: DAGSTER_HOME, defaulting to the repo's dagster_home/."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import DagsterInstance
from filelock import FileLock

REPO_DAGSTER_HOME = Path(__file__).resolve().parents[2] / "dagster_home"


def dagster_instance() -> DagsterInstance:
    if not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = str(REPO_DAGSTER_HOME)
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    # Two commands started together on a new DAGSTER_HOME would both create its SQLite
    # storages (runs, event-log index, schedules) and one fails on the other's tables.
    with FileLock(str(home / ".instance-init.lock"), timeout=120):
        instance = DagsterInstance.get()
        instance.get_runs(limit=1)  # each storage is created by its first query
        instance.get_asset_keys()
        instance.all_instigator_state()
    return instance
