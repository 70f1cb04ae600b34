"""The `StateStore` of `ALOCITY_STATE_URL`: one PostgreSQL database shared by every machine.

Tables, in schema `alocity_state` (created if missing, so the user needs CREATE on the database
the first time), keyed by the account fingerprint (sha256 of base URL + key, never the key):

* `tokens`: the account's one JWT and when to refresh it. It is a credential for its
  lifetime: keep the schema's tables private to the role the clients use.
* `rate_pauses`: the shared 429 pause.
* `ratelimit___<fingerprint>_<limit>_<interval ms>`: pyrate-limiter's own `PostgresBucket`,
  one table per rate spec.

Locks are session advisory locks keyed by (purpose, fingerprint), held on a pooled connection
for the duration of the critical section: whoever holds the token lock is the only client in
the world that may mint a JWT for the account; whoever holds the limiter lock is the only one
admitting a request. A thread lock is taken first, since advisory locks are re-entrant within
one session. A crashed holder's session ends and PostgreSQL releases its locks.

Request times are this machine's wall clock, as with the file store: machines sharing an
account need NTP (the rate window's margin, 1.5% of it, absorbs the usual milliseconds).

Connection failures raise `StateStoreUnavailable` naming ALOCITY_STATE_URL and where it points
(never the password); the client never falls back to local files. Not fork-safe: open the store
in the process that uses it (the client does).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout
from pyrate_limiter import PostgresBucket, Rate

from alocity_etl.client.errors import AlocityError, RateLimiterTimeout, StateStoreUnavailable
from alocity_etl.client.settings import ClientSettings, postgres_location
from alocity_etl.client.state.base import PauseState, StateStore, TokenRecord

SCHEMA = "alocity_state"
VARIABLE = "ALOCITY_STATE_URL"
# Connections one process may hold: the token lock's, the limiter lock's, the bucket's put,
# and a short read by another thread. Threads beyond that wait for the locks, not connections.
POOL_SIZE = 4

_TABLES = """
CREATE SCHEMA IF NOT EXISTS alocity_state;
CREATE TABLE IF NOT EXISTS alocity_state.tokens (
    account text PRIMARY KEY,  -- ClientSettings.fingerprint, never the access key
    token text NOT NULL,
    obtained_at double precision NOT NULL,
    expires_at double precision NOT NULL,
    refresh_at double precision NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS alocity_state.rate_pauses (
    account text PRIMARY KEY,
    blocked_until double precision NOT NULL DEFAULT 0,
    next_at double precision NOT NULL DEFAULT 0,
    strikes integer NOT NULL DEFAULT 0,
    last_429 double precision NOT NULL DEFAULT 0
);
"""


def advisory_key(purpose: str, fingerprint: str) -> int:
    """A signed 64-bit advisory-lock key, the same in every process and on every machine."""
    digest = hashlib.sha256(f"alocity-etl:{purpose}:{fingerprint}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _password(url: str) -> str | None:
    """The password of a PostgreSQL URL (userinfo or `password=` parameter), to redact it."""
    try:
        password = psycopg.conninfo.conninfo_to_dict(url).get("password")
    except psycopg.Error:
        return None
    return str(password) if password else None


def _reason(exc: BaseException, password: str | None) -> str:
    """libpq's own words, one line, without its "connection to server ... failed:" prefix."""
    text = " ".join(str(exc).split("\n", 1)[0].split())
    text = text.rsplit(" failed: ", 1)[-1].removeprefix("FATAL: ").strip()
    if password:
        text = text.replace(password, "***")
    if isinstance(exc, PoolTimeout) or not text:
        return "no connection within the timeout"
    return text[:1].lower() + text[1:]


class PostgresStateStore(StateStore):
    def __init__(self, settings: ClientSettings) -> None:
        assert settings.state_url is not None
        self.settings = settings
        self._url = settings.state_url.reveal()
        self._where = postgres_location(self._url)
        self.location = f"PostgreSQL at {self._where}"
        self._account = settings.fingerprint
        self._token_key = advisory_key("token", self._account)
        self._limiter_key = advisory_key("limiter", self._account)
        self._token_mutex = threading.Lock()
        self._limiter_mutex = threading.Lock()
        # libpq wants whole seconds, at least 2.
        connect_timeout = max(2, round(settings.connect_timeout_s))
        self._pool = ConnectionPool(
            self._url,
            min_size=1,
            max_size=POOL_SIZE,
            kwargs={"connect_timeout": connect_timeout},
            configure=self._configure,
            name="alocity-state",
            timeout=settings.lock_timeout_s,
            open=False,
        )
        try:
            # A direct connection first: its error says why (refused, unknown host, bad password),
            # where the pool would only time out. It also creates the tables once.
            with psycopg.connect(self._url, connect_timeout=connect_timeout) as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key("schema", SCHEMA),))
                conn.execute(_TABLES)
            self._pool.open(wait=True, timeout=connect_timeout + 1)
        except (psycopg.Error, PoolTimeout) as exc:
            self._pool.close()  # else its workers keep trying to connect in the background
            raise self._unavailable(exc, at_start=True) from None

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        lock_timeout_ms = round(self.settings.lock_timeout_s * 1000)
        with conn.transaction():
            # PostgresBucket names its tables unqualified: put them in our schema. Its TIMESTAMP
            # column is converted through the session time zone: the same zone for every machine.
            conn.execute(f"SET search_path TO {SCHEMA}")
            conn.execute("SET TimeZone TO 'UTC'")
            conn.execute(f"SET lock_timeout TO {lock_timeout_ms}")  # bounds advisory lock waits too
            conn.execute("SET application_name TO 'alocity-etl'")

    def _unavailable(self, exc: BaseException, at_start: bool = False) -> StateStoreUnavailable:
        reason = _reason(exc, _password(self._url))
        if not at_start:
            return StateStoreUnavailable(f"{VARIABLE}: PostgreSQL at {self._where} failed ({reason})")
        if any(word in reason for word in ("authentication", "does not exist", "permission denied")):
            fix = f"fix the user, password or database in {VARIABLE}, or unset it to use local files"
        elif "resolve host" in reason:
            fix = f"check the host in {VARIABLE}, or unset it to use local files"
        else:
            fix = f"start it or unset {VARIABLE} to use local files"
        where = self._where
        return StateStoreUnavailable(f"{VARIABLE}: cannot reach PostgreSQL at {where} ({reason}); {fix}")

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection, committed on exit. Database failures in the block, the bucket's
        included, become one clear line."""
        try:
            with self._pool.connection() as conn:
                yield conn
        except (psycopg.Error, PoolTimeout) as exc:
            raise self._unavailable(exc) from None

    def _fetchone(self, query: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        with self._connection() as conn:
            return conn.execute(query, params).fetchone()

    def _execute(self, query: str, params: tuple[Any, ...]) -> None:
        with self._connection() as conn:
            conn.execute(query, params)

    @contextlib.contextmanager
    def _advisory_lock(
        self, mutex: threading.Lock, key: int, what: str, error: type[AlocityError]
    ) -> Iterator[None]:
        timeout = self.settings.lock_timeout_s
        if not mutex.acquire(timeout=timeout):
            raise error(f"waited {timeout:g}s for the {what} lock (another thread of this process)")
        try:
            with self._connection() as conn:
                try:
                    conn.execute("SELECT pg_advisory_lock(%s)", (key,))
                except psycopg.errors.LockNotAvailable:
                    raise error(
                        f"waited {timeout:g}s for the {what} lock (advisory lock in {self.location})"
                    ) from None
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
                    conn.commit()
        finally:
            mutex.release()

    # -- the JWT -------------------------------------------------------------------------------

    def token_lock(self) -> contextlib.AbstractContextManager[None]:
        return self._advisory_lock(self._token_mutex, self._token_key, "token", AlocityError)

    def load_token(self) -> TokenRecord | None:
        row = self._fetchone(
            f"SELECT token, obtained_at, expires_at, refresh_at FROM {SCHEMA}.tokens WHERE account = %s",
            (self._account,),
        )
        return TokenRecord(*row) if row else None

    def save_token(self, record: TokenRecord) -> None:
        self._execute(
            f"INSERT INTO {SCHEMA}.tokens (account, token, obtained_at, expires_at, refresh_at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (account) DO UPDATE SET token = EXCLUDED.token, "
            "obtained_at = EXCLUDED.obtained_at, expires_at = EXCLUDED.expires_at, "
            "refresh_at = EXCLUDED.refresh_at, updated_at = now()",
            (self._account, record.token, record.obtained_at, record.expires_at, record.refresh_at),
        )

    def delete_token(self) -> None:
        self._execute(f"DELETE FROM {SCHEMA}.tokens WHERE account = %s", (self._account,))

    # -- the request budget and the 429 pause --------------------------------------------------

    def limiter_lock(self) -> contextlib.AbstractContextManager[None]:
        return self._advisory_lock(self._limiter_mutex, self._limiter_key, "rate-limiter", RateLimiterTimeout)

    def bucket(self, rate: Rate) -> PostgresBucket:
        # On the store's pool, which `close()` closes (as PostgresBucket.close() would).
        try:
            return PostgresBucket(self._pool, f"{self._account}_{rate.limit}_{rate.interval}", [rate])
        except (psycopg.Error, PoolTimeout) as exc:
            raise self._unavailable(exc, at_start=True) from None

    def load_pause(self) -> PauseState:
        row = self._fetchone(
            f"SELECT blocked_until, next_at, strikes, last_429 FROM {SCHEMA}.rate_pauses WHERE account = %s",
            (self._account,),
        )
        return PauseState(*row) if row else PauseState()

    def save_pause(self, state: PauseState) -> None:
        self._execute(
            f"INSERT INTO {SCHEMA}.rate_pauses (account, blocked_until, next_at, strikes, last_429) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (account) DO UPDATE SET "
            "blocked_until = EXCLUDED.blocked_until, next_at = EXCLUDED.next_at, "
            "strikes = EXCLUDED.strikes, last_429 = EXCLUDED.last_429",
            (self._account, state.blocked_until, state.next_at, state.strikes, state.last_429),
        )

    def close(self) -> None:
        self._pool.close()
