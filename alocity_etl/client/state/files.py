"""The default `StateStore`: files in the cache dir, shared by every process on this machine.

For the account with fingerprint F, in `ClientSettings.cache_dir` (mode 0700):

* `token-F.json`: the JWT and when to refresh it (never the key; written atomically, mode
  0600), guarded by the `FileLock` `token-F.lock`.
* `ratelimit-F.sqlite`: pyrate-limiter's `SQLiteBucket` (a sliding-window log), one table per
  rate spec; `ratelimit-F.json`: the 429 pause. Both guarded by a `ProcessLock` (flock on a file
  kept open, see process_lock.py) on `ratelimit-F.sqlite.lock`.

The hot-path reads (`peek_*`) parse a file again only when it changed (`JsonFileView`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout
from pyrate_limiter import Rate, SQLiteBucket

from alocity_etl.client.errors import AlocityError, ConfigError, RateLimiterTimeout
from alocity_etl.client.settings import ClientSettings
from alocity_etl.client.state.base import PauseState, StateStore, TokenRecord
from alocity_etl.client.state.process_lock import LockTimeout, ProcessLock


def ensure_private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        path.chmod(0o700)


def write_json_atomic(path: Path, data: dict) -> None:
    """Write `data` as JSON to `path` atomically (temp file + rename), mode 0600."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)  # no fsync: losing this state in a crash costs a re-login at most
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> dict:
    try:
        with open(path) as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


class JsonFileView:
    """`read_json(path)` for a hot path: re-parsed only when the file changed (a stat, ~4 us,
    instead of open + parse). Writers replace the file atomically, so a change shows as a new
    inode or mtime. A stale view is possible only in the narrowest race (inode reuse within one
    clock tick); callers that decide under a lock read the file itself."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[tuple[int, int, int], dict] | None = None

    def read(self) -> dict:
        try:
            st = os.stat(self.path)
        except OSError:
            return {}
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._seen is None or self._seen[0] != key:
            self._seen = (key, read_json(self.path))
        return dict(self._seen[1])


def _token_record(data: dict) -> TokenRecord | None:
    token = data.get("token")
    if not isinstance(token, str) or not token:
        return None
    try:
        times = [float(data.get(name, 0) or 0) for name in ("obtained_at", "expires_at", "refresh_at")]
    except (TypeError, ValueError):
        return None
    return TokenRecord(token, *times)


def _pause_state(data: dict) -> PauseState:
    try:
        return PauseState(
            blocked_until=float(data.get("blocked_until", 0.0)),
            next_at=float(data.get("next_at", 0.0)),
            strikes=int(data.get("strikes", 0)),
            last_429=float(data.get("last_429", 0.0)),
        )
    except (TypeError, ValueError):
        return PauseState()


class FileStateStore(StateStore):
    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        cache = settings.cache_dir
        try:
            ensure_private_dir(cache)
        except OSError as exc:
            raise ConfigError(
                f"ALOCITY_CACHE_DIR={str(cache)!r} cannot be created ({exc.strerror}); "
                "point it at a writable directory"
            ) from None
        self.location = str(cache)
        fingerprint = settings.fingerprint
        self.token_path = cache / f"token-{fingerprint}.json"
        self._token_lock = FileLock(str(cache / f"token-{fingerprint}.lock"))
        self._token_view = JsonFileView(self.token_path)
        self.db_path = cache / f"ratelimit-{fingerprint}.sqlite"
        self.pause_path = cache / f"ratelimit-{fingerprint}.json"
        self._pause_view = JsonFileView(self.pause_path)
        self._limiter_lock = ProcessLock(str(self.db_path) + ".lock")
        self._buckets: list[SQLiteBucket] = []

    # -- the JWT -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def token_lock(self) -> Iterator[None]:
        timeout = self.settings.lock_timeout_s
        try:
            self._token_lock.acquire(timeout=timeout, poll_interval=0.01)
        except Timeout:
            lock_file = self._token_lock.lock_file
            raise AlocityError(f"waited {timeout:g}s for the token lock {lock_file}") from None
        try:
            yield
        finally:
            self._token_lock.release()

    def load_token(self) -> TokenRecord | None:
        return _token_record(read_json(self.token_path))

    def peek_token(self) -> TokenRecord | None:
        return _token_record(self._token_view.read())

    def save_token(self, record: TokenRecord) -> None:
        write_json_atomic(self.token_path, dataclasses.asdict(record))

    def delete_token(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.token_path.unlink()

    # -- the request budget and the 429 pause --------------------------------------------------

    @contextlib.contextmanager
    def limiter_lock(self) -> Iterator[None]:
        timeout = self.settings.lock_timeout_s
        try:
            self._limiter_lock.acquire(timeout=timeout)
        except LockTimeout:
            raise RateLimiterTimeout(
                f"waited {timeout:g}s for the rate-limiter lock {self._limiter_lock.path}"
            ) from None
        try:
            yield
        finally:
            self._limiter_lock.release()

    def bucket(self, rate: Rate) -> SQLiteBucket:
        table = f"requests_{rate.limit}_{rate.interval}"
        db = str(self.db_path)
        bucket = SQLiteBucket.init_from_file([rate], table=table, db_path=db, use_file_lock=True)
        # Every use runs inside `limiter_lock()`, on the same lock file as the bucket's own FileLock
        # (which guarded the table's creation above). Per request that FileLock costs ~0.3 ms; the
        # ProcessLock ~2 us. A thread lock keeps the bucket's guard.
        bucket.lock = threading.RLock()
        with contextlib.suppress(OSError):
            self.db_path.chmod(0o600)
        self._buckets.append(bucket)
        return bucket

    def load_pause(self) -> PauseState:
        return _pause_state(read_json(self.pause_path))

    def peek_pause(self) -> PauseState:
        return _pause_state(self._pause_view.read())

    def save_pause(self, state: PauseState) -> None:
        write_json_atomic(self.pause_path, dataclasses.asdict(state))

    def close(self) -> None:
        for bucket in self._buckets:
            with contextlib.suppress(Exception):
                bucket.close()
        self._buckets.clear()
        self._limiter_lock.close()
