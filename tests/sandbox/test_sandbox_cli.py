"""`alocity-etl sandbox` as a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("alocity-etl")


def cli(*args: str) -> list[str]:
    base = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "alocity_etl.cli"]
    return [*base, "sandbox", *args]


ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--preset", "nope"], "--preset"),
        (["--rate-limit", "fast"], "N/WINDOW"),
        (["--token-lifetime", "-5"], "--token-lifetime"),
        (["--port", "99999"], "--port"),
        (["--accounts", "0"], "--accounts"),
        (["--accounts", "501"], "--accounts"),
        (["--accounts", "many"], "--accounts"),
        (["--accounts", "2", "--write-accounts", "/nonexistent-dir/accounts.toml"], "--write-accounts"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, needle):
    r = subprocess.run(cli(*args), capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "error" in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_port_in_use():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = subprocess.run(
            cli("--preset", "tiny", "--port", str(port)),
            capture_output=True,
            text=True,
            env=ENV,
            cwd=ROOT,
            timeout=60,
        )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(port) in lines[0] and "--port" in lines[0], r.stderr


def test_happy_path_serves_a_token():
    port = free_port()
    proc = subprocess.Popen(
        cli("--preset", "tiny", "--port", str(port), "--access-key", "alk_cli_test", "--rate-limit", "none"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        cwd=ROOT,
    )
    try:
        out = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            out.append(line)
            if "curl" in line:
                break
        text = "".join(out)
        assert f"http://127.0.0.1:{port}" in text and "/v1/integration-management" in text
        assert "alk_cli_test" in text
        for _ in range(100):
            try:
                r = requests.post(
                    f"http://127.0.0.1:{port}/v1/integration-management/token",
                    json={"accessKey": "alk_cli_test"},
                    timeout=5,
                )
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert r.status_code == 200 and r.json()["payload"].count(".") == 2
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "alk_cli_test" not in err and r.json()["payload"] not in err  # secrets never logged


def test_many_accounts_write_a_keyless_accounts_file(tmp_path):
    port, path = free_port(), tmp_path / "accounts.toml"
    proc = subprocess.Popen(
        cli("--accounts", "3", "--write-accounts", str(path), "--preset", "tiny", "--port", str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        cwd=ROOT,
    )
    exports: dict[str, str] = {}
    tokens: list[str] = []
    try:
        out = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            out.append(line)
            if "curl" in line or not line:
                break
        exports = dict(
            line.removeprefix("export ").strip().split("=", 1) for line in out if line.startswith("export ")
        )
        assert list(exports) == ["ALOCITY_KEY_ACCT01", "ALOCITY_KEY_ACCT02", "ALOCITY_KEY_ACCT03"], out
        text = path.read_text()
        accounts = tomllib.loads(text)["accounts"]
        assert list(accounts) == ["acct01", "acct02", "acct03"]
        for name, entry in accounts.items():
            assert entry == {
                "base_url": f"http://127.0.0.1:{port}",
                "access_key_env": f"ALOCITY_KEY_{name.upper()}",
                "rate_limit": "100/60s",
            }
        assert not any(key in text for key in exports.values())
        tokens = []
        for key in exports.values():  # every exported key logs into the one port
            r = requests.post(
                f"http://127.0.0.1:{port}/v1/integration-management/token", json={"accessKey": key}, timeout=5
            )
            assert r.status_code == 200 and r.json()["hasErrors"] is False
            tokens.append(r.json()["payload"])
        listing = requests.get(f"http://127.0.0.1:{port}/_sandbox/accounts", timeout=5).json()
        assert {a["name"]: a["accessKey"] for a in listing} == {
            n: exports[f"ALOCITY_KEY_{n.upper()}"] for n in accounts
        }
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert not any(secret in err for secret in [*exports.values(), *tokens])  # secrets never logged


def test_cli_and_tenants_agree_on_the_account_limit():
    from alocity_etl.commands import sandbox as command
    from alocity_etl.sandbox import tenants

    assert command.MAX_ACCOUNTS == tenants.MAX_ACCOUNTS == 500
