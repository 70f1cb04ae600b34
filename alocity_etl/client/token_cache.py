"""Access key -> JWT, one live token per key shared by every client of the account.

Alocity keeps ONE live JWT per API user: minting a token kills the previous one.
So every client using the same key + base URL shares one token through a `StateStore`
(the JWT and when to refresh it, never the key): files in the cache dir for the processes
of one machine, PostgreSQL (`ALOCITY_STATE_URL`) for every machine.

* `current()` returns the stored token while it is fresh, else logs in (under the
  store's token lock, re-checking first: another client may just have done it).
* `renew(rejected)` runs after a 401: under the lock, if the store now holds a
  different token, another client refreshed and killed ours: reuse theirs
  (minting again would kill it). Otherwise log in once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import jwt

from alocity_etl.client.accounting import ClientStats
from alocity_etl.client.settings import ClientSettings
from alocity_etl.client.state import StateStore, TokenRecord, open_state_store

log = logging.getLogger(__name__)


def token_lifetime(token: str, now: float) -> float | None:
    """Seconds the JWT lives, from its claims read without verifying the signature; None if unknown.

    `exp - iat` when both are present: immune to a clock difference between the
    server and this machine. Else `exp - now`.
    """
    try:
        claims = jwt.decode(token, options={"verify_signature": False, "verify_exp": False})
    except jwt.PyJWTError:
        return None
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float):
        return None
    if isinstance(iat, int | float) and exp > iat:
        return float(exp - iat)
    return float(exp) - now


class TokenCache:
    def __init__(
        self,
        settings: ClientSettings,
        login: Callable[[], str],
        stats: ClientStats,
        store: StateStore | None = None,
    ) -> None:
        """`store`: shared with the client's limiter; by default the one `settings` select, owned
        (closed by `close()`)."""
        self.settings = settings
        self._login = login
        self._stats = stats
        self._own_store = store is None
        self.store = open_state_store(settings) if store is None else store

    @staticmethod
    def _fresh(record: TokenRecord | None) -> str | None:
        if record is not None and record.token and record.refresh_at > time.time():
            return record.token
        return None

    def cached(self) -> str | None:
        """Whatever token the store holds right now, fresh or not (None if empty)."""
        record = self.store.load_token()
        return record.token if record is not None and record.token else None

    def expires_at(self) -> datetime | None:
        record = self.store.load_token()
        return datetime.fromtimestamp(record.expires_at, UTC) if record and record.expires_at else None

    def current(self) -> str:
        """A token that should still be valid, logging in only if no client has a fresh one."""
        token = self._fresh(self.store.peek_token())
        if token:
            return token
        with self.store.token_lock():
            return self._fresh(self.store.load_token()) or self._login_locked("no fresh token")

    def renew(self, rejected: str) -> tuple[str, bool]:
        """After a 401 with `rejected`: (token to replay with, whether we logged in to get it)."""
        with self.store.token_lock():
            token = self._fresh(self.store.load_token())
            if token and token != rejected:
                log.info("token was refreshed by another process; reusing it")
                return token, False
            return self._login_locked("token rejected (HTTP 401)"), True

    def invalidate(self) -> None:
        with self.store.token_lock():
            self.store.delete_token()

    def close(self) -> None:
        if self._own_store:
            self.store.close()

    def _login_locked(self, reason: str) -> str:
        log.info("logging in to Alocity (%s)", reason)
        token = self._login()
        now = time.time()
        lifetime = token_lifetime(token, now)
        if lifetime is None:
            lifetime = self.settings.token_fallback_lifetime_s
        # Refresh `skew` before exp, but never spend more than a fifth of a short-lived token on skew.
        skew = min(self.settings.token_skew_s, max(lifetime, 0) / 5)
        # expires_at and refresh_at on this machine's clock.
        self.store.save_token(TokenRecord(token, now, now + lifetime, now + lifetime - skew))
        self._stats.add("token_refreshes")
        return token
