"""Analytics models: ``sql/models/<name>.sql`` materialised as ``analytics.<name>`` (no Dagster).

Each model is one plain ``SELECT`` over the ``main`` views / ``history`` tables (or other
models, ``analytics.<name>``), headed by a ``--`` comment saying what it answers. The
tables a model reads are found by parsing it with sqlglot (DuckDB dialect), never listed by
hand: `Model.tables` is what the SQL names, `Model.deps` the catalog tables (= Dagster
assets) behind them, `Model.model_deps` the other models it reads.

`materialise` runs ``CREATE OR REPLACE TABLE analytics.<name> AS <sql>`` for the chosen
models, in dependency order, in ONE transaction: readers see all models of a refresh or none.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import sqlglot
from sqlglot import exp

from alocity_etl.catalog import tables as catalog_tables

MODELS_DIR = Path(__file__).resolve().parents[1] / "sql" / "models"
SCHEMA = "analytics"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Suffixes of the table macros over history.<table> (history.users_as_of(ts), ...).
_MACRO_SUFFIXES = ("_as_of_sync", "_as_of")


class ModelError(ValueError):
    """A model file is not a single plain SELECT, or names something unknown."""


def _parse(sql: str, name: str) -> exp.Expression:
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except sqlglot.errors.ParseError as e:
        raise ModelError(f"model {name}: cannot parse: {str(e).splitlines()[0]}") from None
    if len(statements) != 1:
        raise ModelError(f"model {name}: expected one SELECT statement, found {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        raise ModelError(f"model {name}: must be a plain SELECT, not {tree.key.upper()}")
    return tree


def referenced_tables(sql: str, name: str = "<sql>") -> list[str]:
    """Tables and table macros a query reads, as ``schema.table`` (unqualified -> ``main``),
    sorted; CTE names are left out."""
    tree = _parse(sql, name)
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    out: set[str] = set()
    for t in tree.find_all(exp.Table):
        if isinstance(t.this, exp.Anonymous):  # a table function / macro: history.users_as_of(...)
            tname, schema = t.this.name, t.db
            args = t.this.expressions
            if tname.lower() == "as_of_sync" and args and isinstance(args[0], exp.Literal):
                tname = args[0].name  # history.as_of_sync('users', N) reads history.users
        else:
            tname, schema = t.name, t.db
        if not tname:
            continue
        if not schema and tname.lower() in ctes:
            continue
        out.add(f"{(schema or 'main').lower()}.{tname.lower()}")
    return sorted(out)


def table_asset(qualified: str) -> str | None:
    """The catalog table (Dagster asset name) behind ``schema.table``, or None.

    ``main.users``, ``users``, ``history.users``, ``history.users_as_of`` -> ``users``."""
    schema, _, tname = qualified.rpartition(".")
    schema = schema or "main"
    known = catalog_tables()
    if schema == "history":
        for suffix in _MACRO_SUFFIXES:
            if tname.endswith(suffix) and tname[: -len(suffix)] in known:
                return tname[: -len(suffix)]
    if schema in ("main", "history") and tname in known:
        return tname
    return None


@dataclass(frozen=True)
class Model:
    name: str
    path: Path
    sql: str

    @property
    def description(self) -> str:
        """The header comment (leading ``--`` lines), as one paragraph."""
        lines = []
        for line in self.sql.splitlines():
            s = line.strip()
            if not s.startswith("--"):
                break
            lines.append(s.lstrip("-").strip())
        return " ".join(x for x in lines if x)

    @property
    def body(self) -> str:
        """The SQL without trailing semicolons/whitespace (fit for ``CREATE TABLE ... AS``)."""
        return self.sql.strip().rstrip(";").strip()

    @cached_property
    def tables(self) -> list[str]:
        return referenced_tables(self.sql, self.name)

    @property
    def deps(self) -> list[str]:
        """Catalog tables (Dagster assets) the model reads."""
        return sorted({a for t in self.tables if (a := table_asset(t))})

    @property
    def model_deps(self) -> list[str]:
        """Other models the model reads (``analytics.<name>``)."""
        return sorted(t.split(".", 1)[1] for t in self.tables if t.startswith(f"{SCHEMA}."))

    @property
    def unknown(self) -> list[str]:
        """Tables named that are neither catalog tables nor models nor meta/raw tables."""
        return [
            t
            for t in self.tables
            if table_asset(t) is None and t.split(".")[0] not in (SCHEMA, "meta", "raw", "information_schema")
        ]


def discover(directory: str | os.PathLike[str] = MODELS_DIR) -> list[Model]:
    """Every ``*.sql`` model of the directory, in dependency order (then by name)."""
    found: dict[str, Model] = {}
    for f in sorted(Path(directory).glob("*.sql")):
        if not _NAME.match(f.stem):
            raise ModelError(f"model file {f.name}: name must be lower_snake_case")
        m = Model(f.stem, f, f.read_text(encoding="utf-8"))
        _ = m.tables  # parse now: a broken model fails discovery, in one line
        found[m.name] = m
    for m in found.values():
        missing = [d for d in m.model_deps if d not in found]
        if missing:
            raise ModelError(f"model {m.name} reads {SCHEMA}.{missing[0]}, which is not a model")
        if m.unknown:
            raise ModelError(f"model {m.name} reads {m.unknown[0]}, which is not a warehouse table")
    return _ordered(found)


def _ordered(models: dict[str, Model]) -> list[Model]:
    out: list[Model] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise ModelError(f"models read each other in a cycle: {' -> '.join((*chain, name))}")
        state[name] = 1
        for d in models[name].model_deps:
            visit(d, (*chain, name))
        state[name] = 2
        out.append(models[name])

    for name in sorted(models):
        visit(name, ())
    return out


def select(models: Sequence[Model], names: Iterable[str] | None) -> list[Model]:
    if names is None:
        return list(models)
    wanted = set(names)
    unknown = wanted - {m.name for m in models}
    if unknown:
        raise ModelError(f"unknown model(s): {', '.join(sorted(unknown))}")
    return [m for m in models if m.name in wanted]


@dataclass(frozen=True)
class Materialised:
    name: str
    rows: int
    columns: list[tuple[str, str]]  # (name, DuckDB type)


def materialise_con(con, models: Sequence[Model]) -> dict[str, Materialised]:
    """Create or replace ``analytics.<name>`` for each model, in order, in one transaction."""
    out: dict[str, Materialised] = {}
    con.begin()
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        for m in models:
            con.execute(f'CREATE OR REPLACE TABLE {SCHEMA}."{m.name}" AS\n{m.body}')
            rows = con.execute(f'SELECT count(*) FROM {SCHEMA}."{m.name}"').fetchall()[0][0]
            cols = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [SCHEMA, m.name],
            ).fetchall()
            out[m.name] = Materialised(m.name, int(rows), [(c, t) for c, t in cols])
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return out


def materialise(
    path: str | os.PathLike[str] | None = None,
    names: Iterable[str] | None = None,
    *,
    directory: str | os.PathLike[str] = MODELS_DIR,
    lock_timeout: float = 120.0,
) -> dict[str, Materialised]:
    """Open the warehouse for writing (waiting up to ``lock_timeout`` s for a reader or a
    sync to let go) and materialise the chosen models (default: all) in one transaction."""
    from alocity_etl.warehouse import Warehouse

    chosen = select(discover(directory), names)
    with Warehouse.open(path, lock_timeout=lock_timeout) as wh:
        return materialise_con(wh.con, chosen)
