"""Dagster glue: thin wrappers that derive assets, jobs and schedules from the catalog."""
