"""The Alocity API client: authenticated, rate-limited, retried reads of one account.

No Dagster, no warehouse code and no environment here: it is given a `ClientSettings`
(built by `alocity_etl.settings` from the ALOCITY_* variables, or `from_values`).

Clients using the same key share one JWT (token_cache) and one request budget and 429
pause (ratelimit) through a `StateStore` (state/): files in the cache dir for the processes
of one machine, or PostgreSQL (ALOCITY_STATE_URL) for every machine.
"""

import logging

from alocity_etl.client.accounting import ClientStats
from alocity_etl.client.api import AlocityClient
from alocity_etl.client.errors import (
    AccessKeyInactive,
    AccessKeyNotFound,
    AlocityError,
    ConfigError,
    ControlledError,
    EndpointUnavailable,
    HttpStatusError,
    MalformedResponse,
    PagingError,
    RateLimiterTimeout,
    RetriesExhausted,
    Unauthorized,
)
from alocity_etl.client.fetch import fetch_resource
from alocity_etl.client.page import Page
from alocity_etl.client.settings import ClientSettings, Secret

__all__ = [
    "AccessKeyInactive",
    "AccessKeyNotFound",
    "AlocityClient",
    "AlocityError",
    "ClientSettings",
    "ClientStats",
    "ConfigError",
    "ControlledError",
    "EndpointUnavailable",
    "HttpStatusError",
    "MalformedResponse",
    "Page",
    "PagingError",
    "RateLimiterTimeout",
    "RetriesExhausted",
    "Secret",
    "Unauthorized",
    "fetch_resource",
]

# A library logs, the application decides where: no "No handlers" fallback to stderr.
logging.getLogger(__name__).addHandler(logging.NullHandler())
