"""dbt-duckdb plugin: the warehouse file attached to dbt's connection as the database ``warehouse``.

sql/profiles.yml opens an in-memory database and names this plugin; the plugin attaches the
file ``ALOCITY_DBT_WAREHOUSE`` names (alocity-etl sets it from its settings right before it
runs dbt; by hand, from sql/, the default warehouse). Why not the profile's ``path``: dbt
keys its partial-parse state and its manifest's relation names on the profile, so a profile
naming the file would make every warehouse (every test's, every benchmark's) re-parse the
whole project, ~5 s, on its first dbt run. The profile stays the same for every warehouse,
and the models and sources live in the database ``warehouse`` (dbt_project.yml, sources.yml).
"""

from __future__ import annotations

import os
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from alocity_etl.analytics.project import WAREHOUSE_DATABASE, WAREHOUSE_VAR

DEFAULT = "../warehouse/alocity.duckdb"  # from sql/, where an analyst runs dbt by hand


class Plugin(BasePlugin):
    def configure_connection(self, conn: Any) -> None:
        path = os.environ.get(WAREHOUSE_VAR) or DEFAULT
        conn.execute(f"ATTACH ? AS {WAREHOUSE_DATABASE}", [path])
