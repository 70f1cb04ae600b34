"""Analytics on the warehouse (no Dagster, no HTTP): the dbt project in sql/, the data
dictionary and the HTML report.

- `project`: where the dbt project is, the environment dbt runs with (the warehouse path
  reaches dbt in one variable), its manifest prepared when missing or stale, its models.
- `dbt_run`: run ``dbt build`` on a warehouse in this process and read its results.
- `dbt_warehouse`: the dbt-duckdb plugin that attaches the warehouse file.
- `sources`: sql/models/sources.yml generated from the catalog.
- `dictionary`: docs/data_dictionary.md generated from the catalog and the dbt project.
- `report`: the self-contained HTML report (`alocity-etl report`).
"""
