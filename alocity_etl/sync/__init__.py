"""Syncs: one resource from the API to the warehouse (dimensions: sync/pipeline.py; access
logs: sync/events.py), with the pieces they run on. No Dagster here."""
