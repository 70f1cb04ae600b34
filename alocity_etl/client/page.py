"""`Page`: one answered call, as handed to the warehouse loader."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alocity_etl.catalog import API_PREFIX, ENDPOINTS


def _template(path: str) -> re.Pattern[str]:
    segments = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path))
    return re.compile(f"^{re.escape(API_PREFIX)}/{segments}/?$")


# Fewest parameters first, so user/page wins over user/{userId}.
_TEMPLATES = [(name, _template(t)) for name, t in sorted(ENDPOINTS.items(), key=lambda kv: kv[1].count("{"))]


def endpoint_name(path: str) -> str | None:
    """The catalog.ENDPOINTS key whose template matches `path`, or None."""
    return next((name for name, rx in _TEMPLATES if rx.match(path)), None)


@dataclass(frozen=True)
class Page:
    path: str  # request path (no host, no query)
    params: dict[str, Any]  # the query params used (never secrets)
    page_number: int | None  # None when the endpoint is not paged
    items: list[Any] | dict[str, Any]  # list payload, or the object for single-object endpoints
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    parent: dict[str, Any] | None = None  # for fan-out resources, e.g. {"groupId": 12}
    endpoint: str | None = None  # catalog.ENDPOINTS key of `path` ("user_page", "user", ...), if any

    @property
    def rows(self) -> list[Any]:
        """The items as a list (a single-object payload becomes a one-element list)."""
        if isinstance(self.items, dict):
            return [self.items]
        return list(self.items)

    def __len__(self) -> int:
        return len(self.rows)
