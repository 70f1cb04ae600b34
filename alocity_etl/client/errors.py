"""Typed errors of the Alocity client.

No message or repr built here ever contains the access key or a JWT: errors carry
endpoint paths, codes and counts only.
"""

from __future__ import annotations

REPLACE_KEY_HINT = (
    "copy the new key from the Alocity portal, Settings -> Integration, into ALOCITY_ACCESS_KEY"
)


class AlocityError(Exception):
    """Base of every error raised by the client."""


class ConfigError(AlocityError):
    """The client settings are missing or invalid (one line, says how to fix it)."""


class ControlledError(AlocityError):
    """HTTP 200 with `hasErrors: true`: a documented business error of one endpoint."""

    def __init__(
        self, code: str, message: str = "", parameter: str | None = None, endpoint: str = ""
    ) -> None:
        self.code = code
        self.message = message
        self.parameter = parameter
        self.endpoint = endpoint
        text = f"{endpoint}: controlled error {code}"
        if message:
            text += f": {message}"
        if parameter:
            text += f" (parameter {parameter})"
        super().__init__(text)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, endpoint={self.endpoint!r})"


class AccessKeyInactive(ControlledError):
    """The access key expired or was deactivated (e.g. after "Reissue Access Key")."""

    def __init__(
        self, code: str, message: str = "", parameter: str | None = None, endpoint: str = ""
    ) -> None:
        super().__init__(code, message, parameter, endpoint)
        self.args = (f"the Alocity access key is expired or deactivated ({code}); {REPLACE_KEY_HINT}",)

    def __str__(self) -> str:
        return str(self.args[0])


class AccessKeyNotFound(ControlledError):
    """The access key is not known to Alocity (typo, or a key of another environment)."""

    def __init__(
        self, code: str, message: str = "", parameter: str | None = None, endpoint: str = ""
    ) -> None:
        super().__init__(code, message, parameter, endpoint)
        self.args = (f"the Alocity access key is unknown to the API ({code}); {REPLACE_KEY_HINT}",)

    def __str__(self) -> str:
        return str(self.args[0])


class HttpStatusError(AlocityError):
    """An HTTP status the client does not handle itself (after retries, if any)."""

    def __init__(self, status: int, endpoint: str, detail: str = "") -> None:
        self.status = status
        self.endpoint = endpoint
        super().__init__(f"{endpoint}: HTTP {status}" + (f" ({detail})" if detail else ""))


class Unauthorized(HttpStatusError):
    """HTTP 401 again right after a fresh login: the token is refused, retrying would loop."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(401, endpoint, "token refused right after a fresh login")


class EndpointUnavailable(HttpStatusError):
    """HTTP 404 on an endpoint: this account (or API version) does not expose it."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(404, endpoint, "not available on this account")


class MalformedResponse(AlocityError):
    """A 200 whose body is not JSON or not the Alocity envelope."""

    def __init__(self, endpoint: str, detail: str = "") -> None:
        self.endpoint = endpoint
        super().__init__(f"{endpoint}: malformed response" + (f" ({detail})" if detail else ""))


class RateLimited(HttpStatusError):
    """HTTP 429. Internal to the retry loop; surfaces only inside RetriesExhausted."""

    def __init__(self, endpoint: str, retry_after: float | None) -> None:
        self.retry_after = retry_after
        super().__init__(429, endpoint, f"retry after {retry_after:g}s" if retry_after else "no Retry-After")


class TransientError(AlocityError):
    """A failure worth retrying (5xx, timeout, connection error). Internal to the retry loop."""

    def __init__(self, endpoint: str, reason: str, cause: AlocityError | None = None) -> None:
        self.endpoint = endpoint
        self.reason = reason
        self.cause = cause  # e.g. the ControlledError for failed_system_operation
        super().__init__(f"{endpoint}: {reason}")


class RetriesExhausted(AlocityError):
    """A call kept failing with retryable errors until the attempt or time budget ran out."""

    def __init__(self, endpoint: str, attempts: int, last_error: BaseException | None) -> None:
        self.endpoint = endpoint
        self.attempts = attempts
        self.last_error = last_error
        super().__init__(f"{endpoint}: gave up after {attempts} attempts; last error: {last_error}")


class PagingError(AlocityError):
    """The server ignores the page parameter (page N repeats page N-1): paging would never end."""

    def __init__(self, endpoint: str, page_number: int) -> None:
        self.endpoint = endpoint
        self.page_number = page_number
        super().__init__(
            f"{endpoint}: page {page_number} repeats page {page_number - 1}; "
            "the server seems to ignore the page parameter (see alocity_etl/client/wire.py)"
        )


class RateLimiterTimeout(AlocityError):
    """Waited too long for the shared rate limiter (another process holds the budget or lock)."""


class StateStoreUnavailable(AlocityError):
    """The shared state store (ALOCITY_STATE_URL) cannot be reached or used. Never a silent
    fallback to local files: two machines would then each think they own the account's budget."""
