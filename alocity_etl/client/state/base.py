"""The state every client of one account shares, and the one interface that keeps it.

Alocity allows one live JWT per account (minting one kills the previous) and 100 requests a
minute per account, so every process using a key must share three things: the JWT, the log
of requests sent (the budget) and the pause after a 429. A `StateStore` keeps them for one
account (`ClientSettings.fingerprint`), with the two locks that make "read, decide, write"
atomic across every process that shares the store. The policy (when to mint, when to admit,
how long to pause) is `TokenCache` and `SharedRateLimiter`, the same over every store.

Stores: files in the cache dir (default; the processes of one machine), PostgreSQL
(`ALOCITY_STATE_URL`; every machine that reaches the database).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from pyrate_limiter import AbstractBucket, Rate


@dataclass(frozen=True)
class TokenRecord:
    """The account's current JWT (never the access key) and when to replace it. Times are
    epoch seconds on the clock of the machine that minted it."""

    token: str = field(repr=False)  # a secret: never in a repr, a log line or an error
    obtained_at: float
    expires_at: float
    refresh_at: float


@dataclass(frozen=True)
class PauseState:
    """The account's shared reaction to 429s (epoch seconds; 0 = never)."""

    blocked_until: float = 0.0  # no request before this (Retry-After or backoff)
    next_at: float = 0.0  # after a 429 requests are spaced evenly: the next one not before this
    strikes: int = 0  # consecutive 429s, for the backoff when there is no Retry-After
    last_429: float = 0.0

    def remaining(self, now: float) -> float:
        """Seconds every process of the account still waits (<= 0: none)."""
        return max(self.blocked_until, self.next_at) - now


class StateStore(ABC):
    """One account's shared JWT, request log and 429 pause. Thread-safe; both locks are
    exclusive across every process (and, for PostgreSQL, machine) using the store, and not
    re-entrant. Lock waits are bounded by `ClientSettings.lock_timeout_s`."""

    location: str  # for messages: a directory, or "PostgreSQL at host:port/db"

    # -- the JWT -------------------------------------------------------------------------------

    @abstractmethod
    def token_lock(self) -> AbstractContextManager[None]:
        """Held around "read the token, mint one if needed, store it"."""

    @abstractmethod
    def load_token(self) -> TokenRecord | None:
        """The stored token, exactly (call under `token_lock`)."""

    def peek_token(self) -> TokenRecord | None:
        """The stored token for the per-request check, without the lock: may lag a write."""
        return self.load_token()

    @abstractmethod
    def save_token(self, record: TokenRecord) -> None: ...

    @abstractmethod
    def delete_token(self) -> None: ...

    # -- the request budget and the 429 pause --------------------------------------------------

    @abstractmethod
    def limiter_lock(self) -> AbstractContextManager[None]:
        """Held around every admission and every change of the pause."""

    @abstractmethod
    def bucket(self, rate: Rate) -> AbstractBucket:
        """pyrate-limiter's bucket logging this account's requests under `rate` (one per rate,
        so a process configured differently never reads another rate's log as its own). Use
        it under `limiter_lock` only; the store closes it."""

    @abstractmethod
    def load_pause(self) -> PauseState:
        """The pause, exactly (call under `limiter_lock`)."""

    def peek_pause(self) -> PauseState:
        """The pause for the per-request check: may lag a write by an instant."""
        return self.load_pause()

    @abstractmethod
    def save_pause(self, state: PauseState) -> None: ...

    def close(self) -> None:  # noqa: B027 - a store may hold nothing to release
        """Release files or connections; the store is unusable afterwards."""
