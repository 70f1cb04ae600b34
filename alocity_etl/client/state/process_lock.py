"""An exclusive lock shared by every process and thread on the machine, cheap enough for every request.

The rate limiter takes a lock around each admission. `filelock.FileLock` re-opens the lock
file and tracks forks on every acquire: ~0.3 ms, a tenth of a local round trip, paid 10,000
times in a large sync. Here the lock file stays open and `fcntl.flock` on it costs ~2 us.

flock belongs to the open file: threads of one process would share it, so a thread lock is
taken first; a forked child would share the parent's, so the file is re-opened after a fork.
Where fcntl does not exist (Windows) this falls back to `filelock`.
"""

from __future__ import annotations

import os
import threading
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from filelock import FileLock
from filelock import Timeout as _FileLockTimeout


class LockTimeout(Exception):
    """The lock stayed held by someone else for the whole timeout."""


class ProcessLock:
    """Not re-entrant: one acquire, one release."""

    def __init__(self, path: str, poll_interval: float = 0.002) -> None:
        self.path = path
        self.poll_interval = poll_interval
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0
        self._fallback = FileLock(path) if fcntl is None else None

    def acquire(self, timeout: float) -> None:
        if self._fallback is not None:  # pragma: no cover - Windows
            try:
                self._fallback.acquire(timeout=timeout, poll_interval=self.poll_interval)
            except _FileLockTimeout:
                raise LockTimeout(self.path) from None
            return
        deadline = time.monotonic() + timeout
        if not self._thread_lock.acquire(timeout=max(timeout, 0)):
            raise LockTimeout(self.path)
        try:
            while True:
                fd = self._file()
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise LockTimeout(self.path) from None
                    time.sleep(self.poll_interval)
                    continue
                if self._still_linked(fd):
                    return
                # The file was deleted or replaced (a cleaned cache dir): a lock on our old
                # inode excludes no one who opens the path now. Start over on the new file.
                fcntl.flock(fd, fcntl.LOCK_UN)
                self.close()
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        if self._fallback is not None:  # pragma: no cover - Windows
            self._fallback.release()
            return
        try:
            fcntl.flock(self._file(), fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None

    def _still_linked(self, fd: int) -> bool:
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            return False

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # first use, or first use after a fork
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd
