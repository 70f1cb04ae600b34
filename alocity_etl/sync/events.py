"""Access logs from the API to the warehouse: read windows, split by UTC day, write the days
with the day ledger (warehouse/access_log_days.py): a day read complete before in a
transaction of its own, days read for the first time a few per transaction (sync/day_batch.py).

Each window (sync/read_plan.py) is ONE listing, so a backfill of D days costs what its
events need (ceil(events / page size) + 1), not (pages + 1) per day. Pages are fetched
ahead in a worker thread (sync/fetch_ahead.py) while the days before them are written, and
journaled as they arrive (staging.py): a killed sync resumes the listing where it stopped.

**Read time.** A read counts as of the moment its listing began, by the earlier of our
clock and the API's (the Date header of its first response, when the API sends one): a
day only counts as read complete, or settled, when both clocks agree it was over long
enough. A skewed clock on either side can then only make a day be read again, never
skipped.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from alocity_etl.catalog import WIDEST_WINDOW, Resource
from alocity_etl.client import AlocityClient, EndpointUnavailable, fetch_resource
from alocity_etl.client.wire import (
    FIRST_PAGE,
    PAGE_NUMBER_PARAM,
    PAGE_SIZE_PARAM,
    format_datetime,
    parse_datetime,
)
from alocity_etl.settings import Settings
from alocity_etl.sync.day_batch import DayBatch
from alocity_etl.sync.day_split import DaySplitter
from alocity_etl.sync.fetch_ahead import PARSED_PER_COMPRESSED, FetchAhead
from alocity_etl.sync.held_writer import HeldWriter
from alocity_etl.sync.journal import PageJournal
from alocity_etl.sync.progress import Progress
from alocity_etl.sync.raw_pages import raw_page
from alocity_etl.sync.read_plan import (
    CatchUp,
    DayRange,
    Intraday,
    Read,
    Span,
    Window,
    catch_up_windows,
    first_unsettled,
    range_window,
    recheck_from,
)
from alocity_etl.warehouse import MergeStats, Warehouse, WarehouseError, access_log_days
from alocity_etl.warehouse.access_log_days import DayRead, day_start
from alocity_etl.warehouse.raw_archive import encode_body
from alocity_etl.warehouse.write_hooks import NO_HOOKS, WriteHooks

Log = Callable[[str], None]
Clock = Callable[[], datetime]
# Definitions read where the partitions begin; a sync writing holds the file for seconds.
PARTITIONS_WAIT_S = 10.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class EventsRead:
    """What reading the access logs did: per table totals and, per day, the ledger's view."""

    totals: dict[str, MergeStats] = field(default_factory=dict)
    days: list[DayRead] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    unavailable: str | None = None
    recheck_from: date | None = None  # a catch-up's weekly re-read began here (read_plan.py)

    @property
    def late(self) -> list[DayRead]:
        return [d for d in self.days if d.late]


@dataclass(frozen=True)
class EventsContext:
    """Where and how one sync reads: the run's sync, the contract's settings, the clock."""

    warehouse_path: str
    sync_id: int
    as_of: datetime
    settle_days: int
    start: date | None  # ALOCITY_ACCESS_LOG_START: history is not read before it
    lock_timeout_s: float
    log: Log
    clock: Clock = utc_now
    hooks: WriteHooks = NO_HOOKS
    recheck_days: int = 0  # ALOCITY_ACCESS_LOG_RECHECK_DAYS: a catch-up's weekly deeper re-read


