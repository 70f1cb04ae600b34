"""Build the ASGI app and serve it with uvicorn on 127.0.0.1 (background thread or foreground)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from .admin import SandboxAdmin, admin_routes
from .api import Edge, api_routes
from .config import SandboxConfig
from .state import SandboxState

HOST = "127.0.0.1"  # never 0.0.0.0: the sandbox hands out tokens to anyone who can reach it


def bind_socket(port: int) -> socket.socket:
    """Bind before uvicorn starts, so 'port in use' is a clean error and port 0 picks a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def uvicorn_server(app: Any) -> uvicorn.Server:
    # Access logs off: they are noise in tests, and a secret must never reach a log line.
    config = uvicorn.Config(
        app,
        host=HOST,
        log_level="warning",
        access_log=False,
        lifespan="off",
        proxy_headers=False,
        server_header=False,
        date_header=False,  # the Edge sends Date on the sandbox's own (simulated) clock
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)


class Sandbox:
    """One sandbox account. `serve()` runs it in a background thread."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.state = SandboxState(self.config)

    def app(self) -> Any:
        inner = Starlette(routes=[*admin_routes(self.state), *api_routes(self.state)])
        return Edge(inner, self.state)

    def serve(self, port: int = 0) -> RunningSandbox:
        """Start serving on 127.0.0.1:port (0 = any free port); returns once it accepts requests."""
        return RunningSandbox(self, bind_socket(port))

    def serve_forever(self, sock: socket.socket) -> None:
        """Foreground (the CLI): blocks until Ctrl-C / SIGTERM."""
        uvicorn_server(self.app()).run(sockets=[sock])


class BackgroundServer:
    """uvicorn serving an ASGI app on a bound socket in a daemon thread; returns once it accepts."""

    def __init__(self, app: Any, sock: socket.socket) -> None:
        self._sock = sock
        self.port: int = sock.getsockname()[1]
        self.base_url = f"http://{HOST}:{self.port}"
        self._server = uvicorn_server(app)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"alocity-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()


class RunningSandbox:
    """A sandbox serving in a background thread; a context manager that stops it on exit."""

    def __init__(self, sandbox: Sandbox, sock: socket.socket) -> None:
        self.sandbox, self.state = sandbox, sandbox.state
        self._serving = BackgroundServer(sandbox.app(), sock)
        self.port, self.base_url = self._serving.port, self._serving.base_url
        self.admin = SandboxAdmin(self.base_url)

    @property
    def access_key(self) -> str:
        """The newest usable access key (changes after a reissue or a renewal)."""
        with self.state.lock:
            return self.state.keys.current(self.state.now())

    @property
    def config(self) -> SandboxConfig:
        return self.sandbox.config

    def stop(self) -> None:
        self._serving.stop()
        self.admin.close()

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
