"""Fault matrix: each fault injected into a real sync (Dagster, sandbox on 127.0.0.1), then the
warehouse reconciled against the sandbox's ground truth: 0 rows lost, 0 duplicated, and the
versions written exactly the changes the source made since the previous sync.

The tests share one sandbox and one warehouse and run in file order: each simulates one
day on the sandbox (real changes to version), injects its fault and syncs, so each proves
both the current state and that the previous state is still intact in history.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    VERSIONED,
    each_resource_before_or_applied,
    log_window,
    query,
    sync,
    sync_row,
    version_changes,
)

from alocity_etl.sandbox import RunningSandbox
from tests.support.pipeline import Paths, start_sandbox
from tests.support.reconcile import ground_truth, reconcile_sandbox, snapshot_tables

pytestmark = pytest.mark.reliability

DAYS = 2
WINDOW = log_window(DAYS)
# Every shape of fetch, at a fraction of a full sync's cost: paged listing + detail calls with
# a child table (users, cards), unpaged (groups), paged fan-out (group_members), fan-out by
# query parameter (cloud_keys), windowed events written day by day (access_logs).
SELECT = {"users", "cards", "groups", "group_members", "cloud_keys", "access_logs"}


@dataclass
class Chain:
    sb: RunningSandbox
    paths: Paths
    day: int = 0
    last_ok: tuple[int, datetime, int] | None = None  # (sync_id, started_at, sandbox day)
    truth: dict[int, dict[str, list]] = field(default_factory=dict)
    key: str = ""

    def truth_at(self, day: int) -> dict[str, list]:
        if day not in self.truth:
            self.truth[day] = ground_truth(self.sb.admin, day=day, window=WINDOW)
        return self.truth[day]

    def next_day(self) -> None:
        self.sb.admin.clear_faults()
        self.sb.admin.simulate(days=1)
        self.day = int(self.sb.admin.info()["day"])


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, reliability_report) -> Iterator[Chain]:
    sb = start_sandbox()
    shm = Path("/dev/shm")
    root = (
        Path(tempfile.mkdtemp(prefix="alocity-faults-", dir=shm))
        if shm.is_dir() and os.access(shm, os.W_OK)
        else tmp_path_factory.mktemp("faults")
    )
    paths = Paths(root)
    paths.init_dagster_home()
    c = Chain(sb, paths, key=sb.access_key)
    summary = sync(sb, paths, days=DAYS)
    assert summary.ok, summary.errors
    sync_id, started, _ = sync_row(paths.warehouse, summary.runs[0][1])
    c.last_ok = (sync_id, started, 0)
    try:
        yield c
    finally:
        sb.stop()
        if root.parent == shm:
            shutil.rmtree(root, ignore_errors=True)


def check_reconciled(c: Chain, report, summary, *, versions: bool = True, only=None) -> None:
    """Current state == truth now; previous sync's as-of state == truth then; versions == changes."""
    rec = reconcile_sandbox(c.paths.warehouse, c.sb.admin, window=WINDOW, only=only)
    report.reconciled(rec)
    assert rec.ok, rec.describe()
    assert rec.rows_reconciled > 0
    assert c.last_ok is not None
    _, prev_started, prev_day = c.last_ok
    past = reconcile_sandbox(
        c.paths.warehouse,
        c.sb.admin,
        day=prev_day,
        as_of=prev_started,
        only=[t for t in VERSIONED if not only or t in only],
    )
    report.reconciled(past)
    assert past.ok, "history lost the previous state:\n" + past.describe()
    sync_id, started, _ = sync_row(c.paths.warehouse, summary.runs[0][1])
    if versions:
        written = {
            t: (int(i), int(u), int(d))
            for t, i, u, d in query(
                c.paths.warehouse,
                "SELECT table_name, sum(inserted), sum(updated), sum(deleted) FROM meta.table_syncs "
                "WHERE sync_id = ? GROUP BY 1",
                [sync_id],
            )
        }
        before, now = c.truth_at(prev_day), c.truth_at(c.day)
        for table in VERSIONED:
            if only and table not in only:
                continue
            want = version_changes(before[table], now[table], table)
            got = dict(zip(("inserted", "updated", "deleted"), written.get(table, (0, 0, 0)), strict=True))
            assert got == want, f"{table}: versions written {got}, source changed {want}"
    c.last_ok = (sync_id, started, c.day)


