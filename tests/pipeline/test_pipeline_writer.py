"""Reading a long access-log window: one listing, its days written a few per transaction (days
read complete before: one by one), the file let go in between.

The pieces (sync/held_writer.py, sync/fetch_ahead.py, sync/day_split.py, sync/day_batch.py)
each have their own test; here they run together over real HTTP against the sandbox.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alocity_etl.catalog import resource
from alocity_etl.client import AlocityClient, ClientSettings
from alocity_etl.sync import pipeline
from alocity_etl.sync.day_batch import DayBatch
from alocity_etl.sync.day_split import DaySplitter
from alocity_etl.sync.fetch_ahead import FetchAhead
from alocity_etl.sync.held_writer import HeldWriter
from alocity_etl.warehouse import Warehouse
from alocity_etl.warehouse.raw_archive import encode_body
from tests.support.pipeline import start_sandbox
from tests.support.reconcile import reconcile_sandbox


def sync_access_logs(
    tmp_path: Path, days: int, rate_limit: str, passes: int = 1
) -> tuple[pipeline.ResourceResult, list[Any], Any]:
    """The access logs of the sandbox's last `days` full days through sync_resource (`passes`
    times), the sandbox's ground truth for them, and its request log."""
    sb = start_sandbox()
    # A minute past midnight on the sandbox's clock: its Date header has whole seconds, and a
    # read in the first second of a day could not tell that yesterday was over.
    sb.admin.advance(60)
    try:
        settings = ClientSettings.from_values(
            base_url=sb.base_url,
            access_key=sb.access_key,
            rate_limit=rate_limit,
            cache_dir=str(tmp_path / "c"),
            page_size=50,
        )
        end = sb.admin.clock().replace(hour=0, minute=0, second=0, microsecond=0)
        window = (end - timedelta(days=days), end)
        with AlocityClient(settings) as client:
            for n in range(passes):
                result = pipeline.sync_resource(
                    client,
                    str(tmp_path / "w.duckdb"),
                    resource("access_logs"),
                    f"r{n + 1}",
                    window=window,
                    log=lambda _m: None,
                )
        truth = sb.admin.ground_truth(table="access_logs", from_=window[0], to=window[1])
        return result, truth, sb.admin.requests()
    finally:
        sb.stop()


