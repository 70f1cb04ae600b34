"""Many accounts behind one port, as the real multi-tenant Alocity API serves them.

Each account is a whole `Sandbox`: its own data set, keys, JWT secret, rate limit, clock,
faults and stats. `TenantRouter`, the one ASGI app in front, only picks the account a request
belongs to, from its credential (the access key of a login, the Bearer JWT of any other call),
and hands the request on untouched, so each account's Edge applies that account's limit,
faults and counters alone: a 429 on one account never touches another.

    from alocity_etl.sandbox import MultiSandbox, SandboxConfig
    with MultiSandbox.numbered(3, SandboxConfig(preset="tiny")).serve() as ms:
        acct = ms.accounts["acct02"]
        ms.base_url, acct.access_key, acct.admin.ground_truth()

Admin: GET /_sandbox/accounts lists [{"name", "accessKey"}]; /_sandbox/accounts/<name>/<path>
is <path> of admin.py for that account; the plain /_sandbox/<path> acts on the first account.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from starlette.responses import JSONResponse

from alocity_etl.catalog import API_PREFIX, ENDPOINTS

from .admin import SandboxAdmin
from .api import ADMIN_PREFIX
from .config import SandboxConfig
from .server import BackgroundServer, Sandbox, bind_socket, uvicorn_server
from .state import SandboxState
from .wire import TOKEN_BODY_FIELD

MAX_ACCOUNTS = 500
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # a URL segment, a TOML bare key, an env-var suffix
TOKEN_PATH = f"{API_PREFIX}/{ENDPOINTS['token']}"
ACCOUNTS_PATH = f"{ADMIN_PREFIX}/accounts"
_OWNER_CACHE_MAX = 100_000  # JWT -> account entries before the cache starts over

Receive = Callable[[], Awaitable[dict[str, Any]]]


def account_names(n: int) -> list[str]:
    """acct01..acctNN, zero-padded (3 digits from 100 accounts) so sorted order is numeric order."""
    width = max(2, len(str(n)))
    return [f"acct{i:0{width}d}" for i in range(1, n + 1)]


def numbered_configs(n: int, base: SandboxConfig | None = None) -> dict[str, SandboxConfig]:
    """n accounts shaped like `base`: acct01 gets base.seed (so it is the single-account sandbox's
    data), each next one seed + 1; a fixed base.access_key becomes f"{key}-{name}" per account,
    else each account draws its own random key."""
    if not 1 <= n <= MAX_ACCOUNTS:
        raise ValueError(f"the number of accounts must be between 1 and {MAX_ACCOUNTS}, not {n}")
    base = base or SandboxConfig()
    return {
        name: dataclasses.replace(
            base,
            seed=base.seed + i,
            access_key=f"{base.access_key}-{name}" if base.access_key else None,
        )
        for i, name in enumerate(account_names(n))
    }


def key_env(name: str) -> str:
    """The environment variable that holds an account's key in the accounts file."""
    return "ALOCITY_KEY_" + name.upper().replace("-", "_")


def _toml_str(text: str) -> str:
    return json.dumps(text)  # a JSON string of printable ASCII is a valid TOML basic string


