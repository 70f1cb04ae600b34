"""Shared helpers of the benchmarks: machine facts, a sandbox in its own process, RSS sampling, output.

Not a benchmark itself (run_all.py skips files starting with "_").
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PY = sys.executable
CLI = str(Path(PY).with_name("alocity-etl"))
HOST = "127.0.0.1"


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


def machine() -> dict[str, Any]:
    """The figures every result file records: cores, CPU model, RAM, library versions."""
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        m = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        ram_gb = round(int(m.group(1)) / 1024 / 1024, 1) if m else None
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu or platform.processor() or None,
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        "duckdb": _version("duckdb"),
        "dlt": _version("dlt"),
        "pandas": _version("pandas"),
        "dagster": _version("dagster"),
        "alocity_etl": _version("alocity-etl"),
        "platform": platform.platform(),
    }


def write_result(name: str, data: dict[str, Any]) -> Path:
    out = RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **data,
        "machine": machine(),
    }
    out.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return out


def table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> None:
    """Print a plain aligned table."""
    cells = [tuple(str(c) for c in header), *[tuple(_fmt(c) for c in r) for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for j, r in enumerate(cells):
        print(
            "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        )
        if j == 0:
            print("  ".join("-" * w for w in widths))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return "-" if v is None else str(v)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextmanager
def sandbox_process(preset: str, rate_limit: str = "none", seed: int = 1, timeout: float = 600.0):
    """`alocity-etl sandbox` in its own process (its memory and CPU are not the measured sync's).

    Yields (base_url, access_key, admin). Waits until the generated account answers.
    """
    from alocity_etl.sandbox import SandboxAdmin

    port, key = free_port(), "bench-" + secrets.token_hex(12)
    cmd = [
        CLI,
        "sandbox",
        "--preset",
        preset,
        "--port",
        str(port),
        "--rate-limit",
        rate_limit,
        "--access-key",
        key,
        "--seed",
        str(seed),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://{HOST}:{port}"
    admin = SandboxAdmin(base, timeout=300)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"sandbox exited: {proc.stderr.read() if proc.stderr else ''}")
            try:
                admin.info()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield base, key, admin
    finally:
        admin.close()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class RssSampler:
    """Peak RSS of a process and its children, sampled every `interval` seconds (psutil)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                total = 0
                for p in procs:
                    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                        total += p.memory_info().rss
                self.peak = max(self.peak, total)
            except psutil.NoSuchProcess:
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def peak_mb(self) -> float:
        return round(self.peak / 1024 / 1024, 1)


def run_measured(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 1800
) -> tuple[dict, float]:
    """Run `python <args>` as a child, sample its process tree's RSS, and parse the JSON it
    prints on its last stdout line. Returns (that dict, peak RSS in MB)."""
    proc = subprocess.Popen(
        [PY, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    with RssSampler(proc.pid) as sampler:
        out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} {' '.join(args[1:3])} failed ({proc.returncode}):\n{err[-4000:]}")
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"no JSON result from {args}:\n{out[-2000:]}\n{err[-2000:]}")
    result = json.loads(lines[-1])
    # ru_maxrss of the child, as a cross-check of the sampler (kB on Linux).
    return result, max(sampler.peak_mb, float(result.get("ru_maxrss_mb", 0.0)))


def ru_maxrss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
