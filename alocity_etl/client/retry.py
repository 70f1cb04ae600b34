"""Retry policy for one API request (tenacity).

Retried: 5xx, timeouts, connection errors, the controlled `failed_system_operation`
(all raised as `TransientError`), and 429 (`RateLimited`). Never retried: other
controlled errors, 4xx, malformed bodies, an inactive key.

Budgets per request: `max_attempts` sends for transient errors, `retry_max_seconds`
of wall time spent retrying them, and `max_429_retries` for 429s. A 429 does not
sleep here: the shared limiter already paused every process (Retry-After or its
own backoff), so the next attempt simply waits for the limiter.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential_jitter

from alocity_etl.client.accounting import ClientStats
from alocity_etl.client.errors import RateLimited, RetriesExhausted, TransientError
from alocity_etl.client.settings import ClientSettings

T = TypeVar("T")

RETRIED = (TransientError, RateLimited)  # what a request is sent again for


class RetryPolicy:
    def __init__(self, settings: ClientSettings, stats: ClientStats, logger: logging.Logger) -> None:
        self.settings = settings
        self.stats = stats
        self.log = logger
        self._backoff = wait_exponential_jitter(
            multiplier=settings.retry_backoff_s, max=20.0, exp_base=2, jitter=settings.retry_backoff_s
        )

    def call(self, endpoint: str, fn: Callable[[], T]) -> T:
        """Run `fn` with retries; give up with `RetriesExhausted` when a budget runs out."""
        s = self.settings
        started = time.monotonic()
        # Most calls succeed at once: only a failure pays for tenacity's per-call set-up (about
        # a sixth of a detail call's CPU). The failure is then replayed as tenacity's attempt 1,
        # so every budget, wait and log line is what it would have been.
        try:
            return fn()
        except RETRIED as exc:
            first: BaseException | None = exc

        def attempt() -> T:
            nonlocal first
            if first is not None:
                failed, first = first, None
                raise failed
            return fn()

        counts = {"transient": 0, "429": 0}

        def stop(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RateLimited):
                counts["429"] += 1
                return counts["429"] > s.max_429_retries
            counts["transient"] += 1
            return counts["transient"] >= s.max_attempts or time.monotonic() - started >= s.retry_max_seconds

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RateLimited):
                return 0.0
            # Never sleep past the time budget: the next attempt would be refused anyway.
            remaining = s.retry_max_seconds - (time.monotonic() - started)
            return max(0.0, min(self._backoff(state), remaining))

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            self.stats.add("retries")
            reason = exc.reason if isinstance(exc, TransientError) else str(exc).split(": ", 1)[-1]
            self.log.warning(
                "retrying %s (attempt %d failed: %s; next in %.2fs)",
                endpoint,
                state.attempt_number,
                reason,
                state.upcoming_sleep,
            )

        retrying = Retrying(
            retry=retry_if_exception_type(RETRIED),
            stop=stop,
            wait=wait,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except RETRIED as exc:
            attempts = counts["transient"] + counts["429"]
            last = exc.cause if isinstance(exc, TransientError) and exc.cause is not None else exc
            raise RetriesExhausted(endpoint, attempts, last) from None
