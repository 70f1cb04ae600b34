"""Run ``dbt build`` on a warehouse in this process and read what it did (no Dagster).

dbt's own programmatic API (``dbtRunner``), not a subprocess: a dbt process spends ~3-4 s
importing and registering its adapter before it parses anything, and dagster-dbt's CLI
resource adds a ``dbt --version`` subprocess and an in-process macro parse (~6 s more,
measured); here dbt's modules load once per process and the project's partial-parse state
(kept per warehouse, see `project.run_target_dir`) makes the parse about a second. dbt's
runner is not re-entrant: one invocation at a time per process. dbt-duckdb keeps its
database (in memory, with the warehouse attached: see dbt_warehouse.py) open for the whole
invocation - re-opening the file per node doubled the run's time - and would keep it open
in this process after it; `_invoke` closes it when dbt returns, so the warehouse is free
for the next step.
"""

from __future__ import annotations

import json
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alocity_etl.analytics.project import (
    FINGERPRINT,
    PROJECT_DIR,
    dbt_env,
    fingerprint,
    is_current,
    manifest_path,
    one_line,
    run_target_dir,
    seed_partial_parse,
)

_ONE_AT_A_TIME = threading.Lock()
# dbt's events that say a node finished (what the log of a run should show).
_NODE_DONE = {"LogModelResult", "LogTestResult", "LogSkipResult", "SkippingDetails"}


class DbtProjectError(RuntimeError):
    """dbt could not parse the project; the message is one line (dbt's own)."""


@dataclass(frozen=True)
class NodeResult:
    unique_id: str
    resource_type: str  # model, test, ...
    name: str
    status: str  # models: success/error/skipped; tests: pass/warn/fail/error/skipped
    message: str  # dbt's message, one line
    failures: int | None  # rows a test found
    seconds: float

    @property
    def failed(self) -> bool:
        return self.status in ("error", "fail", "runtime error")


