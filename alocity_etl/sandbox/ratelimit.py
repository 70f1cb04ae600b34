"""Server-side rate limit: one budget per account, shared by every token and connection.

A sliding-window log (the timestamps of accepted requests in the last WINDOW
seconds): the most faithful model of "N requests per minute" with no burst at a
fixed-window boundary. Uses the wall clock (monotonic), not the sandbox clock, so
advancing the sandbox clock does not refill the budget.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque


class SlidingWindowLimiter:
    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self._hits: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> int | None:
        """Count one request. None if allowed, else the Retry-After in whole seconds (rounded up)."""
        with self._lock:
            now = time.monotonic()
            while self._hits and self._hits[0] <= now - self.window_s:
                self._hits.popleft()
            if len(self._hits) < self.limit:
                self._hits.append(now)
                return None
            wait = self._hits[0] + self.window_s - now
            return max(1, math.ceil(wait))

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
