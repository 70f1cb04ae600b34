"""Wire choices the public Alocity docs leave open, in one place.

Every value here is INFERRED (see /work/shared/alocity-api.md §13). A user with
access to the live API corrects a wrong guess by editing this module only.
"""

from __future__ import annotations

from datetime import UTC, datetime

from alocity_etl.catalog import endpoint_path

# INFERRED (§13): POST {TOKEN_PATH} with JSON body {TOKEN_BODY_FIELD: key}; payload = the JWT string.
TOKEN_PATH = endpoint_path("token")
TOKEN_BODY_FIELD = "accessKey"

# INFERRED (§13): page index and size query names; pages are numbered from FIRST_PAGE.
PAGE_NUMBER_PARAM = "pageNumber"
PAGE_SIZE_PARAM = "pageSize"
FIRST_PAGE = 1

# INFERRED (§13): DateTime strings we send. The API treats unmarked values as UTC anyway.
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# INFERRED (§13): Retry-After on 429 is in seconds; absent or 0 means "no hint".
RETRY_AFTER_HEADER = "Retry-After"

# DOC (§2.2): controlled error codes of the token call that mean the key itself is unusable.
KEY_INACTIVE_CODE = "error_accesskey_is_inactive"
KEY_NOT_FOUND_CODE = "error_accesskey_not_found"
# DOC (§2.2): the generic server-side failure; the only controlled error worth retrying.
RETRYABLE_CONTROLLED_CODES = frozenset({"failed_system_operation"})


def format_datetime(value: datetime) -> str:
    """A datetime as the API expects it: UTC, second precision, `Z` suffix (naive = UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(DATETIME_FORMAT)


def parse_datetime(value: str) -> datetime:
    """Parse an API DateTime (with or without `Z`, with or without fractions); naive = UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
