"""`alocity-etl check`: verify the credentials and show what the account exposes.

Prints counts and availability only: never the key, never a token (the token's
expiry is shown as a time). Exit 0 when healthy, 1 with one line otherwise.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from alocity_etl.catalog import endpoint_path
from alocity_etl.client import (
    AlocityClient,
    AlocityError,
    ClientSettings,
    EndpointUnavailable,
    RetriesExhausted,
    wire,
)
from alocity_etl.client.settings import parse_rate_limit
from alocity_etl.settings import Settings, SettingsError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", help="override ALOCITY_BASE_URL")
    parser.add_argument("--rate-limit", help="override ALOCITY_RATE_LIMIT (e.g. 100 or 20/2s)")
    parser.add_argument(
        "--no-shared-cache",
        action="store_true",
        help="use a throwaway cache dir, and no ALOCITY_STATE_URL "
        "(note: logging in then kills the token other processes share)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log retries and logins to stderr")
    parser.add_argument("--account", metavar="NAME", help="with an accounts file: check this account")


def _probe(client: AlocityClient, endpoint: str, params: dict[str, Any] | None = None) -> Any:
    """The payload, or None when the endpoint answers 404 (not on this account)."""
    try:
        payload = client.get(endpoint_path(endpoint), params)
    except EndpointUnavailable:
        return None
    return [] if payload is None else payload


def _row(label: str, value: str) -> str:
    return f"{label:<24}{value}"


def _count(payload: Any) -> str:
    return "not available on this account" if payload is None else str(len(payload))


def _report(client: AlocityClient, settings: ClientSettings) -> list[str]:
    client.tokens.current()  # authenticate first: a bad key fails here, with its own message
    now = datetime.now(UTC)
    one = {wire.PAGE_NUMBER_PARAM: 1, wire.PAGE_SIZE_PARAM: 1}
    lines = [_row("Alocity API", settings.base_url), _row("credentials", "ok")]
    for name in ("sites", "devices", "groups", "schedules"):
        lines.append(_row(name, _count(_probe(client, name))))
    users = _probe(client, "user_page", one)
    lines.append(
        _row(
            "users (user/page)",
            "not available on this account"
            if users is None
            else ("answers (at least one user)" if users else "answers (no users)"),
        )
    )
    window = {"from": wire.format_datetime(now - timedelta(days=1)), "to": wire.format_datetime(now)}
    logs = _probe(client, "access_log_page", {**window, **one})
    lines.append(
        _row(
            "access logs",
            "not available on this account"
            if logs is None
            else ("available (events in the last 24h)" if logs else "available (no events in the last 24h)"),
        )
    )
    shared = "" if settings.rate_limit is None else ", shared by every process using this key"
    lines.append(_row("rate budget", settings.rate_description + shared))
    lines.append(_row("shared state", settings.state_location))
    expires = client.tokens.expires_at()
    if expires is not None:
        lines.append(_row("token valid until", f"{expires.strftime('%H:%M:%S')} UTC"))
    lines.append(_row("requests made", str(client.stats.requests)))
    return lines


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    if getattr(args, "verbose", False):
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings: ClientSettings | None = None
    try:
        overrides: dict[str, Any] = {}
        if getattr(args, "base_url", None):
            overrides["base_url"] = args.base_url
        if getattr(args, "rate_limit", None):
            overrides["rate_limit"], overrides["rate_window_s"] = parse_rate_limit(args.rate_limit)
        if getattr(args, "no_shared_cache", False):
            overrides["cache_dir"] = tempfile.mkdtemp(prefix="alocity-check-")
            overrides["state_url"] = None
        env = Settings.from_env()
        if env.multi_account or getattr(args, "account", None):
            if not env.multi_account:
                raise SettingsError("--account needs an accounts file (set ALOCITY_ACCOUNTS_FILE)")
            if not args.account:
                names = ", ".join(env.account_names())
                raise SettingsError(f"several accounts ({names}): pass --account NAME")
            env = env.for_account(args.account)
            env.require_keys()
            if not env.api.access_key.reveal().strip():
                raise SettingsError(f"account {args.account}: its key variable is not set")
        settings = replace(env.api.client(), **overrides)
        with AlocityClient(settings) as client:
            lines = _report(client, settings)
        out.write("\n".join(lines) + "\n")
        return 0
    except RetriesExhausted as exc:
        cause = exc.last_error
        why = str(cause).split(": ", 1)[-1] if cause else "unknown"
        where = f"{settings.base_url}{exc.endpoint}" if settings else exc.endpoint
        print(f"alocity-etl check: cannot reach {where} ({why}; {exc.attempts} attempts)", file=sys.stderr)
        return 1
    except SettingsError as exc:
        print(f"alocity-etl check: {exc}", file=sys.stderr)
        return 2
    except AlocityError as exc:
        print(f"alocity-etl check: {exc}", file=sys.stderr)
        return 1
