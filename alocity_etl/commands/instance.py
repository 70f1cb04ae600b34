"""The Dagster instance the CLI runs against: DAGSTER_HOME, defaulting to the repo's dagster_home/."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import DagsterInstance

REPO_DAGSTER_HOME = Path(__file__).resolve().parents[2] / "dagster_home"


def dagster_instance() -> DagsterInstance:
    if not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = str(REPO_DAGSTER_HOME)
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    return DagsterInstance.get()