def faulted_sync(c: Chain, report, name: str, faults: dict[str, dict[str, Any]], **kw: Any):
    report.fault(name)
    c.next_day()
    for endpoint, spec in faults.items():
        c.sb.admin.set_faults(endpoint=endpoint, seed=11, **spec)
    c.sb.admin.reset_stats()
    kw.setdefault("key", c.key)
    kw.setdefault("select", SELECT)
    summary = sync(c.sb, c.paths, days=DAYS, **kw)
    stats = c.sb.admin.stats()
    c.sb.admin.clear_faults()
    return summary, stats


# ------------------------------------------------------------------ transient faults: retried


@pytest.mark.parametrize(
    ("name", "faults", "counter"),
    [
        ("429 storm with Retry-After", {"*": {"burst_429": 4, "retry_after": 1}}, "burst_429_injected"),
        ("429 storm without Retry-After", {"*": {"burst_429": 4, "retry_after": None}}, "burst_429_injected"),
        ("5xx at 20%", {"*": {"error_rate": 0.2}}, "5xx_injected"),
        ("connection resets at 15%", {"*": {"reset_rate": 0.15}}, "resets_injected"),
        (
            "timeouts (latency 2s > read timeout 1s on 15% of cloud-key calls; 3% 5xx elsewhere)",
            {"cloud_keys": {"latency_s": 2, "latency_rate": 0.15}, "*": {"error_rate": 0.03}},
            None,
        ),
        (
            "token killed mid-sync by another client",
            {"*": {"invalidate_token_after": 25}},
            "tokens_invalidated",
        ),
    ],
)
def test_transient_fault_loses_and_duplicates_nothing(
    chain: Chain, reliability_report, name: str, faults: dict, counter: str | None
) -> None:
    env = {"ALOCITY_READ_TIMEOUT": "1"} if "timeouts" in name else None
    summary, stats = faulted_sync(chain, reliability_report, name, faults, env=env)
    assert summary.ok, f"{name}: {summary.errors}"
    if counter:
        assert stats[counter] >= 1, f"{name}: the fault never fired: {stats}"
    if "token" in name:
        assert stats["tokens_issued"] >= 2  # the client logged in again and went on
    if "timeouts" in name:
        # Each timed-out call was made again: more cloud-key calls than users.
        users = len(chain.sb.admin.ground_truth(table="users"))
        assert stats["per_endpoint"]["cloud_keys"] > users, stats["per_endpoint"]
    check_reconciled(chain, reliability_report, summary, only=SELECT)


# ------------------------------------------------------------------ faults that fail a resource


def test_key_revoked_mid_sync_fails_cleanly_and_nothing_is_partial(chain: Chain, reliability_report) -> None:
    """The key is revoked (and the token killed) after 30 requests: the resource being fetched
    fails with the "replace the key" message; every resource is exactly as before or fully
    written; after the key is reissued the next sync reconciles."""
    before = snapshot_tables(chain.paths.warehouse)
    summary, stats = faulted_sync(
        chain,
        reliability_report,
        "access key revoked mid-sync",
        {"*": {"revoke_key_after": 30, "invalidate_token_after": 30}},
    )
    assert not summary.ok
    assert stats["keys_revoked"] == 1
    assert any(
        "ALOCITY_ACCESS_KEY" in e and ("inactive" in e or "deactivated" in e) for e in summary.errors
    ), summary.errors
    states = each_resource_before_or_applied(chain.paths.warehouse, before, chain.truth_at(chain.day), WINDOW)
    assert "before" in states.values() and "applied" in states.values(), states
    assert query(chain.paths.warehouse, "SELECT count(*) FROM meta.syncs WHERE status = 'running'") == [(0,)]
    new_key = chain.sb.admin.reissue()
    chain.key = new_key
    summary = sync(chain.sb, chain.paths, days=DAYS, key=new_key, select=SELECT)
    assert summary.ok, summary.errors
    check_reconciled(chain, reliability_report, summary, versions=False, only=SELECT)


def test_malformed_json_page_fails_the_resource_and_the_next_sync_reconciles(
    chain: Chain, reliability_report
) -> None:
    """Decision: a malformed page is not retried (the client's contract); the resource it
    belongs to fails cleanly, keeping its previous state, the other resources are written,
    and the next sync (resuming the pages journaled before the bad one) reconciles."""
    before = snapshot_tables(chain.paths.warehouse)
    summary, stats = faulted_sync(
        chain,
        reliability_report,
        "malformed JSON page",
        {"group_users": {"malformed_next": 1}},
        key=chain.key,
    )
    assert stats["malformed_injected"] == 1
    assert not summary.ok
    assert any("group_members" in e and "malformed" in e for e in summary.errors), summary.errors
    states = each_resource_before_or_applied(chain.paths.warehouse, before, chain.truth_at(chain.day), WINDOW)
    assert states["group_members"] == "before" and states["users"] == "applied", states
    summary = sync(chain.sb, chain.paths, days=DAYS, key=chain.key, select=SELECT)
    assert summary.ok, summary.errors
    check_reconciled(chain, reliability_report, summary, versions=False, only=SELECT)


