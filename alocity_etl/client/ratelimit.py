"""The account's request budget, shared by every process on this machine that uses the same key.

Storage and counting are pyrate-limiter's: a `SQLiteBucket` (sliding-window log)
in `<cache_dir>/ratelimit-<fingerprint>.sqlite`, guarded by a `ProcessLock` on its
lock file (`....sqlite.lock`; flock on a file kept open, see process_lock.py). We drive
the bucket directly (put / waiting under the file lock, sleep outside it) rather than
through `Limiter.try_acquire(blocking=True)`,
because that loop re-puts the item with `timestamp += sleep` instead of the real
clock: time spent waiting for the file lock is not counted, so entries get
stamped earlier than the requests really leave, and the local window drifts
ahead of the server's. Re-stamping with the clock on every attempt keeps the
local log faithful.

The window is the server's (N per W) plus a small margin (settings.margin_s):
the server stamps on arrival, we stamp just before sending, and the difference
jitters. See benchmarks/ratelimit_fraction.py for the measured fraction.

429 handling: `penalize()` writes a "blocked until" timestamp into
`<cache_dir>/ratelimit-<fingerprint>.json` (under the same lock); every
process checks it before admitting a request, so one 429 pauses them all. The
pause is the server's Retry-After when given, else an exponential backoff on
consecutive 429s (also shared). After the pause, the account slows down for two
windows: requests are spaced evenly (one per W/N) instead of in bursts, since a
429 means our view of the budget was wrong (another client of the key, clock or
latency jitter) and bursts are what hit the boundary.

No limit (`ALOCITY_RATE_LIMIT=none`, a local sandbox only): no log is kept (its
bookkeeping is ~0.3 ms a request, a sixth of a local round trip); 429 pauses
still apply.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time

from pyrate_limiter import Rate, RateItem, SQLiteBucket

from alocity_etl.client.errors import ConfigError, RateLimiterTimeout
from alocity_etl.client.process_lock import LockTimeout, ProcessLock
from alocity_etl.client.settings import ClientSettings
from alocity_etl.client.statefiles import JsonFileView, ensure_private_dir, read_json, write_json_atomic

log = logging.getLogger(__name__)


def _pause(state: dict, now: float) -> float:
    """Seconds every process of the account still waits after a 429 (<= 0: none)."""
    return max(float(state.get("blocked_until", 0.0)), float(state.get("next_at", 0.0))) - now


class SharedRateLimiter:
    """Blocks until the shared budget admits one more request; pauses everyone after a 429."""

    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        self.limit = settings.rate_limit
        self.window_s = settings.rate_window_s
        self.effective_window_s = settings.rate_window_s + settings.margin_s
        try:
            ensure_private_dir(settings.cache_dir)
        except OSError as exc:
            raise ConfigError(
                f"ALOCITY_CACHE_DIR={str(settings.cache_dir)!r} cannot be created ({exc.strerror}); "
                "point it at a writable directory"
            ) from None
        stem = f"ratelimit-{settings.fingerprint}"
        self.db_path = settings.cache_dir / f"{stem}.sqlite"
        self.state_path = settings.cache_dir / f"{stem}.json"
        self._state_view = JsonFileView(self.state_path)  # read on every admission
        self._bucket: SQLiteBucket | None = None
        if self.limit is not None:
            rate = Rate(self.limit, round(self.effective_window_s * 1000))
            # A table per rate spec: a process configured differently (a test, a changed env) does
            # not read another spec's log as its own.
            table = f"requests_{self.limit}_{rate.interval}"
            self._bucket = SQLiteBucket.init_from_file(
                [rate], table=table, db_path=str(self.db_path), use_file_lock=True
            )
            # Every bucket call below runs inside `_locked()`, on the same lock file as the
            # bucket's own FileLock (which guarded the table's creation above). Per request that
            # FileLock costs ~0.3 ms; the ProcessLock ~2 us. A thread lock keeps the bucket's guard.
            self._bucket.lock = threading.RLock()
            with contextlib.suppress(OSError):
                self.db_path.chmod(0o600)
        self._lock = ProcessLock(str(self.db_path) + ".lock")
        self._last_leak = 0.0
        self._strikes_seen = False

    # -- locking -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self):  # type: ignore[no-untyped-def]
        try:
            self._lock.acquire(timeout=self.settings.lock_timeout_s)
        except LockTimeout:
            raise RateLimiterTimeout(
                f"waited {self.settings.lock_timeout_s:g}s for the rate-limiter lock {self.db_path}.lock"
            ) from None
        try:
            yield
        finally:
            self._lock.release()

    # -- admission ---------------------------------------------------------------------------

    def acquire(self) -> float:
        """Block until one request may be sent now. Returns the seconds spent waiting."""
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
            pause = _pause(self._state_view.read(), time.time())
            return pause if pause > 0 else None
        with self._locked():
            now = time.time()
            state = self._state_view.read()
            pause = _pause(state, now)
            if pause > 0:
                return pause
            item = RateItem("request", int(now * 1000))
            if self._bucket.put(item):
                self._after_admit(now, state)
                return None
            return max(self._bucket.waiting(item), 1) / 1000

    def _after_admit(self, now: float, state: dict) -> None:
        assert self._bucket is not None and self.limit is not None
        if now - float(state.get("last_429", 0.0)) < 2 * self.effective_window_s:
            # Slowed down after a 429: the next request of any process waits one even spacing.
            state["next_at"] = now + self.effective_window_s / self.limit
            write_json_atomic(self.state_path, state)
        # Drop log rows older than the window now and then, so the file stays small.
        if now - self._last_leak > self.effective_window_s:
            self._last_leak = now
            self._bucket.leak(int(now * 1000))

    # -- 429 ----------------------------------------------------------------------------------

    def penalize(self, retry_after: float | None) -> float:
        """Record a 429: pause every process of this account. Returns the pause in seconds."""
        with self._locked():
            state = read_json(self.state_path)
            now = time.time()
            recent = now - float(state.get("last_429", 0.0)) < 2 * self.effective_window_s
            strikes = int(state.get("strikes", 0)) + 1 if recent else 1
            if retry_after and retry_after > 0:
                pause = float(retry_after)
            else:
                # No hint: exponential backoff, shared, from a tenth of the window up to the window.
                base = max(0.25, self.window_s / 10)
                pause = min(base * 2 ** (strikes - 1), self.window_s) * random.uniform(1.0, 1.2)
            blocked_until = max(float(state.get("blocked_until", 0.0)), now + pause)
            state.update(blocked_until=blocked_until, strikes=strikes, last_429=now)
            write_json_atomic(self.state_path, state)
        self._strikes_seen = True
        log.warning("HTTP 429: pausing all requests of this account for %.2fs", blocked_until - now)
        return blocked_until - now

    def record_success(self) -> None:
        """After a 429 pause, the first success resets the shared backoff."""
        if not self._strikes_seen:
            return
        self._strikes_seen = False
        with self._locked():
            state = read_json(self.state_path)
            if state.get("strikes"):
                state["strikes"] = 0
                write_json_atomic(self.state_path, state)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._bucket is not None:
                self._bucket.close()
        self._lock.close()
