"""Access key -> JWT, one live token per key shared by every process on the machine.

Alocity keeps ONE live JWT per API user: minting a token kills the previous one.
So every process using the same key + base URL shares one token through
`<cache_dir>/token-<fingerprint>.json` (the JWT and when to refresh it, never
the key; written atomically, mode 0600) guarded by the `FileLock`
`<cache_dir>/token-<fingerprint>.lock`.

* `current()` returns the cached token while it is fresh, else logs in (under
  the lock, re-checking first: another process may just have done it).
* `renew(rejected)` runs after a 401: under the lock, if the cache now holds a
  different token, another process refreshed and killed ours: reuse theirs
  (minting again would kill it). Otherwise log in once.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import jwt
from filelock import FileLock, Timeout

from alocity_etl.client.accounting import ClientStats
from alocity_etl.client.errors import AlocityError
from alocity_etl.client.settings import ClientSettings
from alocity_etl.client.statefiles import JsonFileView, ensure_private_dir, read_json, write_json_atomic

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
    def __init__(self, settings: ClientSettings, login: Callable[[], str], stats: ClientStats) -> None:
        self.settings = settings
        self._login = login
        self._stats = stats
        ensure_private_dir(settings.cache_dir)
        self.path: Path = settings.cache_dir / f"token-{settings.fingerprint}.json"
        self._lock = FileLock(str(settings.cache_dir / f"token-{settings.fingerprint}.lock"))
        self._view = JsonFileView(self.path)  # read on every request

    @contextlib.contextmanager
    def _locked(self):  # type: ignore[no-untyped-def]
        try:
            self._lock.acquire(timeout=self.settings.lock_timeout_s, poll_interval=0.01)
        except Timeout:
            raise AlocityError(
                f"waited {self.settings.lock_timeout_s:g}s for the token lock {self._lock.lock_file}"
            ) from None
        try:
            yield
        finally:
            self._lock.release()

    def _fresh(self, data: dict | None = None) -> str | None:
        data = read_json(self.path) if data is None else data
        token = data.get("token")
        if isinstance(token, str) and token and float(data.get("refresh_at", 0)) > time.time():
            return token
        return None

    def cached(self) -> str | None:
        """Whatever token the cache holds right now, fresh or not (None if empty)."""
        token = read_json(self.path).get("token")
        return token if isinstance(token, str) and token else None

    def expires_at(self) -> datetime | None:
        exp = read_json(self.path).get("expires_at")
        return datetime.fromtimestamp(float(exp), UTC) if exp else None

    def current(self) -> str:
        """A token that should still be valid, logging in only if no process has a fresh one."""
        token = self._fresh(self._view.read())
        if token:
            return token
        with self._locked():
            return self._fresh() or self._login_locked("no fresh token")

    def renew(self, rejected: str) -> tuple[str, bool]:
        """After a 401 with `rejected`: (token to replay with, whether we logged in to get it)."""
        with self._locked():
            token = self.cached()
            if token and token != rejected and self._fresh():
                log.info("token was refreshed by another process; reusing it")
                return token, False
            return self._login_locked("token rejected (HTTP 401)"), True

    def invalidate(self) -> None:
        with self._locked(), contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _login_locked(self, reason: str) -> str:
        log.info("logging in to Alocity (%s)", reason)
        token = self._login()
        now = time.time()
        lifetime = token_lifetime(token, now)
        if lifetime is None:
            lifetime = self.settings.token_fallback_lifetime_s
        # Refresh `skew` before exp, but never spend more than a fifth of a short-lived token on skew.
        skew = min(self.settings.token_skew_s, max(lifetime, 0) / 5)
        write_json_atomic(
            self.path,
            {
                "token": token,
                "obtained_at": now,
                "expires_at": now + lifetime,  # on this machine's clock
                "refresh_at": now + lifetime - skew,
            },
        )
        self._stats.add("token_refreshes")
        return token
