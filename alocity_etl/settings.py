"""The one settings tree: every ``ALOCITY_*`` variable, its default and its meaning written once
(`VARIABLES`), read and validated once (`Settings.from_env`), then passed down.

Sections: `api` (the client: where, which key, how fast), `warehouse` (the DuckDB file),
`sync` (what a sync reads and when it runs), `monitoring` (key expiry, alerts, freshness).
No other module reads the environment for these. A bad value raises `SettingsError` with
one line naming the variable and what is accepted; the CLI prints it and exits 2.

The README's configuration table is generated from `VARIABLES`:
``python -m alocity_etl.settings`` rewrites it (a test fails when it is stale).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alocity_etl.accounts import AccountEntry, AccountsFileError, read_accounts_file
from alocity_etl.client import ClientSettings, ConfigError, Secret
from alocity_etl.client.settings import parse_rate_limit, validate_base_url, validate_state_url

T = TypeVar("T")


class SettingsError(ValueError):
    """A setting has a bad value; the message names the variable and how to fix it."""


@dataclass(frozen=True)
class Variable:
    name: str
    default: str  # as it would be written in the environment; "" = unset
    meaning: str
    shown_default: str = ""  # for the README when the default is computed


VARIABLES: tuple[Variable, ...] = (
    # api: the Alocity account
    Variable(
        "ALOCITY_ACCESS_KEY",
        "",
        "the access key from the portal: Settings -> Integration. Never logged or stored.",
    ),
    Variable(
        "ALOCITY_BASE_URL",
        "https://api.alocity.com",
        "API host; HTTPS is required unless it is a loopback address",
    ),
    Variable(
        "ALOCITY_RATE_LIMIT",
        "100",
        (
            "requests per minute for the whole account, or `N/WINDOW` such as `100/5s`; `none` only for"
            " a sandbox on this machine started with `--rate-limit none` (refused for any other host)"
        ),
    ),
    Variable(
        "ALOCITY_PAGE_SIZE",
        "500",
        "page size asked for on paged endpoints",
    ),
    Variable(
        "ALOCITY_CACHE_DIR",
        "",
        "token cache and shared rate-limit state (files)",
        "`$DAGSTER_HOME/.alocity-cache`",
    ),
    Variable(
        "ALOCITY_STATE_URL",
        "",
        (
            "`postgresql://USER@HOST:PORT/DB`: keep the account's JWT, request budget and 429 pause in"
            " PostgreSQL, so that several machines syncing one account share them"
            " ([docs/deploy.md](docs/deploy.md)). Unreachable: the client stops before any request, in"
            " one line; never a silent fallback to files"
        ),
        "(none: files in `ALOCITY_CACHE_DIR`)",
    ),
    Variable(
        "ALOCITY_ACCOUNTS_FILE",
        "",
        (
            "a TOML file of several accounts, each with its own key variable, budget and warehouse"
            " file ([docs/accounts.md](docs/accounts.md)); unset: the one account of"
            " `ALOCITY_ACCESS_KEY`"
        ),
    ),
    Variable(
        "ALOCITY_CONNECT_TIMEOUT",
        "5",
        "seconds to connect to the API",
    ),
    Variable(
        "ALOCITY_READ_TIMEOUT",
        "60",
        "seconds to wait for an answer",
    ),
    Variable(
        "ALOCITY_MAX_ATTEMPTS",
        "6",
        "tries of one request on 5xx, timeouts and resets (never on controlled errors)",
    ),
    Variable(
        "ALOCITY_RETRY_MAX_SECONDS",
        "120",
        "seconds one request may spend retrying",
    ),
    Variable(
        "ALOCITY_RETRY_BACKOFF_S",
        "0.5",
        "seconds before the first retry of a failed request; each next wait doubles (jittered, at most 20 s)",
    ),
    Variable(
        "ALOCITY_CONCURRENCY",
        "4",
        (
            "per-user and detail calls in flight at once; each still waits for the shared rate budget "
            "(1 = one at a time)"
        ),
    ),
    # warehouse
    Variable(
        "ALOCITY_WAREHOUSE",
        "warehouse/alocity.duckdb",
        "the DuckDB file",
    ),
    Variable(
        "ALOCITY_LOCK_TIMEOUT_S",
        "120",
        "seconds a sync step waits for the DuckDB file while a query holds it (see Querying)",
    ),
    # sync
    Variable(
        "ALOCITY_ACCESS_LOG_START",
        "",
        ("never read access logs before this date (YYYY-MM-DD); unset: from the account's first event"),
    ),
    Variable(
        "ALOCITY_ACCESS_LOG_SETTLE_DAYS",
        "3",
        "a day is settled once read this many days after it ended (see Access logs)",
    ),
    Variable(
        "ALOCITY_ACCESS_LOG_RECHECK_DAYS",
        "21",
        (
            "once a week a catch-up also re-reads the last this many days, settled or not, so events"
            " uploaded up to this many days less 7 late land (counted late); `0` turns it off (see Access"
            " logs)"
        ),
    ),
    Variable(
        "ALOCITY_SCHEDULE_CRON",
        "0 2 * * *",
        "when the nightly sync runs",
    ),
    Variable(
        "ALOCITY_SCHEDULE_TIMEZONE",
        "UTC",
        "the time zone of the schedules and the freshness deadline",
    ),
    Variable(
        "ALOCITY_INTRADAY_SYNC",
        "off",
        "`on` turns on the schedule that reads today's newest access logs",
    ),
    Variable(
        "ALOCITY_INTRADAY_CRON",
        "*/15 * * * *",
        "when the intraday schedule runs",
    ),
    Variable(
        "ALOCITY_SYNC_WAIT_S",
        "3600",
        "seconds a sync waits for another sync of the same warehouse before it is refused",
    ),
    Variable(
        "ALOCITY_ACCOUNTS_PER_RUN",
        "50",
        (
            "with an accounts file: at most this many accounts in one run, synced side by side (in"
            " one process, each at its own budget); 1 on a cluster, so each account is a run of its own"
        ),
    ),
    Variable(
        "ALOCITY_ACCOUNT_RUNS",
        "2",
        (
            "with an accounts file: the accounts are split into this many runs (each its own process,"
            " CPU work on every core: one per core is right): `alocity-etl sync` starts them at once,"
            " the nightly schedule asks for them together"
        ),
    ),
    Variable(
        "ALOCITY_MODELS",
        "on",
        (
            "`off`: no dbt model in the Definitions (dbt is not even imported) and a sync writes the"
            " tables only; build the models later with the `refresh_models` job"
        ),
    ),
    # monitoring
    Variable(
        "ALOCITY_ACCESS_KEY_EXPIRES_AT",
        "",
        (
            "when the key expires (ISO date); or `ALOCITY_ACCESS_KEY_CREATED_AT` (+1 year). Without "
            "either, the first time the key was seen + 1 year (an estimate, recorded by fingerprint, "
            "never the key)"
        ),
    ),
    Variable(
        "ALOCITY_ACCESS_KEY_CREATED_AT",
        "",
        "when the key was created (ISO date), if its expiry is not set",
    ),
    Variable(
        "ALOCITY_ALERT_WEBHOOK_URL",
        "",
        "Slack-compatible webhook for key-expiry and run-failure alerts",
    ),
    Variable(
        "ALOCITY_KEY_SENSOR_INTERVAL_SECONDS",
        "3600",
        "how often the key-expiry sensor ticks",
    ),
    Variable(
        "ALOCITY_FRESHNESS_MAX_AGE_HOURS",
        "26",
        "when a dimension counts as stale",
    ),
    Variable(
        "ALOCITY_ACCESS_LOG_FRESHNESS_CRON",
        "0 6 * * *",
        "by when each day of access logs must be loaded",
    ),
)
DEFAULTS = {v.name: v.default for v in VARIABLES}


@dataclass(frozen=True)
class ApiSettings:
    """The Alocity account and how the client talks to it."""

    access_key: Secret
    base_url: str
    rate_limit: str  # as ALOCITY_RATE_LIMIT: "100", "100/5s", "none"
    page_size: int
    cache_dir: Path
    state_url: Secret | None
    connect_timeout_s: float
    read_timeout_s: float
    max_attempts: int
    retry_max_seconds: float
    retry_backoff_s: float
    concurrency: int

    def client(self) -> ClientSettings:
        """The client's settings (ConfigError when no key is set: the one thing a client needs)."""
        limit, window = parse_rate_limit(self.rate_limit)
        return ClientSettings(
            access_key=self.access_key,
            base_url=self.base_url,
            rate_limit=limit,
            rate_window_s=window,
            page_size=self.page_size,
            cache_dir=self.cache_dir,
            state_url=self.state_url,
            connect_timeout_s=self.connect_timeout_s,
            read_timeout_s=self.read_timeout_s,
            max_attempts=self.max_attempts,
            retry_max_seconds=self.retry_max_seconds,
            retry_backoff_s=self.retry_backoff_s,
            concurrency=self.concurrency,
        )


