"""`alocity-etl sandbox`: run the local Alocity sandbox in the foreground on 127.0.0.1."""

from __future__ import annotations

import argparse
import os
import shlex
import socket
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from alocity_etl.catalog import API_PREFIX
from alocity_etl.sandbox.config import PRESETS, SandboxConfig, parse_rate_limit

if TYPE_CHECKING:
    from alocity_etl.sandbox.tenants import MultiSandbox

MAX_ACCOUNTS = 500  # tenants.MAX_ACCOUNTS; not imported here so `--help` stays fast


def _rate(text: str) -> str:
    try:
        parse_rate_limit(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0-65535; 0 = any free port)")
    return value


def _accounts(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of accounts") from None
    if not 1 <= value <= MAX_ACCOUNTS:
        raise argparse.ArgumentTypeError(f"{value} accounts: serve between 1 and {MAX_ACCOUNTS}")
    return value


def _one_line_error(parser: argparse.ArgumentParser) -> None:
    """Bad input -> exactly one line on stderr (no usage block) and exit code 2."""

    def error(message: str) -> NoReturn:
        parser.exit(2, f"{parser.prog}: error: {message}\n")

    parser.error = error  # type: ignore[method-assign]


def configure(parser: argparse.ArgumentParser) -> None:
    _one_line_error(parser)
    parser.add_argument(
        "--port", type=_port, default=8765, help="port on 127.0.0.1 (default 8765; 0 = free port)"
    )
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default="small", help="account size (default small)"
    )
    parser.add_argument(
        "--seed", type=int, default=7, help="random seed of the generated account (default 7)"
    )
    parser.add_argument("--access-key", default=None, help="fix the access key (default: a random one)")
    parser.add_argument(
        "--rate-limit",
        type=_rate,
        default="100/60s",
        help="account rate limit N/WINDOW, e.g. 100/60s, 20/2s, 100/1m, or none (default 100/60s)",
    )
    parser.add_argument(
        "--token-lifetime", type=_positive, default=3600, help="JWT lifetime in seconds (default 3600)"
    )
    parser.add_argument(
        "--accounts",
        type=_accounts,
        default=None,
        metavar="N",
        help=(
            f"serve N accounts acct01.. (1-{MAX_ACCOUNTS}) on the one port, each with its own key, "
            "rate limit and data (seeds SEED, SEED+1, ...; a fixed --access-key becomes KEY-acctNN); "
            "default: one account, as before"
        ),
    )
    parser.add_argument(
        "--write-accounts",
        type=Path,
        default=None,
        metavar="PATH",
        help="with --accounts: also write the accounts file (TOML; key variable names, never keys)",
    )
    parser.set_defaults(_parser=parser)


def run(args: argparse.Namespace) -> int:
    from alocity_etl.sandbox.server import HOST, Sandbox, bind_socket  # late: `--help` stays fast

    parser: argparse.ArgumentParser = args._parser
    try:
        sock = bind_socket(args.port)
    except OSError as exc:
        parser.error(
            f"cannot listen on {HOST}:{args.port} ({exc.strerror or exc}); "
            "stop whatever uses it or pass --port N (0 = any free port)"
        )
    cfg = SandboxConfig(
        preset=args.preset,
        seed=args.seed,
        access_key=args.access_key,
        rate_limit=args.rate_limit,
        token_lifetime_s=args.token_lifetime,
    )
    if args.accounts is not None or args.write_accounts is not None:
        return _run_many(parser, args, cfg, sock)
    sandbox = Sandbox(cfg)
    port = sock.getsockname()[1]
    base = f"http://{HOST}:{port}"
    key = sandbox.state.keys.current(sandbox.state.now())
    print(f"Alocity sandbox ({cfg.preset}, seed {cfg.seed}) listening on {base}", flush=True)
    print(f"  API prefix:  {API_PREFIX}")
    print(f"  access key:  {key}")
    print(f"  admin:       {base}/_sandbox/  (clock, simulate, ground-truth, faults, keys, stats)")
    print("  try:")
    print(
        f"    curl -s -X POST {base}{API_PREFIX}/token -H 'Content-Type: application/json' "
        f'-d \'{{"accessKey": "{key}"}}\'',
        flush=True,
    )
    sandbox.serve_forever(sock)
    return 0


def _run_many(
    parser: argparse.ArgumentParser, args: argparse.Namespace, cfg: SandboxConfig, sock: socket.socket
) -> int:
    from alocity_etl.sandbox.server import HOST
    from alocity_etl.sandbox.tenants import MultiSandbox, accounts_toml

    n = args.accounts or 1
    multi = MultiSandbox.numbered(n, cfg)
    base = f"http://{HOST}:{sock.getsockname()[1]}"
    toml = accounts_toml(base, multi.configs)
    if args.write_accounts is not None:
        try:
            _write_atomically(args.write_accounts, toml)
        except OSError as exc:
            sock.close()
            parser.error(
                f"cannot write the accounts file {args.write_accounts} ({exc.strerror or exc}); "
                "pass --write-accounts with a path in a writable directory"
            )
    _print_many(multi, base, toml, args.write_accounts)
    multi.serve_forever(sock)
    return 0


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _print_many(multi: MultiSandbox, base: str, toml: str, written: Path | None) -> None:
    from alocity_etl.sandbox.tenants import key_env

    first = next(iter(multi.sandboxes.values()))
    cfg, n = first.config, len(multi.sandboxes)
    keys = {name: sb.state.keys.current(sb.state.now()) for name, sb in multi.sandboxes.items()}
    seeds = f"seed {cfg.seed}" if n == 1 else f"seeds {cfg.seed}..{cfg.seed + n - 1} in order"
    print(f"Alocity sandbox: {n} accounts ({cfg.preset}, {seeds}) listening on {base}", flush=True)
    print(f"  API prefix:  {API_PREFIX}  (every account; the key or JWT picks the account)")
    print(f"  admin:       {base}/_sandbox/accounts  (the list); {base}/_sandbox/accounts/<name>/...")
    print(f"  rate limit:  {cfg.rate_limit if cfg.rate else 'none'} per account")
    if written is not None:
        print(f"  accounts file written: {written}  (no keys in it: export them as below)")
    else:
        print("  accounts file (TOML, no keys in it: export them as below):")
        print(toml.rstrip("\n"))
    print("  keys (paste into your shell):")
    for name in multi.sandboxes:
        print(f"export {key_env(name)}={shlex.quote(keys[name])}")
    print("  try:")
    name = next(iter(keys))
    print(
        f"    curl -s -X POST {base}{API_PREFIX}/token -H 'Content-Type: application/json' "
        f'-d \'{{"accessKey": "{keys[name]}"}}\'',
        flush=True,
    )