def test_a_window_is_one_listing_its_new_days_written_in_batches(tmp_path: Path) -> None:
    result, truth, requests = sync_access_logs(tmp_path, days=4, rate_limit="none")
    assert result.tables["access_logs"].row_count == len(truth) > 50  # several pages
    listing = [r for r in requests if "access-log/page" in r]
    # One listing across the four days: its pages plus the empty page that ends it.
    assert len(listing) == -(-len(truth) // 50) + 1
    assert len({r.split("pageNumber")[0] for r in listing}) == 1
    assert result.events is not None
    # Every day of the window is noted as read, the days with no event (before the
    # sandbox's history) too, each with the events the sandbox holds for it.
    first = min(d.day for d in result.events.days)
    assert sorted(d.day for d in result.events.days) == [first + timedelta(days=i) for i in range(4)]
    assert all(d.complete for d in result.events.days)
    per_day = Counter(date.fromisoformat(t["createdAt"][:10]) for t in truth)
    assert {d.day: d.inserted for d in result.events.days} == {
        d.day: per_day[d.day] for d in result.events.days
    }
    assert all(d.late == 0 for d in result.events.days)
    with Warehouse.open(tmp_path / "w.duckdb", read_only=True) as wh:
        loads = wh.con.execute(
            "SELECT count(*) FROM meta.resource_loads WHERE resource = 'access_logs'"
        ).fetchone()
        assert loads == (1,)  # four days never read before: one transaction


def test_days_read_complete_before_are_written_one_by_one(tmp_path: Path) -> None:
    result, truth, _ = sync_access_logs(tmp_path, days=4, rate_limit="none", passes=2)
    assert result.events is not None and len(result.events.days) == 4
    # The second read found nothing new: no day gained an event, none is late.
    assert [(d.inserted, d.late) for d in result.events.days] == [(0, 0)] * 4
    with Warehouse.open(tmp_path / "w.duckdb", read_only=True) as wh:
        loads = wh.con.execute(
            "SELECT count(*) FROM meta.resource_loads WHERE resource = 'access_logs'"
        ).fetchone()
        assert loads == (1 + 4,)  # the first read's batch, then a transaction per day
        (stored,) = wh.con.execute("SELECT count(*) FROM main.access_logs").fetchone()
    assert stored == len(truth)


# ---------------------------------------------------------------- the pieces


def test_day_batch_writes_when_full_and_in_order_on_flush() -> None:
    written: list[list[date]] = []
    pages: dict[date, int] = {}

    def write(days: list) -> None:
        written.append([d for d, _ in days])
        pages.update((d, len(p)) for d, p in days)

    batch = DayBatch(write, max_days=3, max_events=5)
    page = {"body": [{"id": 1}, {"id": 2}]}
    d = [date(2026, 1, i) for i in range(1, 8)]
    batch.add(d[0], [page])
    batch.add(d[1], [])
    assert written == []  # 2 days, 2 events: held
    batch.add(d[2], [])
    assert written == [d[0:3]]  # three days: written
    batch.add(d[3], [page, page])
    batch.add(d[4], [page])  # 6 events: written
    assert written[-1] == d[3:5]
    batch.add(d[5], [])
    batch.add(d[5], [page])  # reopened by an event out of order: still one day
    batch.flush()
    batch.flush()  # nothing held: nothing written
    assert written == [d[0:3], d[3:5], [d[5]]]
    assert pages[d[5]] == 1 and pages[d[3]] == 2


def test_apply_days_refuses_a_day_read_complete_before(tmp_path: Path) -> None:
    day = date(2026, 1, 5)
    read_at = datetime(2026, 1, 7, tzinfo=UTC)
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        sync_id = wh.start_sync("t")
        _, reads = wh.apply_days(
            "access_logs", [(day, []), (day + timedelta(days=1), [])], sync_id, read_at, read_at
        )
        assert [(r.day, r.complete, r.inserted) for r in reads] == [
            (day, True, 0),
            (day + timedelta(days=1), True, 0),
        ]
        with pytest.raises(ValueError, match="2026-01-05 was read complete before"):
            wh.apply_days("access_logs", [(day, [])], sync_id, read_at, read_at)


def test_held_writer_lets_go_after_max_days_and_when_the_api_is_slower(tmp_path: Path) -> None:
    path = str(tmp_path / "w.duckdb")
    with HeldWriter(path, lock_timeout_s=5, hold_s=0.05, max_days=2) as writer:
        first = writer.open()
        writer.wrote_day()
        assert writer.open() is first  # one day written: still held
        writer.wrote_day()
        assert writer.held is None  # two: let go (DuckDB frees a day's memory on close)
        second = writer.open()
        writer.release_unless(lambda timeout: True)  # the next day is already fetched: keep it
        assert writer.held is second
        waited: list[float] = []
        writer.release_unless(lambda timeout: bool(waited.append(timeout)))  # the API is slower
        assert writer.held is None and waited == [0.05]
        # Let go, the file is free for an analyst (a read-only open succeeds at once).
        Warehouse.open(path, read_only=True).close()


def test_fetch_ahead_stops_at_its_byte_budget_and_raises_what_the_fetcher_met() -> None:
    pulled: list[int] = []

    def source():
        for i in range(10):
            pulled.append(i)
            yield i

    ahead = FetchAhead(source(), size_of=lambda _i: 10, budget_bytes=35)
    deadline = time.monotonic() + 5
    while len(pulled) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # room to overrun, if it would
    assert len(pulled) == 4  # three held (30 bytes), the fourth waits for room
    assert [ahead.get() for _ in range(10)] == list(range(10))
    assert ahead.get() is None and ahead.get() is None
    ahead.close()

    def failing():
        yield 1
        raise ConnectionError("the API went away")

    ahead = FetchAhead(failing(), size_of=lambda _i: 1)
    assert ahead.get() == 1
    with pytest.raises(ConnectionError, match="went away"):
        ahead.get()
    ahead.close()


def test_fetch_ahead_close_stops_the_fetcher() -> None:
    pulled: list[int] = []
    gate = threading.Event()

    def source():
        for i in range(100):
            pulled.append(i)
            yield i
            gate.wait(0.01)

    ahead = FetchAhead(source(), size_of=lambda _i: 1, budget_bytes=1000)
    assert ahead.get() == 0
    ahead.close()
    count = len(pulled)
    time.sleep(0.1)
    assert len(pulled) == count < 100


def _event(ts: str, n: int) -> dict[str, Any]:
    return {"id": f"00000000-0000-0000-0000-{n:012d}", "createdAt": ts}


def _page(*events: dict[str, Any]) -> dict[str, Any]:
    body = list(events)
    return {"body": body, "body_z": encode_body(body), "page_number": 1}


def test_day_splitter_hands_out_days_as_the_listing_moves_past_them() -> None:
    split = DaySplitter("createdAt", date(2026, 11, 1), encode_body)
    assert (
        split.add(_page(_event("2026-11-01T08:00:00.000Z", 1), _event("2026-11-01T23:59:59.999Z", 2))) == []
    )
    # A page straddling midnight: 11-01 is complete, split in two halves with their own payloads.
    done = split.add(_page(_event("2026-11-02T00:00:00.000Z", 3), _event("2026-11-03T10:00:00Z", 4)))
    assert [d for d, _ in done] == [date(2026, 11, 1), date(2026, 11, 2)]
    assert [e["id"][-1] for p in done[1][1] for e in p["body"]] == ["3"]
    # Times with an offset count in UTC; an event with no usable time goes with the one before.
    done = split.add(_page(_event("2026-11-04T01:00:00+02:00", 5), {"id": "x", "createdAt": None}))
    assert done == []
    rest = split.finish()
    assert [d for d, _ in rest] == [date(2026, 11, 3)]
    assert sorted(e["id"] for _, ps in rest for p in ps for e in p["body"])[-1] == "x"
    # An event out of order reopens its (already handed out) day.
    split = DaySplitter("createdAt", date(2026, 11, 1), encode_body)
    split.add(_page(_event("2026-11-02T08:00:00Z", 1)))
    done = split.add(_page(_event("2026-11-01T08:00:00Z", 2), _event("2026-11-03T08:00:00Z", 3)))
    assert [d for d, _ in done] == [date(2026, 11, 1), date(2026, 11, 2)]


def test_read_time_is_the_earlier_clock() -> None:
    from alocity_etl.sync.events import _read_at

    class Client:
        def __init__(self, server: datetime | None) -> None:
            self.server = server

        def server_time(self) -> datetime | None:
            return self.server

    ours = datetime(2026, 11, 5, 2, 0, tzinfo=UTC)
    assert _read_at(Client(None), ours) == ours  # no Date header: our clock
    behind = ours - timedelta(days=2)
    assert _read_at(Client(behind), ours) == behind
    assert _read_at(Client(ours + timedelta(hours=3)), ours) == ours


def test_pages_shorter_than_asked_do_not_end_a_listing(tmp_path: Path) -> None:
    """The API may cap the page size silently (the sandbox at 500, §13): a client asking for
    2000 gets 500-row pages, and must read on to the empty page, or rows are lost."""
    sb = start_sandbox(preset="small", seed=5)
    try:
        settings = ClientSettings.from_values(
            sb.base_url, sb.access_key, "none", page_size=2000, cache_dir=str(tmp_path / "c")
        )
        end = sb.admin.clock().replace(hour=0, minute=0, second=0, microsecond=0)
        window = (end - timedelta(days=3), end)
        with AlocityClient(settings) as client:
            pipeline.sync_resource(
                client, str(tmp_path / "w.duckdb"), resource("access_logs"), "r1", window=window, log=print
            )
        truth = sb.admin.ground_truth(table="access_logs", from_=window[0], to=window[1])
        assert len(truth) > 1000  # more than two capped pages
        rec = reconcile_sandbox(tmp_path / "w.duckdb", sb.admin, window=window, only=["access_logs"])
        assert rec.ok, rec.describe()
    finally:
        sb.stop()