def test_server_ignoring_the_page_parameter_fails_cleanly(chain: Chain, reliability_report) -> None:
    before = snapshot_tables(chain.paths.warehouse)
    summary, _ = faulted_sync(
        chain,
        reliability_report,
        "server ignores the page parameter",
        {"user_page": {"ignore_paging": True}},
        key=chain.key,
        select={"users", "cards", "cloud_keys"},
    )
    # Page 2 comes back as page 1: the client raises PagingError instead of looping.
    assert not summary.ok
    assert any("users" in e and "ignore the page parameter" in e for e in summary.errors), summary.errors
    states = each_resource_before_or_applied(chain.paths.warehouse, before, chain.truth_at(chain.day))
    assert states["users"] == "before" and states["cloud_keys"] == "before", states
    assert not (chain.paths.warehouse.parent / "w.duckdb.staging" / "users.jsonl").exists()
    summary = sync(chain.sb, chain.paths, days=DAYS, key=chain.key, select=SELECT)
    assert summary.ok, summary.errors
    check_reconciled(chain, reliability_report, summary, versions=False, only=SELECT)


# ------------------------------------------------------------------ schema drift


def schema_changes(c: Chain, summary) -> set[tuple]:
    sync_id, _, _ = sync_row(c.paths.warehouse, summary.runs[0][1])
    return set(
        query(
            c.paths.warehouse,
            "SELECT table_name, column_name, change_kind FROM meta.schema_changes WHERE sync_id = ?",
            [sync_id],
        )
    )


def test_drift_added_field(chain: Chain, reliability_report) -> None:
    summary, _ = faulted_sync(
        chain,
        reliability_report,
        "schema drift: add_field",
        {"user": {"add_field": {"badgeColor": "red"}}},
        key=chain.key,
    )
    assert summary.ok, summary.errors
    assert ("users", "badge_color", "added") in schema_changes(chain, summary)
    assert query(chain.paths.warehouse, "SELECT DISTINCT badge_color FROM main.users") == [("red",)]
    check_reconciled(chain, reliability_report, summary, versions=False, only=SELECT)


def test_drift_dropped_field(chain: Chain, reliability_report) -> None:
    summary, _ = faulted_sync(
        chain,
        reliability_report,
        "schema drift: drop_field",
        {"groups": {"drop_field": ["description"]}},
        key=chain.key,
    )
    assert summary.ok, summary.errors
    assert ("groups", "description", "missing") in schema_changes(chain, summary)
    assert query(chain.paths.warehouse, "SELECT count(*) FROM main.groups WHERE description IS NOT NULL") == [
        (0,)
    ]
    # Everything else reconciles; groups on every column but the dropped one.
    others = sorted(SELECT - {"groups"})
    rec = reconcile_sandbox(chain.paths.warehouse, chain.sb.admin, window=WINDOW, only=others)
    reliability_report.reconciled(rec)
    assert rec.ok, rec.describe()
    truth = {g["id"]: g["name"] for g in chain.sb.admin.ground_truth(table="groups")}
    assert dict(query(chain.paths.warehouse, "SELECT id, name FROM main.groups")) == truth


def test_drift_changed_type(chain: Chain, reliability_report) -> None:
    summary, _ = faulted_sync(
        chain,
        reliability_report,
        "schema drift: change_type",
        {"devices": {"change_type": ["siteId"]}},
        select={"devices"},
    )
    assert summary.ok, summary.errors
    assert ("devices", "site_id", "type_changed") in schema_changes(chain, summary)
    truth = {d["serialNumber"]: str(d["siteId"]) for d in chain.sb.admin.ground_truth(table="devices")}
    assert dict(query(chain.paths.warehouse, "SELECT serial_number, site_id FROM main.devices")) == truth
    names = {d["serialNumber"]: d["name"] for d in chain.sb.admin.ground_truth(table="devices")}
    assert dict(query(chain.paths.warehouse, "SELECT serial_number, name FROM main.devices")) == names
