"""Checks before a sync starts any Dagster run: settings valid, warehouse writable, key accepted.

An expired or deactivated key then fails the command at its first request, in one
line that says how to replace it, instead of failing every step of a run.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from alocity_etl.client import AlocityClient, AlocityError
from alocity_etl.settings import Settings, SettingsError
from alocity_etl.warehouse import Warehouse, WarehouseError


def preflight(
    command: str, environ: Mapping[str, str] | None = None, accounts: list[str] | None = None
) -> Settings:
    """The settings tree, after one authentication per account; exits 2 (bad settings, an
    unknown account, an account without its key) or 1 (a rejected key, an unusable warehouse).
    `accounts`: with an accounts file, the accounts to sync (default every one)."""
    try:
        settings = Settings.from_env(environ)
        if settings.multi_account:
            names = accounts or settings.account_names()
            for name in names:
                settings.for_account(name)  # an unknown name fails here
            settings.require_keys(names)
            for name in names:
                _check_account(command, settings.for_account(name), name)
            return settings
        if accounts:
            raise SettingsError("--account needs an accounts file (set ALOCITY_ACCOUNTS_FILE)")
    except SettingsError as exc:
        print(f"alocity-etl {command}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    _check_account(command, settings, None)
    return settings


def _check_account(command: str, settings: Settings, account: str | None) -> None:
    who = f"account {account}: " if account else ""
    try:
        client_settings = settings.api.client()
    except AlocityError as exc:
        print(f"alocity-etl {command}: {who}{exc}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        with AlocityClient(client_settings) as client:
            client.tokens.current()  # reuses a cached token; logs in only if none is fresh
    except AlocityError as exc:
        print(f"alocity-etl {command}: {who}{exc}", file=sys.stderr)
        raise SystemExit(1) from None
    try:
        # Creates and migrates the file if needed; a bad path or a foreign file fails here.
        path, wait = settings.warehouse.path, settings.warehouse.lock_timeout_s
        Warehouse.open(path, lock_timeout=wait).close()
    except WarehouseError as exc:
        print(f"alocity-etl {command}: {who}{exc}", file=sys.stderr)
        raise SystemExit(1) from None