def plan(
    read: Read, ctx: EventsContext, wh: Warehouse, today: date, result: EventsRead | None = None
) -> tuple[list[Window], bool]:
    """The windows `read` asks for, and whether the first one also finds where the
    account's history starts (nothing known yet, or ALOCITY_ACCESS_LOG_START moved).
    A catch-up's weekly re-read, when due, is noted in `result`."""
    con = wh.con
    lower = day_start(ctx.start) if ctx.start else WIDEST_WINDOW[0]
    if isinstance(read, DayRange):
        if read.first is None:
            return [
                Window(lower, WIDEST_WINDOW[1] if read.last is None else range_window(today, read.last).end)
            ], True
        return [range_window(read.first, read.last)], False
    if isinstance(read, Span):
        return [read.window], False
    if isinstance(read, Intraday):
        newest = access_log_days.newest_event(con)
        if newest is None:
            return [range_window(today, None)], False
        # The next whole second: the API takes second-precision times (§13). An event later
        # in the newest one's second waits for the next catch-up, which reads today in full.
        after = newest.replace(microsecond=0) + timedelta(seconds=1)
        return [Window(max(after, lower), WIDEST_WINDOW[1])], False
    origin = access_log_days.origin(con)
    if origin is None or origin.first_event_at is None or lower < origin.lower_bound:
        # Nothing known yet, or ALOCITY_ACCESS_LOG_START moved earlier: one listing from the
        # lower bound finds the first event and reads everything after it.
        return [Window(lower, WIDEST_WINDOW[1])], True
    first = max(origin.first_event_at, lower).date()
    ledger = access_log_days.days(con)
    reread = recheck_from(ledger, first, today, ctx.recheck_days, ctx.clock())
    if reread is not None:
        ctx.log(f"access logs: weekly re-read of the days from {reread} (ALOCITY_ACCESS_LOG_RECHECK_DAYS)")
        if result is not None:
            result.recheck_from = reread
    return catch_up_windows(ledger, first, today, ctx.settle_days, reread), False


def read_events(client: AlocityClient, resource: Resource, read: Read, ctx: EventsContext) -> EventsRead:
    """Read `resource` (access logs) as `read` asks and write it by UTC day."""
    result = EventsRead()
    today = ctx.clock().date()
    with Warehouse.open(ctx.warehouse_path, lock_timeout=ctx.lock_timeout_s) as wh:
        windows, finds_origin = plan(read, ctx, wh, today, result)
        complete = {d for d, s in access_log_days.days(wh.con).items() if s.complete_read_at is not None}
    result.windows = windows
    for i, window in enumerate(windows):
        try:
            _read_window(client, resource, window, ctx, today, result, finds_origin and i == 0, complete)
        except EndpointUnavailable as exc:
            result.unavailable = f"{resource.name}: {exc} — not available on this account, skipped"
            ctx.log(result.unavailable)
            break
    return result


def _read_at(client: AlocityClient, started: datetime, since_start_s: float = 0.0) -> datetime:
    """When a read that began at `started` (our clock), `since_start_s` seconds ago, began by
    the earlier of the two clocks."""
    server = client.server_time()
    if server is None:
        return started
    return min(started, server - timedelta(seconds=since_start_s))


