"""Drive a simulated year (tests/year/year_plan.py) against a sandbox on 127.0.0.1 and check
the warehouse every simulated morning; returns the figures of reports/year.json.

Time: the sandbox's clock is frozen and moved by `simulate` (the account lives through
the hours); this process's clock is the sandbox's while a run or a tick executes
(time-machine, ticking from the simulated instant), as on a machine whose clock agrees
with the API's. DuckDB keeps its own clock, so versions are stamped with the real time of
each sync: a past state is found by the start time of the sync that saw it.

Each night is what the Dagster daemon would do: the nightly schedule's tick evaluated for
02:00 (`build_schedule_context` on `build_definitions(settings)`), and the run it requests
executed in process with the request's tags (or, the night of the SIGKILL, in a subprocess
killed at a write). The key-expiry sensor ticks daily with an injected clock and posts to
a webhook receiver on 127.0.0.1; the intraday schedule ticks on some afternoons.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import time_machine
from dagster import DagsterInstance, build_sensor_context

from alocity_etl.analytics.dbt_run import environ
from alocity_etl.defs.build import build_definitions
from alocity_etl.defs.runs import SyncSummary, collect_run
from alocity_etl.defs.sensors import build_access_key_sensor
from alocity_etl.sandbox import RunningSandbox, Sandbox, SandboxConfig
from alocity_etl.settings import Settings
from tests.support.pausing_hooks import PAUSED
from tests.support.pipeline import REPO, Paths
from tests.support.reconcile import Reconciliation, canonical, reconcile, table_spec, versioned_tables
from tests.support.warehouse_text import table_rows_as_text
from tests.year.models import RECHECK_DAYS, SETTLE_DAYS, EventModel, VersionModel, values
from tests.year.nights import QUIET, intraday_request, nightly_request
from tests.year.year_plan import KILL, YearPlan

START = datetime(2027, 1, 4, tzinfo=UTC)  # night 1 is a Tuesday; any date replays the same
RATE = "100/0.2s"  # the account's 100 requests per minute, 300x faster
BACKOFF = "0.002"  # the first retry's wait, 0.5 s compressed as the window is
PAGE = 50
SPLIT = 500  # access-log events per page of the truth checked (one request each)
KILL_AT = "write:groups:120"  # the SIGKILL night stops there (after the users, before the logs)
DRIFT_RULES = {
    "add": ("user", {"add_field": {"badgeColor": "blue"}}),  # users gain a field
    "type": ("devices", {"change_type": ["siteId"]}),  # a number becomes a string
    "drop": ("groups", {"drop_field": ["description"]}),  # a field stops coming
}
FAULT_RULES = {
    "5xx storm": {"error_rate": 0.12},
    "429 storm": {"burst_429": 8, "retry_after": 0},
    "connection resets": {"reset_rate": 0.12},
    "token invalidated mid-sync": {"invalidate_token_after": 40},
}
FAULT_COUNTERS = {
    "5xx storm": "5xx_injected",
    "429 storm": "burst_429_injected",
    "connection resets": "resets_injected",
    "token invalidated mid-sync": "tokens_invalidated",
}
VERSIONED = versioned_tables()
TOKENY = re.compile(r"[A-Za-z0-9_\-]{16,}")  # a key, or one part of a JWT


class YearFailure(AssertionError):
    """A morning check failed: says which night and what differs."""


# ------------------------------------------------------------------ things the year listens to


class Webhook:
    """A Slack-style webhook on 127.0.0.1 that keeps every post with the day it came on."""

    def __init__(self) -> None:
        self.posts: list[tuple[int, str]] = []
        self.day = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.posts.append((outer.day, json.loads(body).get("text", "")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/year"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class LogTap(logging.Handler):
    """Every log record of this process (the product's loggers, Dagster's), for the secret scan."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(record.getMessage())
        except Exception:  # a record whose arguments do not format is still no leak
            self.lines.append(str(record.msg))


# ------------------------------------------------------------------ the report