@dataclass(frozen=True)
class WarehouseSettings:
    path: str
    lock_timeout_s: float  # a writer waits this long for the file held by another process


@dataclass(frozen=True)
class SyncSettings:
    access_log_start: date | None  # history is not read before it; None: from the first event
    settle_days: int  # a day is settled once read this many days after it ended
    schedule_cron: str
    schedule_timezone: str
    intraday: bool  # the access-log schedule for today so far runs
    intraday_cron: str
    sync_wait_s: float  # a sync waits this long for another sync of the same warehouse
    models: bool  # the dbt models are part of the Definitions and run at the end of a sync
    accounts_per_run: int  # with an accounts file: accounts one run syncs side by side (at most)
    account_runs: int  # with an accounts file: runs (processes) the accounts are split into
    recheck_days: int  # once a week a catch-up re-reads this many days back, settled or not


@dataclass(frozen=True)
class MonitoringSettings:
    key_expires_at: datetime | None
    key_created_at: datetime | None
    webhook_url: str | None
    key_sensor_interval_s: int
    freshness_max_age_hours: float
    access_log_freshness_cron: str


@dataclass(frozen=True)
class Account:
    """One account of the accounts file: its client settings, its own warehouse file, where its
    key comes from, and its key's dates (for the expiry warnings)."""

    name: str
    api: ApiSettings
    warehouse: WarehouseSettings
    key_env: str  # the variable holding its access key
    key_expires_at: datetime | None
    key_created_at: datetime | None


