"""Client settings: one frozen object, validated on construction. The client reads no
environment variable: `alocity_etl.settings` reads them once and builds this."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from alocity_etl.client.errors import ConfigError

DEFAULT_BASE_URL = "https://api.alocity.com"
DEFAULT_RATE_LIMIT = 100  # requests per minute per account (brief; not in the stored docs)
DEFAULT_PAGE_SIZE = 500  # the sandbox maximum; the live maximum is unknown (§13)

_WINDOW_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_RATE_RE = re.compile(r"^\s*(\d+)\s*(?:/\s*(\d+(?:\.\d+)?)?\s*(ms|s|m|h)?\s*)?$")


class Secret:
    """A string whose repr/str never show it. Call `.reveal()` at the one place that sends it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        # Settings travel to worker processes (multiprocessing); the value must survive pickling.
        return (Secret, (self._value,))


def parse_rate_limit(spec: str) -> tuple[int | None, float]:
    """`"100"` -> (100, 60.0) per minute; `"20/2s"`, `"100/1m"`, `"30/3s"`, `"100/60"` (seconds) -> (N, W).

    `"none"` -> (None, 60.0): no client-side limit, for a sandbox on this machine that has none
    (`alocity-etl sandbox --rate-limit none`); ClientSettings refuses it for any other host. The
    window then only bounds the backoff after a 429.
    """
    if (spec or "").strip().lower() == "none":
        return None, 60.0
    m = _RATE_RE.match(spec or "")
    if not m or int(m.group(1)) <= 0:
        raise ConfigError(
            f"ALOCITY_RATE_LIMIT={spec!r} is not a rate: "
            "use requests per minute (e.g. 100) or N/WINDOW (e.g. 20/2s), or none for a local sandbox"
        )
    count = int(m.group(1))
    if "/" not in spec:
        return count, 60.0
    amount = float(m.group(2)) if m.group(2) else 1.0
    window = amount * _WINDOW_UNITS[m.group(3) or "s"]
    if window <= 0:
        raise ConfigError(f"ALOCITY_RATE_LIMIT={spec!r}: the window must be longer than zero")
    return count, window


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_base_url(url: str) -> str:
    """The base URL without a trailing slash; HTTPS unless it points at this machine."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        _ = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise ConfigError(
            f"ALOCITY_BASE_URL={url!r} is malformed ({exc}); expected e.g. https://api.alocity.com"
        ) from None
    if parts.scheme not in ("http", "https") or not host or parts.query or parts.fragment:
        raise ConfigError(f"ALOCITY_BASE_URL={url!r} is malformed; expected e.g. https://api.alocity.com")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ConfigError(
            f"ALOCITY_BASE_URL={url!r} uses plain http to a remote host; "
            "the access key and tokens must travel over https "
            "(http is accepted only for 127.0.0.1, ::1 and localhost)"
        )
    return url.strip().rstrip("/")


STATE_URL_SCHEMES = ("postgresql", "postgres")  # what libpq accepts


def redact_url(url: str) -> str:
    """`url` with any password in its userinfo replaced by ***, for messages."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "<malformed URL>"
    if parts.password is None:
        return url.strip()
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def postgres_location(url: str) -> str:
    """`host:port/db` of a PostgreSQL URL (never its user or password), for messages."""
    parts = urlsplit(url.strip())
    query = parse_qs(parts.query)
    host = parts.hostname or (query.get("host") or ["localhost"])[0]
    port = parts.port or int((query.get("port") or ["5432"])[0])
    db = parts.path.lstrip("/")
    return f"{host}:{port}" + (f"/{db}" if db else "")


def validate_state_url(url: str) -> str:
    """A PostgreSQL URL for the shared client state (ALOCITY_STATE_URL), stripped."""
    shown = redact_url(url)
    hint = "use postgresql://USER@HOST:PORT/DB, or unset ALOCITY_STATE_URL to keep the state in local files"
    try:
        parts = urlsplit(url.strip())
        postgres_location(url)  # raises on a malformed port
    except ValueError:
        raise ConfigError(f"ALOCITY_STATE_URL={shown!r} is malformed; {hint}") from None
    if parts.scheme not in STATE_URL_SCHEMES:
        raise ConfigError(f"ALOCITY_STATE_URL={shown!r} is not a PostgreSQL URL; {hint}")
    return url.strip()


def default_cache_dir() -> Path:
    """Where the files of the account's shared state live when nothing says otherwise (the
    settings tree passes $DAGSTER_HOME/.alocity-cache, see alocity_etl.settings)."""
    return Path.home() / ".cache" / "alocity-etl"


