"""The sandbox's own reading of the wire format (alocity-api.md §1.3, §1.7, §13).

Everything here the docs leave open is INFERRED and lives in this one module, so a
correction against the live API is a one-place edit. Deliberately independent of
the client's code: the sandbox must not share the client's assumptions by import.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# --- Paging (INFERRED §13) ---------------------------------------------------
PAGE_NUMBER_PARAMS = ("pageNumber", "page")  # 1-based; the first one present wins
PAGE_SIZE_PARAM = "pageSize"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500  # larger sizes are capped silently, like a server might

# --- Query flags and windows (INFERRED §13) ----------------------------------
INCLUDE_USER_COUNT_PARAM = "includeUserCount"
IN_SCHEDULE_PARAM = "inSchedule"  # DOC name
CLOUD_KEY_USER_PARAM = "userId"
WINDOW_FROM_PARAM = "from"  # inclusive
WINDOW_TO_PARAM = "to"  # exclusive
USER_SEARCH_PARAM = "search"  # INFERRED: "with filters" on user/page; substring of name/e-mail

# --- Token call (INFERRED §13) -----------------------------------------------
TOKEN_BODY_FIELD = "accessKey"

# --- Codes the docs do not name (INFERRED) -----------------------------------
INVALID_WINDOW_CODE = "error_invalid_dates"  # access-log window not parseable

EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
LOCALES = ("en", "es")  # DOC, Standard Values


def fmt_dt(value: datetime | None) -> str | None:
    """UTC DateTime as `YYYY-MM-DDTHH:MM:SS.fffZ` (INFERRED §13)."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_dt(text: Any) -> datetime | None:
    """Parse a DateTime sent by a client: with or without `Z`/offset/fraction; naive is UTC (DOC §1.5).

    Returns None when it is not a DateTime.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    raw = text.strip().replace(" ", "T")
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_bool(text: str | None, default: bool) -> bool:
    if text is None:
        return default
    low = text.strip().lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    return default


def page_window(query: dict[str, str], ignore_page: bool = False) -> tuple[int, int]:
    """(offset, size) from the query. Bad or missing values fall back to page 1 / default size."""
    number = 1
    for name in PAGE_NUMBER_PARAMS:
        if name in query:
            try:
                number = int(query[name])
            except ValueError:
                number = 1
            break
    number = max(number, 1)
    if ignore_page:
        number = 1
    try:
        size = int(query.get(PAGE_SIZE_PARAM, DEFAULT_PAGE_SIZE))
    except ValueError:
        size = DEFAULT_PAGE_SIZE
    if size < 1:
        size = DEFAULT_PAGE_SIZE
    size = min(size, MAX_PAGE_SIZE)
    return (number - 1) * size, size


# --- Envelope (DOC §1.3) ----------------------------------------------------
def ok(payload: Any) -> dict[str, Any]:
    """Success: no application events (the docs do not show an Info event on success)."""
    return {"applicationEvents": [], "payload": payload, "hasErrors": False}


def error(code: str, message: str = "", parameter: str | None = None) -> dict[str, Any]:
    """Controlled error: HTTP 200, payload null, one Error event."""
    return {
        "applicationEvents": [
            {
                "type": "Error",
                "code": code,
                "message": message or code.replace("_", " "),
                "parameter": parameter,
            }
        ],
        "payload": None,
        "hasErrors": True,
    }


class ControlledError(Exception):
    """Raised by handlers; turned into the error envelope."""

    def __init__(self, code: str, message: str = "", parameter: str | None = None) -> None:
        super().__init__(code)
        self.code, self.message, self.parameter = code, message, parameter

    def envelope(self) -> dict[str, Any]:
        return error(self.code, self.message, self.parameter)
