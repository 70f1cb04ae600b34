"""Pages fetched by a background thread while the caller writes the ones before them.

The API (rate-limited, I/O-bound) and the warehouse (CPU-bound writes) then work at the
same time. At most `budget_bytes` of parsed pages wait unconsumed, so memory stays flat
however long the listing: with room in the rate window the fetcher spends it in one burst
and the writes run while the window refills.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

# A parsed page takes ~11-14x its zlib text in memory (a day of the `large` sandbox: 1.2 MB
# compressed, 13 MB parsed; of `small`: 0.06 / 0.8 MB).
PARSED_PER_COMPRESSED = 14
BUDGET_BYTES = 32 * 2**20

_END = object()


class FetchAhead(Generic[T]):
    """Iterate `source` in a worker thread; `get()` hands its items out in order.

    `size_of(item)` is what an item weighs against the budget. The worker stops after the
    item it is fetching when `close()` is called; an exception it meets is raised by `get()`.
    """

    def __init__(
        self, source: Iterator[T], size_of: Callable[[T], int], budget_bytes: int = BUDGET_BYTES
    ) -> None:
        self._source, self._size_of, self._budget = source, size_of, budget_bytes
        self._items: deque[tuple[Any, int]] = deque()
        self._held = 0
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="alocity-fetch-ahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for item in self._source:
                size = self._size_of(item)
                with self._cond:
                    # Wait for room, but never with nothing queued (one item larger than the
                    # budget must still get through).
                    while self._items and self._held + size > self._budget and not self._stop:
                        self._cond.wait()
                    if self._stop:
                        return
                    self._items.append((item, size))
                    self._held += size
                    self._cond.notify_all()
            self._put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)

    def _put(self, marker: object) -> None:
        with self._cond:
            self._items.append((marker, 0))
            self._cond.notify_all()

    def ready(self, timeout: float) -> bool:
        """Whether an item (or the end) is waiting, waiting up to `timeout` seconds for one."""
        with self._cond:
            return bool(self._items) or self._cond.wait_for(lambda: bool(self._items), timeout)

    def get(self) -> T | None:
        """The next item, None at the end; re-raises what the worker met."""
        with self._cond:
            self._cond.wait_for(lambda: bool(self._items))
            item, size = self._items.popleft()
            self._held -= size
            self._cond.notify_all()
            if item is _END:
                self._items.appendleft((_END, 0))  # the end stays the end
                return None
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """Stop the worker (after the call it is in) and drop what it fetched ahead."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join()
        self._items.clear()
