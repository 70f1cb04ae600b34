"""The single Dagster `Definitions` of alocity-etl (loaded by workspace.yaml)."""

from dagster import Definitions

defs = Definitions()
