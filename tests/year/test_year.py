"""A year in the life (issue 22): every simulated night the nightly schedule's run, faults,
outages, late uploads, schema drift, the key's renewal and a Reissue; every morning the
warehouse checked against the sandbox's truth (tests/year/driver.py).

`test_sixty_nights` is the year compressed to 60 nights, in the default suite;
`test_full_year` (marker `year`, `make year`) runs 365 and writes reports/year.json.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.pipeline import REPO
from tests.year.driver import Year
from tests.year.year_plan import YearPlan

SEED = 22
REPORT = REPO / "reports" / "year.json"


def scratch() -> Path:
    """A directory in memory when the machine has one: a year writes its warehouse 400 times."""
    shm = Path("/dev/shm")
    where = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="alocity-year-", dir=where))


def live(nights: int) -> dict:
    root = scratch()
    year = Year(YearPlan.make(nights, SEED), root, progress=lambda m: print(m, file=sys.stderr, flush=True))
    try:
        report = year.run()
    finally:
        year.close()
        shutil.rmtree(root, ignore_errors=True)
    headline = {k: v for k, v in report.items() if k != "details"}
    print(f"{nights} nights: {headline}, {report['details']['wall_seconds']} s", file=sys.stderr)
    return report


def assert_the_year_held(report: dict, nights: int) -> None:
    assert report["nights_run"] + report["nights_missed"] == nights
    assert report["rows_lost"] == 0 and report["rows_duplicated"] == 0 and report["secret_leaks"] == 0
    assert report["warnings_sent"] == report["warnings_expected"] == 5
    d = report["details"]
    assert d["rows_mismatched"] == 0 and d["rows_unexpected"] == 0
    assert report["rows_reconciled"] > 0 and d["versions_reconciled"] > 0 and d["as_of_checks"] > 0
    late = d["late_events"]
    assert late["beyond_settle_window_injected"] > 0
    assert late["beyond_settle_window_repaired"] == late["beyond_settle_window_injected"]
    assert late["found_by_weekly_recheck"] > 0
    assert {f["why"] for f in d["nights_failed"]} == {"SIGKILL mid-write", "Reissue: every key disabled"}
    assert set(d["fault_nights"]) >= {
        "5xx storm",
        "429 storm",
        "connection resets",
        "token invalidated mid-sync",
    }
    changes = " ".join(d["schema_changes"])
    assert (
        "badge_color added" in changes
        and "site_id type_changed" in changes
        and "description missing" in changes
    )


@pytest.mark.timeout(900)
def test_sixty_nights() -> None:
    report = live(60)
    assert_the_year_held(report, 60)


@pytest.mark.year
@pytest.mark.timeout(3 * 3600)
def test_full_year() -> None:
    report = live(365)
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2, default=str) + "\n")
    assert_the_year_held(report, 365)