@dataclass(frozen=True)
class ClientSettings:
    """Everything the client needs. Pass `access_key` as a str or `Secret`; it is stored as `Secret`."""

    access_key: Secret
    base_url: str = DEFAULT_BASE_URL
    rate_limit: int | None = DEFAULT_RATE_LIMIT  # requests per rate_window_s, per account; None: no limit
    rate_window_s: float = 60.0
    rate_margin_s: float | None = None  # added to the window to absorb latency jitter; None = auto
    page_size: int = DEFAULT_PAGE_SIZE
    cache_dir: Path = field(default_factory=default_cache_dir)
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    max_attempts: int = 6  # per request, for 5xx / timeouts / connection errors
    retry_max_seconds: float = 120.0  # per request, total time spent retrying (rate-limit waits excluded)
    retry_backoff_s: float = 0.5  # first retry after about this long, doubling (with jitter), capped at 20 s
    max_429_retries: int = 20  # per request; each waits for the shared pause first
    token_skew_s: float = 60.0  # refresh this long before the JWT's `exp`
    token_fallback_lifetime_s: float = 600.0  # when the JWT carries no readable `exp`
    lock_timeout_s: float = 300.0  # longest wait for the shared token/limiter file locks
    # Per-parent and detail calls in flight at once. The limiter admits each one, so this
    # changes nothing under the account's budget; it fills the time a round trip waits.
    concurrency: int = 4
    # Where the account's JWT, request budget and 429 pause are shared (client/state/): None,
    # files in cache_dir (one machine); a postgresql:// URL, that database (many machines).
    # A Secret because the URL may carry a password.
    state_url: Secret | None = None

    def __post_init__(self) -> None:
        key = self.access_key
        if not isinstance(key, Secret):
            key = Secret(str(key) if key is not None else "")
            object.__setattr__(self, "access_key", key)
        if not key.reveal().strip():
            raise ConfigError(
                "ALOCITY_ACCESS_KEY is not set: copy the key from the Alocity portal "
                "(Settings -> Integration -> Reveal Key) into the ALOCITY_ACCESS_KEY environment variable"
            )
        object.__setattr__(self, "base_url", validate_base_url(self.base_url))
        object.__setattr__(self, "cache_dir", Path(self.cache_dir).expanduser())
        url = self.state_url.reveal() if isinstance(self.state_url, Secret) else self.state_url
        url = (url or "").strip()
        object.__setattr__(self, "state_url", Secret(validate_state_url(url)) if url else None)
        if (self.rate_limit is not None and self.rate_limit <= 0) or self.rate_window_s <= 0:
            raise ConfigError("the rate limit must be a positive number of requests per positive window")
        if self.rate_limit is None and not _is_loopback(urlsplit(self.base_url).hostname or ""):
            raise ConfigError(
                f"ALOCITY_RATE_LIMIT=none is only for a sandbox on this machine, not {self.base_url}: "
                "the Alocity API allows 100 requests a minute per account (unset ALOCITY_RATE_LIMIT)"
            )
        if self.page_size <= 0:
            raise ConfigError(f"ALOCITY_PAGE_SIZE={self.page_size} must be a positive integer")
        if self.concurrency < 1:
            raise ConfigError(
                f"ALOCITY_CONCURRENCY={self.concurrency} must be a positive integer (1 = one at a time)"
            )
        if self.max_attempts < 1:
            raise ConfigError("max_attempts must be at least 1")

    @property
    def fingerprint(self) -> str:
        """Names this account's shared state files: sha256(base URL + key), truncated. Not reversible."""
        digest = hashlib.sha256(f"{self.base_url}\0{self.access_key.reveal()}".encode()).hexdigest()
        return digest[:20]

    @property
    def state_location(self) -> str:
        """Where the shared state lives, for messages: a directory, or PostgreSQL's host:port/db."""
        if self.state_url is None:
            return str(self.cache_dir)
        return f"PostgreSQL at {postgres_location(self.state_url.reveal())}"

    @property
    def margin_s(self) -> float:
        """Safety margin added to the rate window.

        Our limiter stamps a request just before sending it; the server stamps it on
        arrival. Arrival jitter (latency, a slow reconnect) can pull two requests a
        window apart on our side closer together on the server's. 1.5% of the window,
        at least 0.1 s, absorbs that locally while keeping >= 95% of the budget.
        """
        if self.rate_margin_s is not None:
            return self.rate_margin_s
        return max(0.1, 0.015 * self.rate_window_s)

    @property
    def rate_description(self) -> str:
        if self.rate_limit is None:
            return "no client-side limit (local sandbox)"
        return f"{self.rate_limit} requests / {self.rate_window_s:g}s"

    @classmethod
    def from_values(
        cls,
        base_url: str,
        access_key: str | Secret,
        rate_limit: str | int = DEFAULT_RATE_LIMIT,
        page_size: int = DEFAULT_PAGE_SIZE,
        cache_dir: str | Path | None = None,
        **overrides: object,
    ) -> ClientSettings:
        """Settings from plain values (Dagster resource config); `rate_limit` as in ALOCITY_RATE_LIMIT."""
        limit, window = parse_rate_limit(str(rate_limit))
        return cls(
            access_key=access_key if isinstance(access_key, Secret) else Secret(access_key or ""),
            base_url=base_url,
            rate_limit=limit,
            rate_window_s=window,
            page_size=page_size,
            cache_dir=Path(cache_dir) if cache_dir else default_cache_dir(),
            **overrides,  # type: ignore[arg-type]
        )
