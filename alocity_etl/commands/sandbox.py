"""`alocity-etl sandbox`: run the local Alocity sandbox in the foreground on 127.0.0.1."""

from __future__ import annotations

import argparse
from typing import NoReturn

from alocity_etl.catalog import API_PREFIX
from alocity_etl.sandbox.config import PRESETS, SandboxConfig, parse_rate_limit


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
