"""`alocity-etl report`: one self-contained HTML page whose plots show in a browser.

The page is made from the `world` warehouse as of its sandbox clock, opened in headless
Chromium (no network: the page must need none), and the screenshot must show each plot -
its own colour, in quantity (saved as reports/report-screenshot.png to look at). Bad input:
an empty warehouse says so in one line (exit 1); a bad --days exits 2."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from reference import denied, ts

from alocity_etl.analytics import report
from alocity_etl.warehouse import Warehouse

REPORTS = Path(__file__).resolve().parents[2] / "reports"
CLI = str(Path(sys.executable).with_name("alocity-etl"))
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DAYS = 30


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


# Each panel's own colour: viridis' top (the busiest hours), the first denial reason, the
# expiring keys, the successful syncs.
SIGNATURES = {
    "heat map": hex_rgb("#fde725"),
    "denied attempts": hex_rgb(report.REASON_COLOURS[1]),
    "expiring credentials": hex_rgb(report.EXPIRING),
    "sync health": hex_rgb(report.SYNC_OK),
}


@pytest.fixture(scope="module")
def page(world, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return report.write_report(
        world.path, tmp_path_factory.mktemp("report") / "report.html", DAYS, world.as_of
    )


def test_the_page_is_self_contained(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert text.count("<svg") == 4 and text.count("<section") == 4
    assert "<script" not in text and "<link" not in text and "<img" not in text
    # Nothing to fetch: every reference is inside the page (an anchor or inline data; SVG xmlns
    # are names, not fetches).
    assert re.findall(r'(?:src|href)="(?!#|data:)', text) == []
    assert "url(http" not in text


def test_the_numbers_are_the_ground_truths(page: Path, world) -> None:
    since = world.as_of.date() - timedelta(days=DAYS)
    expected = sum(denied(e["result"]) and ts(e["createdAt"]).date() >= since for e in world.events)
    assert expected > 0
    assert f"{expected} denied attempts per UTC day since {since.isoformat()}" in page.read_text()


def browser() -> str | None:
    return next((p for b in BROWSERS if (p := shutil.which(b))), None)


def test_a_browser_shows_every_plot(page: Path, tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    exe = browser()
    if exe is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium); .ci/run installs it")
    shot = tmp_path / "report.png"
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1400,2000",
        page.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.exists(), done.stderr[-2000:]
    REPORTS.mkdir(exist_ok=True)
    shutil.copy(shot, REPORTS / "report-screenshot.png")
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    for panel, colour in SIGNATURES.items():
        near = int((np.abs(pixels - np.array(colour)).max(axis=2) <= 16).sum())
        assert near > 300, f"the {panel} plot does not show: {near} pixels of {colour}"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, "report", *args], capture_output=True, text=True, timeout=120)


def test_an_empty_warehouse_says_so_in_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.duckdb"
    Warehouse.open(empty).close()  # created and migrated, nothing synced
    for warehouse in (empty, tmp_path / "missing.duckdb"):
        done = run("--warehouse", str(warehouse), "--out", str(tmp_path / "r.html"))
        assert done.returncode == 1, done
        assert len(done.stderr.strip().splitlines()) == 1 and "run a sync first" in done.stderr
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("days", ["0", "x", "-3", "99999"])
def test_a_bad_days_exits_2(days: str, tmp_path: Path) -> None:
    done = run("--days", days, "--warehouse", str(tmp_path / "w.duckdb"))
    assert done.returncode == 2 and "--days" in done.stderr
