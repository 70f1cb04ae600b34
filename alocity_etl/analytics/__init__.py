"""Analytics on the warehouse (no Dagster): the dbt project in sql/ and the HTML report.

- `project`: where the dbt project is, the environment dbt runs with (the warehouse path
  reaches dbt in one variable), its manifest prepared when missing or stale, its models.
- `dbt_run`: run dbt on a warehouse as a subprocess and read its results (tests, scripts).
- `sources`: sql/models/sources.yml generated from the catalog.
- `report`: the self-contained HTML report (`alocity-etl report`).
"""