class TenantRouter:
    """ASGI: send each request to the app of the account it belongs to.

    Login (POST token): the account that has the key in its body. Any other Alocity call: the
    account that signed its Bearer JWT, live or stale (a stale one then gets its own account's
    401 and counts against its own budget, not another's). No or unknown credential: the first
    account, which answers the documented error. /_sandbox/accounts/<name>/...: that account's
    admin; other /_sandbox/... paths: the first account's.
    """

    def __init__(self, sandboxes: dict[str, Sandbox]) -> None:
        self.sandboxes = sandboxes
        self.apps = {name: sb.app() for name, sb in sandboxes.items()}
        self.first = next(iter(sandboxes))
        self._owner: dict[str, str] = {}  # JWT -> name; a signature check costs ~80 µs per account

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http":
            name = self.first
        elif path == ACCOUNTS_PATH or path.startswith(ACCOUNTS_PATH + "/"):
            await self._account_admin(scope, receive, send)
            return
        elif path.startswith(ADMIN_PREFIX):
            name = self.first
        elif scope["method"] == "POST" and path.rstrip("/") == TOKEN_PATH:
            body = await _read_body(receive)
            if body is None:  # the client went away before sending its body
                return
            name = self._by_key(body)
            receive = _replay(body, receive)
        else:
            name = self._by_token(scope)
        await self.apps[name](scope, receive, send)

    def _by_key(self, body: bytes) -> str:
        try:
            sent = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return self.first
        key = sent.get(TOKEN_BODY_FIELD) if isinstance(sent, dict) else None
        if not isinstance(key, str):
            return self.first
        for name, sb in self.sandboxes.items():
            with sb.state.lock:
                if sb.state.keys.find(key) is not None:
                    return name
        return self.first

    def _by_token(self, scope: dict[str, Any]) -> str:
        header = next((v for k, v in scope.get("headers", ()) if k == b"authorization"), b"")
        scheme, _, token = header.decode("latin-1").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return self.first
        name = self._owner.get(token)
        if name is None:
            # The secret never changes, so no lock; misses are not cached (nobody signed them).
            name = next((n for n, sb in self.sandboxes.items() if sb.state.tokens.signed(token)), None)
            if name is None:
                return self.first
            if len(self._owner) >= _OWNER_CACHE_MAX:
                self._owner.clear()
            self._owner[token] = name
        return name

    async def _account_admin(self, scope: dict[str, Any], receive: Receive, send: Any) -> None:
        rest = scope["path"][len(ACCOUNTS_PATH) :].strip("/")
        if not rest:
            if scope["method"] != "GET":
                response = JSONResponse({"error": "GET only"}, status_code=405)
            else:
                response = JSONResponse(self.listing())
            await response(scope, receive, send)
            return
        name, _, tail = rest.partition("/")
        if name not in self.apps:
            response = JSONResponse(
                {"error": f"no account {name!r}; GET {ACCOUNTS_PATH} lists them"}, status_code=404
            )
            await response(scope, receive, send)
            return
        inner = f"{ADMIN_PREFIX}/{tail}"
        sub = {**scope, "path": inner, "raw_path": inner.encode()}
        await self.apps[name](sub, receive, send)

    def listing(self) -> list[dict[str, str]]:
        return [{"name": name, "accessKey": _current_key(sb.state)} for name, sb in self.sandboxes.items()]


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that yields the body already read once, then defers to the real one."""
    pending = True

    async def again() -> dict[str, Any]:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


def _current_key(st: SandboxState) -> str:
    with st.lock:
        return st.keys.current(st.now())


class MultiSandbox:
    """Sandbox accounts by name (the first one answers requests no account claims), one port."""

    def __init__(self, configs: dict[str, SandboxConfig]) -> None:
        if not configs:
            raise ValueError("a multi-account sandbox needs at least one account")
        if len(configs) > MAX_ACCOUNTS:
            raise ValueError(f"at most {MAX_ACCOUNTS} accounts, not {len(configs)}")
        for name in configs:
            if not NAME_RE.match(name):
                raise ValueError(f"bad account name {name!r}: use letters, digits, '_' or '-' (1-64)")
        self.configs = dict(configs)
        self.sandboxes = {name: Sandbox(cfg) for name, cfg in self.configs.items()}
        first = next(iter(self.sandboxes.values())).state
        seen: dict[str, str] = {}
        for name, sb in self.sandboxes.items():
            sb.state.share_wall_clock(first)
            key = _current_key(sb.state)
            if key in seen:  # the login could not tell the two accounts apart
                raise ValueError(f"accounts {seen[key]!r} and {name!r} have the same access key")
            seen[key] = name

    @classmethod
    def numbered(cls, n: int, base: SandboxConfig | None = None) -> MultiSandbox:
        """acct01..acctNN shaped like `base` (see numbered_configs)."""
        return cls(numbered_configs(n, base))

    def app(self) -> TenantRouter:
        return TenantRouter(self.sandboxes)

    def serve(self, port: int = 0) -> RunningMultiSandbox:
        """Start serving on 127.0.0.1:port (0 = any free port); returns once it accepts requests."""
        return RunningMultiSandbox(self, bind_socket(port))

    def serve_forever(self, sock: socket.socket) -> None:
        """Foreground (the CLI): blocks until Ctrl-C / SIGTERM."""
        uvicorn_server(self.app()).run(sockets=[sock])


class Account:
    """One account of a running multi-account sandbox, shaped like RunningSandbox."""

    def __init__(self, name: str, sandbox: Sandbox, base_url: str) -> None:
        self.name, self.sandbox, self.base_url = name, sandbox, base_url
        self.state: SandboxState = sandbox.state
        self.admin = SandboxAdmin(base_url, account=name)

    @property
    def config(self) -> SandboxConfig:
        return self.sandbox.config

    @property
    def access_key(self) -> str:
        """The newest usable access key (changes after a reissue or a renewal)."""
        return _current_key(self.state)

    @property
    def key_env(self) -> str:
        return key_env(self.name)

    def __repr__(self) -> str:  # never the key
        return f"<sandbox account {self.name} at {self.base_url}>"


class RunningMultiSandbox:
    """A multi-account sandbox serving in a background thread; a context manager."""

    def __init__(self, multi: MultiSandbox, sock: socket.socket) -> None:
        self.multi = multi
        self._serving = BackgroundServer(multi.app(), sock)
        self.port, self.base_url = self._serving.port, self._serving.base_url
        self.accounts = {name: Account(name, sb, self.base_url) for name, sb in multi.sandboxes.items()}
        self.admin = SandboxAdmin(self.base_url)  # the plain /_sandbox paths: the first account

    def accounts_toml(self) -> str:
        """The accounts file for these accounts (see accounts_toml)."""
        return accounts_toml(self.base_url, {n: a.config for n, a in self.accounts.items()})

    def key_environment(self) -> dict[str, str]:
        """{ALOCITY_KEY_<NAME>: current key}: what the accounts file expects in the environment."""
        return {a.key_env: a.access_key for a in self.accounts.values()}

    def stop(self) -> None:
        self._serving.stop()
        self.admin.close()
        for account in self.accounts.values():
            account.admin.close()

    def __enter__(self) -> RunningMultiSandbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def accounts_toml(base_url: str, configs: dict[str, SandboxConfig]) -> str:
    """The product's accounts file (TOML) for sandbox accounts; it names each key's environment
    variable, never the key."""
    lines = [f"# Alocity sandbox accounts at {base_url}; each key is read from the variable named."]
    for name, cfg in configs.items():
        lines += [
            "",
            f"[accounts.{name}]",
            f"base_url = {_toml_str(base_url)}",
            f"access_key_env = {_toml_str(key_env(name))}",
            f"rate_limit = {_toml_str(cfg.rate_limit if cfg.rate else 'none')}",
        ]
    return "\n".join(lines) + "\n"


__all__ = [
    "MAX_ACCOUNTS",
    "Account",
    "MultiSandbox",
    "RunningMultiSandbox",
    "TenantRouter",
    "account_names",
    "accounts_toml",
    "key_env",
    "numbered_configs",
]
