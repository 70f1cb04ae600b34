"""The single Dagster `Definitions` of alocity-etl (loaded by workspace.yaml), from the
environment's settings (alocity_etl/settings.py); see defs/build.py."""

from __future__ import annotations

from alocity_etl.defs.build import build_definitions
from alocity_etl.settings import Settings

defs = build_definitions(Settings.from_env())
