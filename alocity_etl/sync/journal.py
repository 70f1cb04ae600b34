"""Durable page journal: what a resource's fetch already received, kept until its write commits.

A sync killed mid-resource (SIGKILL, OOM, a reboot) would otherwise fetch the whole
resource again. Each payload the API answers is appended, as one flushed JSON line, to
``<warehouse>.staging/<resource>[@<window>].jsonl`` (outside the DuckDB file):
``{"k": call key, "p": payload}`` after a header line naming the resource, window,
sync and creation time. Only request paths, query parameters and payloads are written:
never the access key, a token or a header.

The journal is deleted once the resource's write has committed. The next run of the same
resource and window resumes a journal younger than `MAX_AGE_S` (calls already answered
are replayed, see `alocity_etl.client.fetch_resource`), unless its sync already committed
that resource (a crash between commit and delete): then it is discarded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from alocity_etl.client import EndpointUnavailable, PagingError

log = logging.getLogger(__name__)

# Under half the nightly interval: a run killed mid-resource is resumed by a re-run that
# day, but the next night's run never replays the last night's pages as its own snapshot
# (at 24 h, a kill at 02:00:30 left pages the 02:00 run of the next day wrote as current).
MAX_AGE_S = 12 * 3600.0
VERSION = 1

Window = tuple[datetime, datetime]


def staging_dir(warehouse_path: str | os.PathLike[str]) -> Path:
    p = Path(warehouse_path)
    return p.with_name(p.name + ".staging")


def _slug(window: Window | None) -> str:
    if window is None:
        return ""
    return "@" + "_".join(re.sub(r"[^0-9A-Za-z]", "", w.isoformat()) for w in window)


class PageJournal:
    """The journal of one resource (and window) of one warehouse."""

    def __init__(self, warehouse_path: str | os.PathLike[str], resource: str, window: Window | None) -> None:
        self.resource = resource
        self.window = window
        self.path = staging_dir(warehouse_path) / f"{resource}{_slug(window)}.jsonl"
        self._fh: BinaryIO | None = None
        self.sync_id: int | None = None  # the sync that wrote the journal being resumed
        # When the journaled listing began (access logs: its read time, see sync/events.py);
        # a resumed listing keeps the time it first began.
        self.read_at: datetime | None = None

    # -- resume ------------------------------------------------------------------------------

    def load(self, max_age_s: float = MAX_AGE_S) -> dict[str, Any]:
        """{call key: payload} of a resumable journal ({} if none); a stale or foreign one is deleted."""
        try:
            with self.path.open(encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            log.warning(
                "%s: cannot read page journal %s (%s); fetching afresh", self.resource, self.path, exc
            )
            return {}
        try:
            header = json.loads(lines[0]) if lines else {}
        except ValueError:
            header = {}
        if (
            header.get("v") != VERSION
            or header.get("resource") != self.resource
            or header.get("window") != _window_text(self.window)
            or time.time() - float(header.get("created", 0)) > max_age_s
        ):
            self.discard()
            return {}
        self.sync_id = header.get("sync_id")
        replay: dict[str, Any] = {}
        for line in lines[1:]:
            try:
                entry = json.loads(line)
            except ValueError:  # the line being written when the process died
                continue
            if isinstance(entry, dict) and "k" in entry:
                replay[entry["k"]] = entry.get("p")
            elif isinstance(entry, dict) and "read_at" in entry:
                noted = datetime.fromisoformat(entry["read_at"])
                self.read_at = noted if self.read_at is None else min(self.read_at, noted)
        return replay

    # -- record ------------------------------------------------------------------------------

    def start(self, sync_id: int, resumed: dict[str, Any]) -> None:
        """Open for appending: a fresh journal (header first), or the resumed one rewritten compactly."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            self.path.parent.chmod(0o700)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            header = {
                "v": VERSION,
                "resource": self.resource,
                "window": _window_text(self.window),
                "sync_id": sync_id,
                "created": time.time(),
            }
            fh.write(json.dumps(header) + "\n")
            if self.read_at is not None:
                fh.write(json.dumps({"read_at": self.read_at.isoformat()}) + "\n")
            for key, payload in resumed.items():
                fh.write(_line(key, payload).decode())
        os.replace(tmp, self.path)
        self._fh = self.path.open("ab")

    def record(self, key: str, payload: Any) -> None:
        if self._fh is None:
            return
        self._fh.write(_line(key, payload))
        self._fh.flush()  # in the OS: survives the process being killed

    def note_read_at(self, read_at: datetime) -> None:
        """Record when the journaled listing began (kept by a resumed journal)."""
        self.read_at = read_at
        if self._fh is not None:
            self._fh.write(json.dumps({"read_at": read_at.isoformat()}).encode() + b"\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    @contextlib.contextmanager
    def kept_while_resumable(self) -> Iterator[None]:
        """Around a fetch: the journal is closed at the end, and deleted when what went wrong
        means it must not be resumed (repeated pages must not be replayed; a 404 has nothing
        to resume)."""
        try:
            yield
        except (PagingError, EndpointUnavailable):
            self.discard()
            raise
        finally:
            self.close()

    def discard(self) -> None:
        """Delete the journal (its resource committed, or its content must not be reused)."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _line(key: str, payload: Any) -> bytes:
    """One journal line. orjson: a page of access logs is journaled 10x faster than by json."""
    entry = {"k": key, "p": payload}
    try:
        return orjson.dumps(entry, default=str) + b"\n"
    except TypeError:  # e.g. an integer beyond 64 bits
        return json.dumps(entry, default=str).encode() + b"\n"


def _window_text(window: Window | None) -> list[str] | None:
    return [w.isoformat() for w in window] if window else None
