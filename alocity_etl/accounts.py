"""The accounts file (``ALOCITY_ACCOUNTS_FILE``): several Alocity accounts, one table each.

    [accounts.hq]
    base_url = "https://api.alocity.com"
    access_key_env = "ALOCITY_KEY_HQ"      # the key itself never sits in the file
    rate_limit = "100/60s"

Optional per account: ``warehouse`` (default ``<directory of ALOCITY_WAREHOUSE>/<name>.duckdb``),
``key_expires_at`` / ``key_created_at`` (as ALOCITY_ACCESS_KEY_EXPIRES_AT / _CREATED_AT).
``base_url`` and ``rate_limit`` default to ALOCITY_BASE_URL and ALOCITY_RATE_LIMIT.

This module only reads and checks the file's shape; `settings.py` turns each entry into the
account's settings. A name is what files, caches and Dagster partitions are called after,
so it is kept to lower-case letters, digits and underscores.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
KEYS = {"base_url", "access_key_env", "rate_limit", "warehouse", "key_expires_at", "key_created_at"}
# DuckDB's own catalog names: `sql --all-accounts` attaches each account under its name.
RESERVED = {"main", "memory", "system", "temp"}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class AccountsFileError(ValueError):
    """The accounts file cannot be used; the message is one line naming the account and the fix."""


@dataclass(frozen=True)
class AccountEntry:
    name: str
    access_key_env: str
    base_url: str | None = None
    rate_limit: str | None = None
    warehouse: str | None = None
    key_expires_at: str | None = None
    key_created_at: str | None = None


def read_accounts_file(path: Path) -> list[AccountEntry]:
    """Every account of the file, in name order (the order of Dagster's account partitions)."""
    where = f"accounts file {path}"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AccountsFileError(
            f"{where} does not exist; create it or unset ALOCITY_ACCOUNTS_FILE for the one account of "
            "ALOCITY_ACCESS_KEY"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AccountsFileError(
            f"{where} cannot be read ({exc}); check the path and its permissions"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise AccountsFileError(f"{where} is not valid TOML ({exc}); fix that line") from None
    extra = sorted(set(data) - {"accounts"})
    if extra:
        raise AccountsFileError(
            f"{where}: unknown table [{extra[0]}]; every account is an [accounts.NAME] table"
        )
    accounts = data.get("accounts")
    if not isinstance(accounts, dict) or not accounts:
        raise AccountsFileError(f"{where} defines no account; add an [accounts.NAME] table per account")
    return [_entry(name, body, where) for name, body in sorted(accounts.items())]


def _entry(name: str, body: object, where: str) -> AccountEntry:
    if not NAME.match(name):
        raise AccountsFileError(
            f"{where}: account name {name!r} must be lower-case letters, digits and underscores, "
            "starting with a letter (at most 40), e.g. hq or eu_west"
        )
    if name in RESERVED:
        raise AccountsFileError(f"{where}: account name {name!r} is reserved by DuckDB; choose another name")
    if not isinstance(body, dict):
        raise AccountsFileError(f"{where}: accounts.{name} must be a table ([accounts.{name}])")
    unknown = sorted(set(body) - KEYS)
    if unknown:
        raise AccountsFileError(
            f"{where}: account {name}: unknown setting {unknown[0]!r}; use {', '.join(sorted(KEYS))}"
        )
    for key, value in body.items():
        if not isinstance(value, str):
            raise AccountsFileError(f"{where}: account {name}: {key} must be a string in quotes")
    env = body.get("access_key_env", "").strip()
    if not env:
        raise AccountsFileError(
            f"{where}: account {name} has no access_key_env; add "
            f'access_key_env = "ALOCITY_KEY_{name.upper()}" and put the key in that variable'
        )
    if not ENV_NAME.match(env):
        raise AccountsFileError(f"{where}: account {name}: access_key_env {env!r} is not a variable name")
    return AccountEntry(
        name=name,
        access_key_env=env,
        **{k: (body[k].strip() or None) for k in KEYS - {"access_key_env"} if k in body},
    )