def _read_window(
    client: AlocityClient,
    resource: Resource,
    window: Window,
    ctx: EventsContext,
    today: date,
    result: EventsRead,
    finds_origin: bool,
    complete: set[date],
) -> None:
    """One listing, its days written as they complete: days read complete before one by one
    (each day's late events are counted in its own transaction), the others in batches."""
    journal = PageJournal(ctx.warehouse_path, resource.name, (window.start, window.end))
    replay = journal.load()
    journal.start(ctx.sync_id, replay)
    started, started_mono = ctx.clock(), time.monotonic()
    if journal.read_at is None:  # noted before the first request: a kill keeps it
        journal.note_read_at(_read_at(client, started))
    known_server_time = client.server_time() is not None
    splitter = DaySplitter(resource.cursor or "createdAt", window.first_day, encode_body)
    # Finding where history starts, the window begins long before it: days count from the
    # first event (known with the first page).
    covered = [] if finds_origin else window.days_through(today)
    progress = Progress(resource.name, len(covered) or None, ctx.log, unit="days")
    written: set[date] = set()
    first_event: datetime | None = None

    pages = (
        raw_page(resource, page)
        for page in fetch_resource(
            client, resource, window=(window.start, window.end), replay=replay, record=journal.record
        )
    )
    ahead = FetchAhead(pages, lambda p: PARSED_PER_COMPRESSED * len(p["body_z"]))
    with (
        journal.kept_while_resumable(),
        contextlib.closing(ahead),
        HeldWriter(ctx.warehouse_path, ctx.lock_timeout_s, hooks=ctx.hooks) as writer,
    ):
        batch = DayBatch(lambda days: _write_days(writer, resource, days, ctx, journal.read_at, result))

        def write(day: date, day_pages: list[dict[str, Any]]) -> None:
            # A day handed out again (an event out of order) after its write is written alone.
            if _covers(window, day) and day not in complete and day not in written:
                batch.add(day, day_pages)
                return
            batch.flush()  # in listing order
            _write_day(writer, resource, day, day_pages, window, ctx, journal.read_at, result)

        while True:
            writer.release_unless(ahead.ready)
            page = ahead.get()
            if not known_server_time and client.server_time() is not None:
                # The listing's first answer brought the API's clock: the earlier counts.
                known_server_time = True
                at = _read_at(client, started, time.monotonic() - started_mono)
                journal.note_read_at(min(at, journal.read_at or at))
            if page is None:
                break
            if finds_origin and first_event is None and page["body"]:
                first_event = _created_at(page["body"][0], resource)
                if first_event is not None:
                    covered = Window(day_start(first_event.date()), window.end).days_through(today)
                    progress.total = len(covered)
            for day, day_pages in splitter.add(page):
                write(day, day_pages)
                written.add(day)
                progress.advance()
        for day, day_pages in splitter.finish():
            write(day, day_pages)
            written.add(day)
            progress.advance()
        if finds_origin:
            access_log_days.set_origin(writer.open().con, window.start, first_event)
            covered = covered or [today]
        # Days of the window with no event at all are read too: they settle like the rest.
        for day in covered:
            if day not in written:
                if _covers(window, day):
                    write(day, [])
                progress.advance()
        batch.flush()
    journal.discard()  # every day written: nothing to resume
    progress.finish()


def _covers(window: Window, day: date) -> bool:
    start = day_start(day)
    return window.start <= start and start + timedelta(days=1) <= window.end


