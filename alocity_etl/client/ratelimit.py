"""The account's request budget, shared by every client that uses the same key.

Storage and counting are pyrate-limiter's: a sliding-window log bucket kept by the
`StateStore` (a `SQLiteBucket` in the cache dir, or a `PostgresBucket` with
`ALOCITY_STATE_URL`), used only under the store's limiter lock. We drive the bucket
directly (put / waiting under the lock, sleep outside it) rather than through
`Limiter.try_acquire(blocking=True)`, because that loop re-puts the item with
`timestamp += sleep` instead of the real clock: time spent waiting for the lock is not
counted, so entries get stamped earlier than the requests really leave, and the local
window drifts ahead of the server's. Re-stamping with the clock on every attempt keeps
the local log faithful.

The window is the server's (N per W) plus a small margin (settings.margin_s):
the server stamps on arrival, we stamp just before sending, and the difference
jitters. See benchmarks/ratelimit_fraction.py for the measured fraction.

A response that comes back later than the margin (a loaded server: 50 accounts on one
sandbox answered in up to 3.6 s) may have been counted on its arrival, after our stamp
plus the margin; its slot would then free on our side before it frees on the server's.
`hold_if_late` keeps one more slot in the log from the response for a window (placed as
soon as the log has room, before any new request), which covers that arrival. A response
within the margin costs nothing.

429 handling: `penalize()` stores a "blocked until" time in the store's `PauseState`
(under the same lock); every client checks it before admitting a request, so one 429
pauses them all. The pause is the server's Retry-After when given, else an exponential
backoff on consecutive 429s (also shared). After the pause, the account slows down for
two windows: requests are spaced evenly (one per W/N) instead of in bursts, since a 429
means our view of the budget was wrong (another client of the key, clock or latency
jitter) and bursts are what hit the boundary.

No limit (`ALOCITY_RATE_LIMIT=none`, a local sandbox only): no log is kept (its
bookkeeping is ~0.3 ms a request, a sixth of a local round trip); 429 pauses
still apply.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time

from pyrate_limiter import AbstractBucket, Rate, RateItem

from alocity_etl.client.errors import RateLimiterTimeout
from alocity_etl.client.settings import ClientSettings
from alocity_etl.client.state import PauseState, StateStore, open_state_store

log = logging.getLogger(__name__)


class SharedRateLimiter:
    """Blocks until the shared budget admits one more request; pauses everyone after a 429."""

    def __init__(self, settings: ClientSettings, store: StateStore | None = None) -> None:
        """`store`: shared with the client's token cache; by default the one `settings` select,
        owned (closed by `close()`)."""
        self.settings = settings
        self.limit = settings.rate_limit
        self.window_s = settings.rate_window_s
        self.effective_window_s = settings.rate_window_s + settings.margin_s
        self._own_store = store is None
        self._late = threading.local()  # this thread's last admission time (see hold_if_late)
        self._holds: list[float] = []  # responses later than the margin whose slot is not held yet
        self._holds_lock = threading.Lock()
        self.store = open_state_store(settings) if store is None else store
        self._bucket: AbstractBucket | None = None
        if self.limit is not None:
            self._bucket = self.store.bucket(Rate(self.limit, round(self.effective_window_s * 1000)))
        self._last_leak = 0.0
        self._strikes_seen = False

    # -- admission ---------------------------------------------------------------------------

    def acquire(self) -> float:
        """Block until one request may be sent now (its admission time is kept for
        `hold_if_late`, per thread). Returns the seconds spent waiting."""
        started = time.monotonic()
        deadline = started + 3600  # a budget exhausted for an hour is a misconfiguration, not load
        while True:
            wait = self._admit()
            if wait is None:
                return time.monotonic() - started
            if time.monotonic() + wait > deadline:
                raise RateLimiterTimeout("the shared rate budget stayed exhausted for over an hour")
            time.sleep(wait)

    def _admit(self) -> float | None:
        """Log one request if the budget admits it now (None), else the seconds to wait."""
        if self._bucket is None:  # no limit: only the shared pause after a 429 holds a request back
            pause = self.store.peek_pause().remaining(time.time())
            return pause if pause > 0 else None
        with self.store.limiter_lock():
            now = time.time()
            state = self.store.peek_pause()
            pause = state.remaining(now)
            if pause > 0:
                return pause
            wait = self._place_holds(now)
            if wait is not None:
                return wait
            item = RateItem("request", int(now * 1000))
            if self._bucket.put(item):
                self._late.admitted = now
                self._after_admit(now, state)
                return None
            return max(self._bucket.waiting(item), 1) / 1000

    def hold_if_late(self) -> None:
        """After the response to this thread's last admitted request: if it came back later
        than the margin, hold a slot from now for a window (see the module's docstring)."""
        admitted = getattr(self._late, "admitted", None)
        self._late.admitted = None
        if self._bucket is None or admitted is None:
            return
        now = time.time()
        if now - admitted <= self.settings.margin_s:
            return
        with self._holds_lock:
            self._holds.append(now)

    def _place_holds(self, now: float) -> float | None:
        """Put the pending holds in the log (under the limiter lock); the seconds to wait when
        the log has no room for one yet, so that no new request takes its slot first."""
        assert self._bucket is not None
        with self._holds_lock:
            # A hold whose response is a window old covers nothing any more.
            self._holds = [t for t in self._holds if now - t < self.window_s]
            while self._holds:
                hold = RateItem("late response", int(now * 1000))
                if not self._bucket.put(hold):
                    return max(self._bucket.waiting(hold), 1) / 1000
                self._holds.pop(0)
        return None

    def _after_admit(self, now: float, state: PauseState) -> None:
        assert self._bucket is not None and self.limit is not None
        if now - state.last_429 < 2 * self.effective_window_s:
            # Slowed down after a 429: the next request of any client waits one even spacing.
            spacing = self.effective_window_s / self.limit
            self.store.save_pause(dataclasses.replace(state, next_at=now + spacing))
        # Drop log rows older than the window now and then, so the log stays small.
        if now - self._last_leak > self.effective_window_s:
            self._last_leak = now
            self._bucket.leak(int(now * 1000))

    # -- 429 ----------------------------------------------------------------------------------

    def penalize(self, retry_after: float | None) -> float:
        """Record a 429: pause every client of this account. Returns the pause in seconds."""
        with self.store.limiter_lock():
            state = self.store.load_pause()
            now = time.time()
            recent = now - state.last_429 < 2 * self.effective_window_s
            strikes = state.strikes + 1 if recent else 1
            if retry_after and retry_after > 0:
                pause = float(retry_after)
            else:
                # No hint: exponential backoff, shared, from a tenth of the window up to the window.
                base = max(0.25, self.window_s / 10)
                pause = min(base * 2 ** (strikes - 1), self.window_s) * random.uniform(1.0, 1.2)
            blocked_until = max(state.blocked_until, now + pause)
            self.store.save_pause(
                dataclasses.replace(state, blocked_until=blocked_until, strikes=strikes, last_429=now)
            )
        self._strikes_seen = True
        log.warning("HTTP 429: pausing all requests of this account for %.2fs", blocked_until - now)
        return blocked_until - now

    def record_success(self) -> None:
        """After a 429 pause, the first success resets the shared backoff."""
        if not self._strikes_seen:
            return
        self._strikes_seen = False
        with self.store.limiter_lock():
            state = self.store.load_pause()
            if state.strikes:
                self.store.save_pause(dataclasses.replace(state, strikes=0))

    def close(self) -> None:
        if self._own_store:
            self.store.close()
