"""Per-client counters, attached by Dagster assets as run metadata."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields


@dataclass
class ClientStats:
    requests: int = 0  # HTTP requests sent, including token calls and retries
    pages: int = 0  # Pages yielded to callers
    rows: int = 0  # items in those pages
    responses_429: int = 0
    retries: int = 0  # re-sends after a transient error or a 429
    token_refreshes: int = 0  # logins performed by this client (the first one included)
    throttled_seconds: float = 0.0  # time spent waiting for the shared rate budget or a 429 pause
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, amount: float = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def as_dict(self) -> dict[str, float]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        d["throttled_seconds"] = round(d["throttled_seconds"], 3)
        return d
