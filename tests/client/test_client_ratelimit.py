"""The shared limiter across real processes (no HTTP): never over the limit, close to it."""

from __future__ import annotations

import itertools
import multiprocessing as mp
import time
from dataclasses import replace
from pathlib import Path

from alocity_etl.client.ratelimit import SharedRateLimiter
from alocity_etl.client.settings import ClientSettings

LIMIT, WINDOW = 20, 1.0


def settings(cache: Path) -> ClientSettings:
    return ClientSettings(
        access_key="alk_RL",
        base_url="http://127.0.0.1:9",
        rate_limit=LIMIT,
        rate_window_s=WINDOW,
        cache_dir=cache,
    )


def _worker(cache: str, seconds: float, out: mp.Queue) -> None:
    limiter = SharedRateLimiter(settings(Path(cache)))
    end = time.time() + seconds
    stamps = []
    while time.time() < end:
        limiter.acquire()
        stamps.append(time.time())
    out.put(stamps)


def max_in_window(stamps: list[float], window: float) -> int:
    return max(sum(1 for u in stamps if t <= u < t + window) for t in stamps)


def test_two_processes_share_one_budget(tmp_path: Path) -> None:
    out: mp.Queue = mp.Queue()
    procs = [mp.Process(target=_worker, args=(str(tmp_path), 3.5, out)) for _ in range(2)]
    for p in procs:
        p.start()
    stamps = sorted(t for _ in procs for t in out.get(timeout=30))
    for p in procs:
        p.join(timeout=30)
    assert max_in_window(stamps, WINDOW) <= LIMIT
    # Full budget used: 20 per (1 s + 0.1 s margin) over ~3.5 s -> at least 3 windows' worth.
    assert len(stamps) >= 3 * LIMIT


def test_penalize_pauses_every_limiter_of_the_account(tmp_path: Path) -> None:
    a, b = SharedRateLimiter(settings(tmp_path)), SharedRateLimiter(settings(tmp_path))
    a.acquire()
    pause = a.penalize(retry_after=0.6)
    assert 0.55 <= pause <= 0.65
    waited = b.acquire()
    assert waited >= 0.5
    a.record_success()


def test_backoff_without_retry_after_grows(tmp_path: Path) -> None:
    lim = SharedRateLimiter(settings(tmp_path))
    first = lim.penalize(None)
    second = lim.penalize(None)
    assert 0.25 <= first < second <= WINDOW * 1.2 + 0.01


def test_slows_down_to_even_spacing_after_a_429(tmp_path: Path) -> None:
    a, b = SharedRateLimiter(settings(tmp_path)), SharedRateLimiter(settings(tmp_path))
    a.penalize(retry_after=0.2)
    stamps = []
    for lim in (a, b, a, b, a):  # two "processes" alternating
        lim.acquire()
        stamps.append(time.time())
    gaps = [y - x for x, y in itertools.pairwise(stamps)]
    spacing = (WINDOW + 0.1) / LIMIT  # effective window / limit
    assert all(g >= spacing * 0.9 for g in gaps), gaps


def test_a_response_later_than_the_margin_holds_a_slot_for_a_window(tmp_path: Path) -> None:
    """A loaded server may count a request on its arrival, up to its response: a response
    later than the margin keeps one more slot of the budget for a window; a prompt one none."""

    def admitted_before_waiting(late: bool, cache: Path) -> int:
        lim = SharedRateLimiter(replace(settings(cache), rate_limit=4, rate_margin_s=0.05))
        lim.acquire()
        if late:
            time.sleep(0.15)  # the response came back 0.15 s after the request left
        lim.hold_if_late()
        admitted = 1
        while lim.acquire() < 0.3:
            admitted += 1
        return admitted

    assert admitted_before_waiting(False, tmp_path / "prompt") == 4
    assert admitted_before_waiting(True, tmp_path / "late") == 3
