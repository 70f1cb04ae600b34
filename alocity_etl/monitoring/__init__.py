"""Monitoring: when the access key expires, and the alerts about it and failed runs. No Dagster."""