@dataclass
class Figures:
    nights: int = 0
    nights_run: int = 0
    nights_missed: int = 0
    nights_failed: list[dict[str, Any]] = field(default_factory=list)
    intraday_runs: int = 0
    rows_reconciled: int = 0
    versions_reconciled: int = 0
    rows_lost: int = 0
    rows_duplicated: int = 0
    rows_mismatched: int = 0
    rows_unexpected: int = 0
    mornings_checked: int = 0
    as_of_checks: int = 0
    secret_leaks: int = 0
    secret_places_scanned: int = 0
    warnings_expected: list[int] = field(default_factory=list)
    warnings_sent: list[int] = field(default_factory=list)
    late_events_injected: int = 0
    late_beyond_window_injected: int = 0
    late_beyond_window_repaired: int = 0
    late_beyond_window_days_to_repair: list[int] = field(default_factory=list)
    late_outstanding_max: int = 0
    faults: Counter = field(default_factory=Counter)
    fault_nights: Counter = field(default_factory=Counter)
    requests: int = 0
    requests_clean_nights: int = 0
    minimum_clean_nights: int = 0
    responses_429: int = 0
    rechecks: int = 0
    schema_changes: list[str] = field(default_factory=list)
    seconds_runs: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def add(self, rec: Reconciliation) -> None:
        self.rows_reconciled += rec.rows_reconciled
        self.rows_lost += rec.rows_lost
        self.rows_duplicated += rec.rows_duplicated
        self.rows_mismatched += rec.rows_mismatched
        self.rows_unexpected += rec.rows_unexpected


# ------------------------------------------------------------------ the year