@dataclass
class BuildResult:
    success: bool
    nodes: list[NodeResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # dbt's error log lines, one line each
    seconds: float = 0.0

    @property
    def models(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.resource_type == "model"]

    @property
    def tests(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.resource_type == "test"]

    def failure(self) -> str | None:
        """What went wrong, in one line: the first failed node and dbt's message for it, else
        dbt's first error (a project that does not parse); None when the build succeeded."""
        if self.success:
            return None
        failed = [n for n in self.nodes if n.failed]
        if failed:
            more = f" (and {len(failed) - 1} more failed)" if len(failed) > 1 else ""
            return f"dbt {failed[0].resource_type} {failed[0].name} failed: {failed[0].message}{more}"
        return f"dbt failed: {self.errors[0] if self.errors else 'no message (see dbt.log)'}"


@contextmanager
def environ(values: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` for the duration (dbt reads its settings from it)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _invoke(
    command: str,
    warehouse: str | os.PathLike[str],
    target: Path,
    extra: list[str],
    on_event: Callable[[Any], None],
    project_dir: Path,
) -> Any:
    from dbt.cli.main import dbtRunner

    args = [
        command,
        "--quiet",
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        str(target),
        "--log-path",
        str(target),
        *extra,
    ]
    with _ONE_AT_A_TIME, environ(dbt_env(warehouse)):
        try:
            return dbtRunner(callbacks=[on_event]).invoke(args)
        finally:
            _close_database()


def _close_database() -> None:
    """Let go of the database dbt-duckdb keeps open in this process (and of the file attached)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    try:
        env = DuckDBConnectionManager.env()
    except Exception:  # no connection was made (e.g. a project that does not parse)
        return
    env.close()


def ensure_manifest(warehouse: str | os.PathLike[str], project_dir: Path = PROJECT_DIR) -> Path:
    """The project's manifest (sql/target/manifest.json), parsed now if missing or stale -
    one parse at a time across processes. A project that does not parse keeps its previous
    manifest, with a warning (the next dbt run then fails on the step, saying why); with
    none, it raises `DbtProjectError`."""
    from filelock import FileLock

    want, manifest, target = fingerprint(project_dir), manifest_path(project_dir), project_dir / "target"
    if is_current(want, project_dir):
        return manifest
    target.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []

    def on_event(event: Any) -> None:
        if event.info.level == "error" and event.info.msg.strip():
            errors.append(one_line(event.info.msg))

    with FileLock(str(target / ".parse.lock")):
        if is_current(want, project_dir):
            return manifest
        done = _invoke("parse", warehouse, target, [], on_event, project_dir)
        if done.success and manifest.exists():
            (target / FINGERPRINT.name).write_text(want)
            return manifest
    if done.exception is not None:
        errors.append(one_line(str(done.exception)))
    message = f"dbt parse of {project_dir} failed: {errors[0] if errors else 'no message'}"
    if manifest.exists():
        warnings.warn(f"{message} (using the previous manifest)", stacklevel=2)
        return manifest
    raise DbtProjectError(message)


def build(
    warehouse: str | os.PathLike[str],
    select: list[str] | None = None,
    dbt_vars: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
    project_dir: Path = PROJECT_DIR,
) -> BuildResult:
    """``dbt build`` (models, then their tests; source tests first) on ``warehouse``: the
    chosen models (default: all, with every test) and ``dbt_vars`` (e.g. ``as_of``). ``log``
    receives one line per finished node and dbt's errors. ``project_dir``: another copy of
    the project (tests)."""
    target = run_target_dir(warehouse)
    seed_partial_parse(target, project_dir)
    # No manifest.json / run_results.json (the results come back as objects; writing and
    # validating the manifest cost ~1 s), and an info-level log file (no SQL text per node).
    args: list[str] = ["--no-write-json", "--log-level-file", "info"]
    if select:
        args += ["--select", *select]
    if dbt_vars:
        args += ["--vars", json.dumps(dict(dbt_vars))]
    errors: list[str] = []

    def on_event(event: Any) -> None:
        info = event.info
        if info.level == "error" and info.msg.strip():
            errors.append(one_line(info.msg))
        if log is not None and (info.name in _NODE_DONE or info.level == "error"):
            log(one_line(info.msg))

    t0 = time.monotonic()
    done = _invoke("build", warehouse, target, args, on_event, project_dir)
    nodes = [_node(r) for r in getattr(done.result, "results", None) or []]
    if done.exception is not None:
        errors.append(one_line(str(done.exception)))
    return BuildResult(done.success, nodes, errors, time.monotonic() - t0)


def _node(r: Any) -> NodeResult:
    node = r.node
    return NodeResult(
        unique_id=node.unique_id,
        resource_type=str(node.resource_type),
        name=node.name,
        status=str(r.status),
        message=one_line(r.message or str(r.status)),
        failures=r.failures,
        seconds=float(r.execution_time or 0.0),
    )


def _build_in_worker(warehouse: str, select: list[str] | None, project_dir: Path) -> BuildResult:
    return build(warehouse, select, project_dir=project_dir)


def build_many(
    warehouses: Mapping[str, str],
    select: list[str] | None = None,
    workers: int | None = None,
    project_dir: Path = PROJECT_DIR,
) -> Iterator[tuple[str, BuildResult]]:
    """``dbt build`` on several warehouses (one per account), each result as it finishes.

    dbt's runner is one build per process at a time and a build is CPU-bound (~4 s for a
    small account), so many accounts are built in worker processes, one per core: 50
    accounts took ~200 s one after another. The workers start fresh (spawn: no copy of this
    process's threads and open files) and load dbt once each."""
    import concurrent.futures
    import multiprocessing

    names = list(warehouses)
    workers = max(1, min(workers or os.cpu_count() or 1, len(names)))
    if workers == 1:
        for name in names:
            yield name, build(warehouses[name], select, project_dir=project_dir)
        return
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(_build_in_worker, warehouses[n], select, project_dir): n for n in names}
        for fut in concurrent.futures.as_completed(futures):
            yield futures[fut], fut.result()
