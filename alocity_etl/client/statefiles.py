"""Small shared state files in the cache dir: private directory, atomic JSON writes, tolerant reads."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path


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
