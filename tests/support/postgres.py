"""A throwaway PostgreSQL server for the tests, from the distribution's own binaries.

`PostgresServer.start()` creates a cluster in a new temporary directory and starts it listening
only on 127.0.0.1, at a free port, and on a unix socket in that directory. TCP connections need
the password (so the tests exercise URLs that carry one); the socket trusts local users.
PostgreSQL refuses to run as root: as root (CI), initdb and pg_ctl run as the `postgres`
system user, which owns the directory. `unavailable_reason()` says why none can be started
(the tests then skip; .ci/run installs the `postgresql` package first).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

SUPERUSER = "alocity_test"
SERVER_USER = "postgres"  # the system user the server runs as when we are root


def bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin (Debian), else wherever `initdb` is on PATH."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if found:
        newest = max(found, key=lambda p: int(re.sub(r"\D", "", Path(p).parts[-3]) or 0))
        return Path(newest).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def unavailable_reason() -> str | None:
    directory = bin_dir()
    if directory is None or not (directory / "pg_ctl").exists():
        return "no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_USER!r} system user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing (PostgreSQL refuses to run as root)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    root: Path  # cluster, socket, log and password file
    port: int
    password: str
    bin: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new database; its URL."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if result.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr.strip()}\n{log}")

    @classmethod
    def start(cls) -> PostgresServer:
        directory = bin_dir()
        assert directory is not None, unavailable_reason()
        # /tmp, not pytest's tmp_path: the server user must be able to reach the directory.
        root = Path(tempfile.mkdtemp(prefix="alocity-pg-"))
        server = cls(root=root, port=0, password=secrets.token_urlsafe(12), bin=directory)
        pwfile = root / "pw"
        pwfile.write_text(server.password + "\n")
        if os.geteuid() == 0:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(root, account.pw_uid, account.pw_gid)
            os.chown(pwfile, account.pw_uid, account.pw_gid)
        try:
            server._run(
                "initdb", "-D", str(server.data), "-U", SUPERUSER, f"--pwfile={pwfile}",
                "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C",
                "--no-sync",
            )  # fmt: skip
            pwfile.unlink()
            for _attempt in range(3):  # another process may take the free port before the server does
                server.port = free_port()
                options = (
                    f"-c listen_addresses=127.0.0.1 -p {server.port} -k {root} "
                    # A throwaway cluster: durability off, for speed.
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                )
                try:
                    server._run("pg_ctl", "-D", str(server.data), "-l", str(server.log), "-o", options,
                                "-w", "-t", "30", "start")  # fmt: skip
                    return server
                except RuntimeError:
                    if "already in use" not in (server.log.read_text() if server.log.exists() else ""):
                        raise
            raise RuntimeError("no free port for PostgreSQL after 3 attempts")
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)