def _created_at(item: Any, resource: Resource) -> datetime | None:
    raw = item.get(resource.cursor or "createdAt") if isinstance(item, dict) else None
    try:
        return parse_datetime(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


def _write_days(
    writer: HeldWriter,
    resource: Resource,
    days: list[tuple[date, list[dict[str, Any]]]],
    ctx: EventsContext,
    read_at: datetime | None,
    result: EventsRead,
) -> None:
    """Whole days no read has completed yet, in one transaction (sync/day_batch.py)."""
    assert read_at is not None  # noted before the listing's first request
    bounded = [(day, _in_day(day, pages)) for day, pages in days]
    stats, reads = writer.open().apply_days(resource.name, bounded, ctx.sync_id, ctx.as_of, read_at)
    result.days.extend(reads)
    _wrote(writer, stats, result)


def _write_day(
    writer: HeldWriter,
    resource: Resource,
    day: date,
    pages: list[dict[str, Any]],
    window: Window,
    ctx: EventsContext,
    read_at: datetime | None,
    result: EventsRead,
) -> None:
    """One day's events in one transaction; the day ledger notes the read when the window
    covers the whole day (a read from mid-day, as intraday's, is not a read of the day)."""
    pages = _in_day(day, pages)
    wh = writer.open()
    if _covers(window, day):
        stats, read = wh.apply_day(resource.name, pages, ctx.sync_id, ctx.as_of, day, read_at)
        result.days.append(read)  # type: ignore[arg-type]
    else:
        stats = wh.apply_pages(
            resource.name, pages, ctx.sync_id, ctx.as_of, full_snapshot=False, window=_day_bounds(day)
        )
    _wrote(writer, stats, result)


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = day_start(day)
    return start, start + timedelta(days=1)


def _in_day(day: date, pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pages of one UTC day, each archived with the day as its window."""
    bounds = _day_bounds(day)
    return [{**p, "window": bounds} for p in pages]


def _wrote(writer: HeldWriter, stats: dict[str, MergeStats], result: EventsRead) -> None:
    """One write done: the writer counts it, the read adds its figures."""
    writer.wrote_day()
    for table, s in stats.items():
        result.totals[table] = result.totals.get(table, MergeStats()) + s


def read_for_window(window: tuple[datetime, datetime] | None) -> Read:
    """The read a caller's explicit (start, end) asks for: exactly that span (None: catch up)."""
    return CatchUp() if window is None else Span(Window(*window))


@dataclass(frozen=True)
class Recorded:
    """What the warehouse knows of the access logs: where history starts, each day's reads."""

    origin: access_log_days.Origin | None
    days: dict[date, access_log_days.DayState]

    def first_day(self, start: date | None) -> date | None:
        """The day of the account's first event (not before `start`), if found yet."""
        if self.origin is None or self.origin.first_event_at is None:
            return None
        return max(self.origin.first_event_at.date(), start) if start else self.origin.first_event_at.date()


def recorded(warehouse_path: str, lock_timeout_s: float) -> Recorded:
    """The ledger as the last sync left it (read-only). Nothing known when there is no
    warehouse yet, or it is of an older schema, or a writer keeps it past the timeout."""
    if not Path(warehouse_path).exists():
        return Recorded(None, {})
    try:
        with Warehouse.open(warehouse_path, read_only=True, lock_timeout=lock_timeout_s) as wh:
            return Recorded(access_log_days.origin(wh.con), access_log_days.days(wh.con))
    except WarehouseError:
        return Recorded(None, {})


def first_partition_day(settings: Settings, today: date | None = None) -> date:
    """Where the access logs' daily partitions begin: the account's first event, so the UI
    shows no days before it; ALOCITY_ACCESS_LOG_START or today while nothing is known."""
    start = settings.sync.access_log_start
    found = recorded(settings.warehouse.path, PARTITIONS_WAIT_S).first_day(start)
    return found or start or (today or utc_now().date())


def catch_up_range(settings: Settings, today: date, lock_timeout_s: float) -> tuple[date, date]:
    """The days a catch-up run of `today` reads, as a partition range: from the first day not
    settled (or the weekly re-read's first, when due; today while nothing is known) through
    today."""
    state = recorded(settings.warehouse.path, lock_timeout_s)
    first_day = state.first_day(settings.sync.access_log_start)
    reread = None
    if first_day is not None:
        # Judged as of `today` (a tick evaluated for a past day is not owed a later re-read).
        now = min(utc_now(), day_start(today) + timedelta(days=1))
        reread = recheck_from(state.days, first_day, today, settings.sync.recheck_days, now)
    first = first_unsettled(state.days, first_day, today, settings.sync.settle_days, reread)
    return min(first, today), today


def find_origin(client: AlocityClient, resource: Resource, settings: Settings) -> None:
    """Make sure the warehouse knows where the account's history starts, asking the API once
    (the first event of the listing, one item) when it does not, or when
    ALOCITY_ACCESS_LOG_START moved earlier. Run before a sync, so its partition range is
    right; a catch-up that finds history itself needs no such call."""
    start, wait = settings.sync.access_log_start, settings.warehouse.lock_timeout_s
    lower = day_start(start) if start else WIDEST_WINDOW[0]
    state = recorded(settings.warehouse.path, wait)
    if state.origin is not None and lower >= state.origin.lower_bound:
        return
    first = _first_event(client, resource, lower)
    with Warehouse.open(settings.warehouse.path, lock_timeout=wait) as wh:
        access_log_days.set_origin(wh.con, lower, first)


def _first_event(client: AlocityClient, resource: Resource, lower: datetime) -> datetime | None:
    assert resource.window_params is not None
    start, end = resource.window_params
    params = {
        start: format_datetime(lower),
        end: format_datetime(WIDEST_WINDOW[1]),
        PAGE_NUMBER_PARAM: FIRST_PAGE,
        PAGE_SIZE_PARAM: 1,
    }
    items = client.get(resource.path, params) or []
    return _created_at(items[0], resource) if isinstance(items, list) and items else None
