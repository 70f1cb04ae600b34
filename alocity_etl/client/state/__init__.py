"""Where the clients of one account share its JWT, request budget and 429 pause (see base.py)."""

from __future__ import annotations

from alocity_etl.client.settings import ClientSettings
from alocity_etl.client.state.base import PauseState, StateStore, TokenRecord
from alocity_etl.client.state.files import FileStateStore

__all__ = ["FileStateStore", "PauseState", "StateStore", "TokenRecord", "open_state_store"]


def open_state_store(settings: ClientSettings) -> StateStore:
    """Files in the cache dir, or the PostgreSQL database of `settings.state_url` (ALOCITY_STATE_URL).

    A database that cannot be reached raises `StateStoreUnavailable` here, before any request.
    """
    if settings.state_url is None:
        return FileStateStore(settings)
    # psycopg is imported only by those who configured PostgreSQL.
    from alocity_etl.client.state.postgres import PostgresStateStore

    return PostgresStateStore(settings)