@dataclass(frozen=True)
class Settings:
    api: ApiSettings
    warehouse: WarehouseSettings
    sync: SyncSettings
    monitoring: MonitoringSettings
    # ALOCITY_ACCOUNTS_FILE's accounts, in name order; () = the one account of ALOCITY_ACCESS_KEY.
    accounts: tuple[Account, ...] = ()
    account: str | None = None  # set by `for_account`: whose settings these are

    @property
    def multi_account(self) -> bool:
        return bool(self.accounts)

    def account_names(self) -> list[str]:
        return [a.name for a in self.accounts]

    def for_account(self, name: str) -> Settings:
        """The settings of one account of the file, shaped as a single account's: everything
        that syncs, queries or monitors one account takes these."""
        for a in self.accounts:
            if a.name == name:
                monitoring = replace(
                    self.monitoring, key_expires_at=a.key_expires_at, key_created_at=a.key_created_at
                )
                return replace(
                    self, api=a.api, warehouse=a.warehouse, monitoring=monitoring, accounts=(), account=name
                )
        known = ", ".join(self.account_names()) or "(none: ALOCITY_ACCOUNTS_FILE is not set)"
        raise SettingsError(f"unknown account {name!r}; the accounts file has {known}")

    def require_keys(self, names: list[str] | None = None) -> None:
        """Before a sync: every account it syncs has its key in the environment."""
        for a in self.accounts:
            if (names is None or a.name in names) and not a.api.access_key.reveal().strip():
                raise SettingsError(
                    f"account {a.name}: {a.key_env} is not set; export it with that account's access key "
                    "(the accounts file names the variable in access_key_env)"
                )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every variable (the process's environment by default)."""
        env = _Reader(os.environ if environ is None else environ)
        dagster_home = env.raw("DAGSTER_HOME")  # Dagster's own variable: the cache's default home
        cache = env.text("ALOCITY_CACHE_DIR")
        api = ApiSettings(
            access_key=Secret(env.text("ALOCITY_ACCESS_KEY")),
            base_url=env.parsed("ALOCITY_BASE_URL", _client_check(validate_base_url)),
            rate_limit=env.parsed("ALOCITY_RATE_LIMIT", _rate),
            page_size=env.whole("ALOCITY_PAGE_SIZE", minimum=1),
            cache_dir=Path(cache).expanduser() if cache else _default_cache(dagster_home),
            state_url=_optional_secret(env.parsed("ALOCITY_STATE_URL", _client_check(validate_state_url))),
            connect_timeout_s=env.number("ALOCITY_CONNECT_TIMEOUT"),
            read_timeout_s=env.number("ALOCITY_READ_TIMEOUT"),
            max_attempts=env.whole("ALOCITY_MAX_ATTEMPTS", minimum=1),
            retry_max_seconds=env.number("ALOCITY_RETRY_MAX_SECONDS"),
            retry_backoff_s=env.number("ALOCITY_RETRY_BACKOFF_S"),
            concurrency=env.whole("ALOCITY_CONCURRENCY", minimum=1),
        )
        warehouse = WarehouseSettings(
            path=env.text("ALOCITY_WAREHOUSE"), lock_timeout_s=env.whole("ALOCITY_LOCK_TIMEOUT_S", minimum=0)
        )
        sync = SyncSettings(
            access_log_start=env.parsed("ALOCITY_ACCESS_LOG_START", _day),
            settle_days=env.whole("ALOCITY_ACCESS_LOG_SETTLE_DAYS", minimum=0),
            schedule_cron=env.parsed("ALOCITY_SCHEDULE_CRON", _cron),
            schedule_timezone=env.parsed("ALOCITY_SCHEDULE_TIMEZONE", _zone),
            intraday=env.parsed("ALOCITY_INTRADAY_SYNC", _switch),
            intraday_cron=env.parsed("ALOCITY_INTRADAY_CRON", _cron),
            sync_wait_s=env.whole("ALOCITY_SYNC_WAIT_S", minimum=0),
            models=env.parsed("ALOCITY_MODELS", _switch),
            accounts_per_run=env.whole("ALOCITY_ACCOUNTS_PER_RUN", minimum=1),
            account_runs=env.whole("ALOCITY_ACCOUNT_RUNS", minimum=1),
            recheck_days=env.whole("ALOCITY_ACCESS_LOG_RECHECK_DAYS", minimum=0),
        )
        monitoring = MonitoringSettings(
            key_expires_at=env.parsed("ALOCITY_ACCESS_KEY_EXPIRES_AT", _instant),
            key_created_at=env.parsed("ALOCITY_ACCESS_KEY_CREATED_AT", _instant),
            webhook_url=env.text("ALOCITY_ALERT_WEBHOOK_URL") or None,
            key_sensor_interval_s=env.whole("ALOCITY_KEY_SENSOR_INTERVAL_SECONDS", minimum=30),
            freshness_max_age_hours=env.number("ALOCITY_FRESHNESS_MAX_AGE_HOURS"),
            access_log_freshness_cron=env.parsed("ALOCITY_ACCESS_LOG_FRESHNESS_CRON", _cron),
        )
        accounts_file = env.text("ALOCITY_ACCOUNTS_FILE")
        accounts: tuple[Account, ...] = ()
        if accounts_file:
            try:
                entries = read_accounts_file(Path(accounts_file).expanduser())
            except AccountsFileError as exc:
                raise SettingsError(str(exc)) from None
            accounts = tuple(_account(e, api, warehouse, env) for e in entries)
            _distinct_warehouses(accounts)
        return cls(api, warehouse, sync, monitoring, accounts)


def _account(entry: AccountEntry, api: ApiSettings, warehouse: WarehouseSettings, env: _Reader) -> Account:
    """One entry of the accounts file as settings: its own key, URL, budget, token cache and
    warehouse file; everything else as the environment says for every account."""

    def checked(what: str, value: str, check: Callable[[str], object]) -> None:
        try:
            check(value)
        except (ConfigError, ValueError) as exc:
            reason = str(exc).split(" ", 1)[1] if str(exc).startswith("ALOCITY_") else str(exc)
            raise SettingsError(f"account {entry.name}: {what} {reason}") from None

    base_url = entry.base_url or api.base_url
    rate = entry.rate_limit or api.rate_limit
    checked("base_url", base_url, validate_base_url)
    checked("rate_limit", rate, parse_rate_limit)
    path = entry.warehouse or str(Path(warehouse.path).parent / f"{entry.name}.duckdb")
    dates = {}
    for key in ("key_expires_at", "key_created_at"):
        raw = getattr(entry, key) or ""
        try:
            dates[key] = _instant(raw)
        except ValueError as exc:
            raise SettingsError(f"account {entry.name}: {key}={raw!r} {exc}") from None
    return Account(
        name=entry.name,
        api=replace(
            api,
            access_key=Secret(env.raw(entry.access_key_env)),
            base_url=validate_base_url(base_url),
            rate_limit=rate,
            cache_dir=api.cache_dir / entry.name,
        ),
        warehouse=replace(warehouse, path=path),
        key_env=entry.access_key_env,
        **dates,
    )


def _distinct_warehouses(accounts: tuple[Account, ...]) -> None:
    seen: dict[Path, str] = {}
    for a in accounts:
        where = Path(a.warehouse.path).expanduser().resolve()
        if where in seen:
            raise SettingsError(
                f"accounts {seen[where]} and {a.name} share the warehouse file {a.warehouse.path}; "
                "give each its own `warehouse` in the accounts file (or drop it for <name>.duckdb)"
            )
        seen[where] = a.name


# ---------------------------------------------------------------- reading and checking


class _Reader:
    """Values by name, the declared default when unset; each failure one line."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def raw(self, name: str) -> str:
        return self.environ.get(name, "").strip()

    def text(self, name: str) -> str:
        return self.raw(name) or DEFAULTS[name]

    def parsed(self, name: str, parse: Callable[[str], T]) -> T:
        """`parse(text)`; its ValueError says what is accepted, after the variable and value."""
        raw = self.text(name)
        try:
            return parse(raw)
        except ConfigError as exc:  # the client's own checks name the variable themselves
            raise SettingsError(str(exc)) from None
        except ValueError as exc:
            raise SettingsError(f"{name}={raw!r} {exc}") from None

    def whole(self, name: str, minimum: int) -> int:
        def parse(raw: str) -> int:
            try:
                value = int(raw)
            except ValueError:
                hint = f"use a whole number >= {minimum}, e.g. {DEFAULTS[name]}"
                raise ValueError(f"is not a whole number; {hint}") from None
            if value < minimum:
                raise ValueError(f"must be a whole number >= {minimum}, e.g. {DEFAULTS[name]}")
            return value

        return self.parsed(name, parse)

    def number(self, name: str) -> float:
        def parse(raw: str) -> float:
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"is not a number; use a number > 0, e.g. {DEFAULTS[name]}") from None
            if not value > 0:
                raise ValueError(f"must be a number > 0, e.g. {DEFAULTS[name]}")
            return value

        return self.parsed(name, parse)


def _default_cache(dagster_home: str) -> Path:
    return Path(dagster_home) / ".alocity-cache" if dagster_home else Path.home() / ".cache" / "alocity-etl"


def _client_check(check: Callable[[str], str]) -> Callable[[str], str]:
    return lambda raw: check(raw) if raw else raw


def _optional_secret(value: str) -> Secret | None:
    return Secret(value) if value else None


def _rate(raw: str) -> str:
    parse_rate_limit(raw)  # raises ConfigError naming the variable and the accepted forms
    return raw


def _day(raw: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError("is not a date; use YYYY-MM-DD, e.g. 2026-01-01, or leave it unset") from None


def _instant(raw: str) -> datetime | None:
    """An ISO date or datetime, as an aware UTC datetime (naive = UTC)."""
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        hint = "use e.g. 2027-03-31 or 2027-03-31T09:00:00Z"
        raise ValueError(f"is not an ISO date or datetime; {hint}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _zone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("is not a time zone; use an IANA name such as Europe/Madrid") from None
    return raw


_CRON = re.compile(r"^\S+( \S+){4}$")


def _cron(raw: str) -> str:
    if not _CRON.match(" ".join(raw.split())):
        raise ValueError("is not a cron expression; use five fields, e.g. 0 2 * * *")
    return " ".join(raw.split())


def _switch(raw: str) -> bool:
    value = raw.lower()
    if value in ("0", "off", "false", "no"):
        return False
    if value in ("1", "on", "true", "yes"):
        return True
    raise ValueError("is not on or off; set it to on or off")


# ---------------------------------------------------------------- the README table

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- settings table: python -m alocity_etl.settings -->", "<!-- end of settings table -->"


def readme_table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for v in VARIABLES:
        default = v.shown_default or (f"`{v.default}`" if v.default else "(none)")
        rows.append(f"| `{v.name}` | {default} | {v.meaning} |")
    return "\n".join(rows)


def with_table(readme: str) -> str:
    """The README's text with its settings table regenerated."""
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    return readme[:start] + "\n" + readme_table() + "\n" + readme[end:]


if __name__ == "__main__":
    README.write_text(with_table(README.read_text()))
    print(f"wrote the settings table in {README}", file=sys.stderr)
