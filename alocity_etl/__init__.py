"""alocity-etl: a nightly, versioned sync of an Alocity account into DuckDB."""

__version__ = "0.1.0"