class Year:
    def __init__(self, plan: YearPlan, root: Path, progress=lambda m: None) -> None:
        self.plan, self.root, self.say = plan, root, progress
        self.paths = Paths(root)
        self.paths.init_dagster_home()
        start = START
        self.sb: RunningSandbox = Sandbox(
            SandboxConfig(
                preset="tiny",
                seed=plan.seed,
                start=start,
                rate_limit=RATE,
                freeze_clock=True,
                key_created_at=start + timedelta(days=plan.key_created_day),
            )
        ).serve(port=0)
        self.admin = self.sb.admin
        # A fresh connection per admin call: a kept-alive one the server closed while a run
        # went on (its idle timeout) would be reset on reuse.
        self.admin.session.headers["Connection"] = "close"
        self.webhook = Webhook()
        self.tap = LogTap()
        self.instance = DagsterInstance.ephemeral()
        self.key = self.sb.access_key
        self.key_created = start + timedelta(days=plan.key_created_day)
        self.events = EventModel(PAGE)
        self.versions = VersionModel()
        self.uploads: dict[str, datetime] = {}  # late event id -> when it arrived
        self.beyond: dict[str, int] = {}  # late event id beyond the settle window -> day uploaded
        self.observed: dict[str, int] = {}  # table -> the last night a sync wrote it
        self.observations: list[tuple[int, datetime, list[str]]] = []  # (night, sync start, tables)
        self.truth_cache: dict[tuple[int, str], list[dict[str, Any]]] = {}  # (past day, table) -> rows
        self.type_changed = False
        self.sensor_cursor: str | None = None
        self.fig = Figures(nights=plan.nights, warnings_expected=plan.warning_days())
        self.scanned_log_lines = 0
        self.kill_output = ""

    # -- environment -----------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        return self.paths.env(
            self.sb,
            ALOCITY_ACCESS_KEY=self.key,
            ALOCITY_ACCESS_KEY_CREATED_AT=self.key_created.isoformat(),
            ALOCITY_RATE_LIMIT=RATE,
            ALOCITY_PAGE_SIZE=str(PAGE),
            ALOCITY_ACCESS_LOG_SETTLE_DAYS=str(SETTLE_DAYS),
            ALOCITY_ACCESS_LOG_RECHECK_DAYS=str(RECHECK_DAYS),
            ALOCITY_INTRADAY_SYNC="on",
            ALOCITY_ALERT_WEBHOOK_URL=self.webhook.url,
            ALOCITY_SYNC_WAIT_S="30",
            ALOCITY_RETRY_BACKOFF_S=BACKOFF,
        )

    def now(self) -> datetime:
        return self.admin.clock()

    def advance_to(self, day: int, hour: int) -> None:
        target = START + timedelta(days=day, hours=hour)
        hours = (target - self.now()) / timedelta(hours=1)
        assert hours >= 0, (day, hour)
        if hours:
            self.admin.simulate(days=0, hours=hours)

    # -- the year --------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        product = logging.getLogger("alocity_etl")
        product.addHandler(self.tap)
        level = product.level
        product.setLevel(logging.DEBUG)
        try:
            for day in range(0, self.plan.nights + 1):
                if day >= 1:
                    self.advance_to(day, 2)
                    self.night(day)
                if day == self.plan.nights:
                    break
                self.daytime(day)
            self.final_checks()
            return self.report()
        finally:
            product.removeHandler(self.tap)
            product.setLevel(level)

    def close(self) -> None:
        self.webhook.close()
        self.sb.stop()
        self.instance.dispose()

    def daytime(self, day: int) -> None:
        plan = self.plan
        self.webhook.day = day
        on = not plan.day_off(day)
        self.advance_to(day, 9)
        if on:
            self.sensor_tick()
        self.advance_to(day, 10)
        portal = self.admin.keys()  # the Integration card's list
        if day == plan.switch_day:  # the renewed key, from the portal, with its creation date
            self.set_key(next(k for k in portal if k["origin"] == "renewal" and k["usable"]))
        if day == plan.new_key_day:
            self.set_key(next(k for k in portal if k["origin"] == "reissue" and k["usable"]))
        self.advance_to(day, 12)
        if day == plan.reissue_day:
            self.admin.reissue()
        for up in plan.uploads.get(day, []):
            for row in self.admin.upload_late(up.count, up.back):
                self.uploads[row["id"]] = canonical(row["uploadedAt"], "TIMESTAMPTZ")
                self.fig.late_events_injected += 1
                if up.back > SETTLE_DAYS:
                    self.fig.late_beyond_window_injected += 1
                    self.beyond[row["id"]] = day
        if on and day in plan.intraday:
            self.advance_to(day, 14)
            self.intraday()

    def set_key(self, key: dict[str, Any]) -> None:
        self.key = key["accessKey"]
        self.key_created = canonical(key["createdAt"], "TIMESTAMPTZ")

    # -- Dagster: the daemon's part ----------------------------------------------------------

    def sensor_tick(self) -> None:
        at = self.now()
        env = self.env()
        with time_machine.travel(at, tick=True), environ(env):
            sensor = build_access_key_sensor(Settings.from_env(env), clock=lambda: at)
            result = sensor(build_sensor_context(cursor=self.sensor_cursor, instance=self.instance))
        self.sensor_cursor = result.cursor

    def intraday(self) -> None:
        at = self.now()
        self.learn_events(at - timedelta(days=30))
        env = self.env()
        with time_machine.travel(at, tick=True), environ(env):
            defs = build_definitions(Settings.from_env(env))
            job, tags, partition = intraday_request(defs, at)
            result = job.execute_in_process(
                instance=self.instance,
                tags=tags,
                partition_key=partition,
                run_config=QUIET,
                raise_on_error=False,
            )
        if not result.success:
            raise YearFailure(f"day {at:%Y-%m-%d}: the intraday run failed: {self.errors(result.run_id)}")
        self.fig.intraday_runs += 1
        self.events.intraday(at)
        self.scan_run(result.run_id)

    def night(self, n: int) -> None:
        plan, admin = self.plan, self.admin
        at = self.now()
        off = plan.machine_off(n)
        if off:
            self.fig.nights_missed += 1
            return
        self.fig.nights_run += 1
        admin.clear_faults()
        for kind, (endpoint, rule) in DRIFT_RULES.items():
            if plan.drift_active(kind, n):
                admin.set_faults(endpoint=endpoint, **rule)
        fault = plan.faults.get(n)
        if fault in FAULT_RULES:
            admin.set_faults(endpoint="*", seed=plan.seed + n, **FAULT_RULES[fault])
        admin.reset_stats()  # also empties the sandbox's rate window: a day has passed
        truth_at_night = self.truth_dimensions(n)
        before = self.sync_ids()
        t0 = time.monotonic()
        summary = self.killed_run(at) if fault == KILL else self.scheduled_run(at)
        self.fig.seconds_runs += time.monotonic() - t0
        stats = admin.stats()
        admin.clear_faults()
        self.fig.requests += stats["requests_total"]
        self.fig.responses_429 += stats["responses_429"]
        for kind, counter in FAULT_COUNTERS.items():
            self.fig.faults[kind] += stats[counter]
        if fault:
            self.fig.fault_nights[fault] += 1
            if fault in FAULT_COUNTERS and not stats[FAULT_COUNTERS[fault]]:
                raise YearFailure(f"night {n}: the {fault} never fired: {stats}")
        written, logs_read, started = self.night_writes(before)
        expect_ok = fault != KILL and n != plan.reissue_day + 1
        if summary is not None and summary.ok != expect_ok:
            raise YearFailure(f"night {n} ({fault or 'clean'}): run ok={summary.ok}: {summary.errors}")
        if not expect_ok:
            self.failed_night(n, fault, summary, stats, written, logs_read)
        for table in written:
            self.observe(n, table, truth_at_night[table])
        if written:
            self.observations.append((n, started, sorted(written)))
        if logs_read:
            self.learn_events(at - timedelta(days=30) if n > 1 else None)
            need = self.events.catch_up(at)
            if not fault:
                self.fig.requests_clean_nights += stats["requests_total"]
                self.fig.minimum_clean_nights += need + self.dimension_minimum(truth_at_night)
        self.morning(n, summary)

    def scheduled_run(self, at: datetime) -> SyncSummary:
        env = self.env()
        with time_machine.travel(at, tick=True), environ(env):
            defs = build_definitions(Settings.from_env(env))
            job, tags = nightly_request(defs, at)
            result = job.execute_in_process(
                instance=self.instance, tags=tags, run_config=QUIET, raise_on_error=False
            )
        summary = SyncSummary()
        summary.runs.append((job.name, result.run_id, result.success))
        collect_run(self.instance, result.run_id, summary)
        self.scan_run(result.run_id)
        return summary

    def killed_run(self, at: datetime) -> None:
        """The night's run in its own process, SIGKILLed once it reaches KILL_AT."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("ALOCITY_", "DAGSTER_"))}
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.year.night_process", at.isoformat(), KILL_AT],
            env={**base, **self.env(), "PYTHONPATH": str(REPO)},
            cwd=str(REPO),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines = []
        assert proc.stderr is not None
        deadline = time.monotonic() + 120
        for line in proc.stderr:
            lines.append(line)
            if line.startswith(PAUSED) or time.monotonic() > deadline:
                break
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        self.kill_output = "".join(lines) + out + err
        if not any(line.startswith(PAUSED) for line in lines):
            raise YearFailure(f"the SIGKILL night never reached {KILL_AT}:\n{self.kill_output[-2000:]}")
        return None

    def errors(self, run_id: str) -> list[str]:
        summary = SyncSummary()
        collect_run(self.instance, run_id, summary)
        return summary.errors

    # -- what a night wrote --------------------------------------------------------------------

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        con = duckdb.connect(str(self.paths.warehouse), read_only=True)
        try:
            con.execute("SET TimeZone = 'UTC'")
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    def sync_ids(self) -> int:
        if not self.paths.warehouse.exists():
            return 0
        return int(self.query("SELECT coalesce(max(sync_id), 0) FROM meta.syncs")[0][0])

    def night_writes(self, before: int) -> tuple[set[str], bool, datetime | None]:
        """(versioned tables written, whether access logs were read, sync start) by the syncs
        this night opened: what the run committed, whatever its outcome."""
        rows = self.query(
            "SELECT l.resource, s.started_at FROM meta.resource_loads l JOIN meta.syncs s USING (sync_id) "
            "WHERE sync_id > ?",
            [before],
        )
        resources = {r for r, _ in rows}
        starts = {s for _, s in rows}
        assert len(starts) <= 1, f"one night opened several syncs: {starts}"
        from alocity_etl.catalog import tables

        written = {t for t, (res, _) in tables().items() if res.name in resources and t in VERSIONED}
        return written, "access_logs" in resources, (next(iter(starts)) if starts else None)

    def failed_night(self, n, fault, summary, stats, written, logs_read) -> None:
        if fault == KILL:
            # Killed at a write: what committed before it stays; the logs (last) were not read.
            if logs_read or "groups" in written:
                raise YearFailure(f"night {n}: the killed run wrote {written}, logs {logs_read}")
            self.fig.nights_failed.append({"night": n, "why": KILL, "tables_committed": sorted(written)})
            return
        # The night after the Reissue: every step stops at its first request, in one line.
        errors = summary.errors
        lines = {e.split(": ", 1)[1] for e in errors}
        per_endpoint = stats["per_endpoint"]
        if (
            len(lines) != 1
            or "ALOCITY_ACCESS_KEY" not in next(iter(lines))
            or "\n" in next(iter(lines))
            or set(per_endpoint) != {"token"}
            or per_endpoint["token"] > len(errors)
            or written
            or logs_read
        ):
            raise YearFailure(f"night {n}: the revoked key did not fail fast in one line: {errors} {stats}")
        self.fig.nights_failed.append(
            {"night": n, "why": "Reissue: every key disabled", "message": next(iter(lines)),
             "requests": stats["requests_total"], "steps_failed": len(errors)}
        )  # fmt: skip

    # -- truth ----------------------------------------------------------------------------------

    def api_view(self, table: str, rows: list[dict[str, Any]], night: int) -> list[dict[str, Any]]:
        """Rows as the API showed them at `night` (the schema drift then in force)."""
        plan = self.plan
        out = [dict(r) for r in rows]
        if table == "users" and plan.drift_active("add", night):
            for r in out:
                r["badgeColor"] = "blue"
        if table == "devices" and (plan.drift_active("type", night) or self.type_changed):
            # Once the column turned to text, every version of it reads as text.
            for r in out:
                r["siteId"] = str(r["siteId"])
        if table == "groups" and plan.drift_active("drop", night):
            for r in out:
                r["description"] = None
        return out

    def past_truth(self, day: int, table: str, today: int) -> list[dict[str, Any]]:
        """A table's truth on a day before `today`: kept, since a day past never changes (the
        as-of checks ask for the same few days morning after morning)."""
        if day >= today:
            return self.admin.ground_truth(day=day, table=table)
        if (day, table) not in self.truth_cache:
            self.truth_cache[(day, table)] = self.admin.ground_truth(day=day, table=table)
        return self.truth_cache[(day, table)]

    def truth_dimensions(self, day: int) -> dict[str, list[dict[str, Any]]]:
        instant = START.isoformat()
        got = self.admin.ground_truth(day=day, from_=instant, to=instant)
        return {t: got[t] for t in VERSIONED}

    def observe(self, n: int, table: str, rows: list[dict[str, Any]]) -> None:
        if table == "devices" and self.plan.drift_active("type", n):
            self.type_changed = True
        extra = ("badgeColor",) if table == "users" else ()
        self.versions.observe(table, self.api_view(table, rows, n), extra)
        self.observed[table] = n

    def learn_events(self, since: datetime | None) -> None:
        frm = since or datetime(2000, 1, 1, tzinfo=UTC)
        rows = self.admin.ground_truth(table="access_logs", from_=frm, to=datetime(2100, 1, 1, tzinfo=UTC))
        self.events.learn(rows, self.uploads)

    def dimension_minimum(self, truth: dict[str, list[dict[str, Any]]]) -> int:
        """Requests the API's shape needs for every dimension (one token, each listing to its
        empty page, each detail and fan-out call once)."""

        def listing(n: int) -> int:
            return -(-n // PAGE) + 1

        users, groups, schedules = truth["users"], truth["groups"], truth["schedules"]
        members = Counter(m["groupId"] for m in truth["group_members"])
        in_schedule = Counter(m["scheduleId"] for m in truth["schedule_users"])
        return (
            1  # token
            + listing(len(users)) + 2 * len(users)  # user/page, each user's detail and cloud keys
            + 1 + sum(listing(members[g["id"]]) for g in groups)
            + 1 + len(schedules) + sum(listing(in_schedule[s["id"]]) for s in schedules)
            + 1 + 1 + len(truth["devices"])  # sites, devices, each device's settings
        )  # fmt: skip

    # -- the morning checks ------------------------------------------------------------------

    def fail(self, n: int, what: str, rec: Reconciliation | None = None) -> None:
        raise YearFailure(f"morning after night {n}: {what}" + (f"\n{rec.describe()}" if rec else ""))

    def check(self, n: int, what: str, rec: Reconciliation) -> None:
        self.fig.add(rec)
        if not rec.ok:
            self.fail(n, what, rec)

    def morning(self, n: int, summary: SyncSummary | None) -> None:
        if not self.observations:
            return
        self.fig.mornings_checked += 1
        con = duckdb.connect(str(self.paths.warehouse), read_only=True)
        try:
            con.execute("SET TimeZone = 'UTC'")
            self.check_current(n, con)
            self.check_versions(n, con)
            self.check_as_of(n, con)
            self.check_events(n, con, full=n % 7 == 0)
            self.check_late(n, con)
        finally:
            con.close()
        self.scan_logs()
        if n % 30 == 0:
            self.scan_warehouse()
        self.say(
            f"night {n}: ok; {self.fig.rows_reconciled} rows reconciled so far, "
            f"{len(self.events.outstanding())} late events awaiting a read"
        )

    def check_current(self, n: int, con: duckdb.DuckDBPyConnection) -> None:
        """Each table holds what the API said when a sync last wrote it (tonight, unless the
        night failed before it)."""
        for table in VERSIONED:
            night = self.observed[table]
            rows = self.api_view(table, self.past_truth(night, table, n), night)
            self.check(
                n, f"current {table} (as of night {night})", reconcile(con, {table: rows}, only=[table])
            )

    def check_versions(self, n: int, con: duckdb.DuckDBPyConnection) -> None:
        """history.<table> holds exactly the versions the changes make: none spurious, none missing."""
        for table in VERSIONED:
            cols, _, _ = table_spec(table)
            names = [c.name for c in cols if c.wire is not None]
            sel = ", ".join(f'"{c}"' for c in names)
            got: Counter = Counter()
            for row in con.execute(f'SELECT {sel}, is_deleted FROM history."{table}"').fetchall():
                truth_like = {c.wire: v for c, v in zip([c for c in cols if c.wire], row[:-1], strict=True)}
                key, vals = values(table, truth_like)
                got[(key, vals, bool(row[-1]))] += 1
            want = self.versions.versions[table]
            if table == "devices" and self.type_changed:
                want = Counter({(k, self._text_site(v), d): c for (k, v, d), c in want.items()})
            if got != want:
                extra, missing = got - want, want - got
                self.fail(
                    n,
                    f"history.{table}: {sum(extra.values())} spurious version(s) e.g. {list(extra)[:2]}, "
                    f"{sum(missing.values())} missing e.g. {list(missing)[:2]}",
                )
            self.fig.versions_reconciled += sum(want.values())

    def _text_site(self, vals: tuple) -> tuple:
        names = [c.name for c in table_spec("devices")[0] if c.wire is not None]
        i = names.index("site_id")
        return tuple(str(v) if j == i and v is not None else v for j, v in enumerate(vals))

    def check_as_of(self, n: int, con: duckdb.DuckDBPyConnection) -> None:
        """history.<t>_as_of(the start of a past sync) = what the API said then, on a sample of
        past nights (the first, last night's, and a few seeded others)."""
        import random

        past = self.observations[:-1]
        if not past:
            return
        rng = random.Random(self.plan.seed * 1000 + n)
        sample = {0, len(past) - 1, *rng.sample(range(len(past)), min(2, len(past)))}
        for i in sorted(sample):
            night, started, _ = past[i]
            # A table not written that night: as of then it held its previous observation.
            for table in VERSIONED:
                last = max((o[0] for o in self.observations[: i + 1] if table in o[2]), default=None)
                if last is None:
                    continue
                rows = self.api_view(table, self.past_truth(last, table, n), last)
                rec = reconcile(con, {table: rows}, as_of=started, only=[table])
                self.check(n, f"{table} as of night {night} (written night {last})", rec)
            self.fig.as_of_checks += 1

    def check_events(self, n: int, con: duckdb.DuckDBPyConnection, full: bool) -> None:
        """Every event the contract says the warehouse has read, none other, each once; the
        rest (late uploads no read has reached yet) counted."""
        now = self.now()
        lo = datetime(2000, 1, 1, tzinfo=UTC) if full else now - timedelta(days=30)
        truth = self.admin.ground_truth(table="access_logs", from_=lo, to=datetime(2100, 1, 1, tzinfo=UTC))
        self.events.learn(truth, self.uploads)
        stored = self.events.stored
        expected = [r for r in truth if r["id"] in stored]
        rec = reconcile(con, {"access_logs": expected}, window=(lo, datetime(2100, 1, 1, tzinfo=UTC)))
        self.check(n, f"access_logs since {lo:%Y-%m-%d}", rec)
        waiting = self.events.outstanding()
        self.fig.late_outstanding_max = max(self.fig.late_outstanding_max, len(waiting))
        for eid in list(self.beyond):
            if eid in stored:
                self.fig.late_beyond_window_repaired += 1
                self.fig.late_beyond_window_days_to_repair.append(n - self.beyond.pop(eid))

    def check_late(self, n: int, con: duckdb.DuckDBPyConnection) -> None:
        got = {
            d: int(k)
            for d, k in con.execute(
                "SELECT day, late_events FROM meta.access_log_days WHERE late_events > 0"
            ).fetchall()
        }
        want = {d: k for d, k in self.events.late.items() if k}
        if got != want:
            diff = {
                d: (got.get(d), want.get(d))
                for d in sorted(set(got) | set(want))
                if got.get(d) != want.get(d)
            }
            self.fail(n, f"late events per day (warehouse, expected) differ: {diff}")

    # -- secrets ---------------------------------------------------------------------------------

    def secrets(self) -> list[str]:
        portal = self.admin.keys()
        return [k["accessKey"] for k in portal] + list(self.admin.tokens())

    def leaks(self, text: str, where: str, secrets: list[str]) -> None:
        """Fail if a secret, or a JWT's payload or signature on its own, is in `text`. Every
        run of token characters is looked up (a year's tables are too big to search once
        per token issued); a run longer than any secret is searched for each."""
        self.fig.secret_places_scanned += 1
        forms: dict[str, str] = {}
        for s in secrets:
            forms[s] = s
            if s.count(".") == 2:
                forms.update({p: s for p in s.split(".")[1:] if len(p) >= 16})
        longest = max(map(len, forms), default=0)
        for run in set(TOKENY.findall(text)):
            hit = forms.get(run) or (
                next((forms[f] for f in forms if f in run), None) if len(run) > longest else None
            )
            if hit:
                self.fig.secret_leaks += 1
                raise YearFailure(f"a secret ({hit[:8]}...) is in {where}")

    def scan_run(self, run_id: str) -> None:
        """The run's event log: every message and every metadata value Dagster stored."""
        records = self.instance.get_records_for_run(run_id).records
        self.leaks(
            "\n".join(str(r.event_log_entry) for r in records), f"run {run_id}'s events", self.secrets()
        )

    def scan_logs(self) -> None:
        self.leaks("\n".join(self.tap.lines), "the product's log records", self.secrets())
        self.tap.lines.clear()

    def scan_warehouse(self) -> None:
        """Every table as text (raw pages as their JSON), and every file beside the warehouse."""
        secrets = self.secrets()
        for name, rows in table_rows_as_text(self.paths.warehouse).items():
            self.leaks("\n".join(rows), name, secrets)
        for f in sorted(self.paths.warehouse.parent.rglob("*")):
            if f.is_file() and self.paths.cache not in f.parents:
                self.leaks(f.read_bytes().decode("latin-1"), str(f.relative_to(self.root)), secrets)

    # -- the end ---------------------------------------------------------------------------------

    def final_checks(self) -> None:
        self.scan_warehouse()
        self.leaks(self.kill_output, "the killed run's output", self.secrets())
        self.leaks("\n".join(t for _, t in self.webhook.posts), "the webhook posts", self.secrets())
        self.scan_logs()
        self.fig.warnings_sent = [day for day, text in self.webhook.posts if "access key" in text]
        if self.fig.warnings_sent != self.fig.warnings_expected:
            sent, expected = self.fig.warnings_sent, self.fig.warnings_expected
            raise YearFailure(f"expiry warnings sent on days {sent}, expected {expected}")
        if self.beyond:
            raise YearFailure(f"{len(self.beyond)} late events beyond the settle window never repaired")
        self.fig.rechecks = len(self.events.rechecks)
        self.fig.schema_changes = [
            f"{t}.{c} {k} (night of sync {s})"
            for t, c, k, s in self.query(
                "SELECT table_name, column_name, change_kind, sync_id FROM meta.schema_changes "
                "ORDER BY sync_id"
            )
        ]

    def report(self) -> dict[str, Any]:
        f = self.fig
        counted = sum(self.events.late.values())
        return {
            "nights_run": f.nights_run,
            "nights_missed": f.nights_missed,
            "rows_reconciled": f.rows_reconciled,
            "rows_lost": f.rows_lost,
            "rows_duplicated": f.rows_duplicated,
            "secret_leaks": f.secret_leaks,
            "warnings_expected": len(f.warnings_expected),
            "warnings_sent": len(f.warnings_sent),
            "late_events_injected": f.late_events_injected,
            "details": {
                "plan": self.plan.summary(),
                "nights": f.nights,
                "nights_failed": f.nights_failed,
                "intraday_runs": f.intraday_runs,
                "mornings_checked": f.mornings_checked,
                "versions_reconciled": f.versions_reconciled,
                "as_of_checks": f.as_of_checks,
                "rows_mismatched": f.rows_mismatched,
                "rows_unexpected": f.rows_unexpected,
                "warnings": {"expected_days": f.warnings_expected, "sent_days": f.warnings_sent},
                "late_events": {
                    "injected": f.late_events_injected,
                    "counted_late": counted,
                    "arrived_before_their_day_was_read_complete": f.late_events_injected
                    - counted
                    - len(self.events.outstanding()),
                    "beyond_settle_window_injected": f.late_beyond_window_injected,
                    "beyond_settle_window_repaired": f.late_beyond_window_repaired,
                    "days_to_repair_max": max(f.late_beyond_window_days_to_repair, default=0),
                    "found_by_weekly_recheck": self.events.late_found_by_recheck,
                    "weekly_rechecks": f.rechecks,
                    "awaiting_a_read_max": f.late_outstanding_max,
                },
                "faults_injected": dict(f.faults),
                "fault_nights": dict(f.fault_nights),
                "responses_429": f.responses_429,
                "schema_changes": f.schema_changes,
                "requests": {
                    "year": f.requests,
                    "clean_nights": f.requests_clean_nights,
                    "clean_nights_minimum": f.minimum_clean_nights,
                    "clean_nights_ratio": round(f.requests_clean_nights / max(1, f.minimum_clean_nights), 4),
                    "minimum_means": "one token, every listing to its empty page (page size "
                    f"{PAGE}), each detail and fan-out call once, each access-log listing "
                    "ceil(events / page size) + 1",
                },
                "secret_places_scanned": f.secret_places_scanned,
                "rate_limit": RATE,
                "wall_seconds": round(time.monotonic() - f.started, 1),
                "run_seconds": round(f.seconds_runs, 1),
            },
        }
