"""The page journal and the client's resume, in isolation (fast): an interrupted fetch resumed
from its journal makes no request the interrupted one had answered, and yields exactly the
pages an uninterrupted fetch yields."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alocity_etl.catalog import resource
from alocity_etl.client import AlocityClient, ClientSettings, fetch_resource
from alocity_etl.sandbox import RunningSandbox
from alocity_etl.sync.journal import PageJournal

pytestmark = pytest.mark.reliability


def client(sb: RunningSandbox, tmp_path: Path, page_size: int) -> AlocityClient:
    return AlocityClient(
        ClientSettings.from_values(
            sb.base_url, sb.access_key, rate_limit="1000/1s", page_size=page_size, cache_dir=tmp_path / "c"
        )
    )


def data_requests(sb: RunningSandbox) -> int:
    stats = sb.admin.stats()
    return stats["requests_total"] - stats["per_endpoint"].get("token", 0)


def rows(pages) -> list:
    return [(p.path, p.page_number, p.parent, p.items) for p in pages]


@pytest.mark.parametrize(
    ("name", "parents"),
    [
        ("users", None),  # paged listing (pages of 7) + one detail call per user
        ("group_members", "groups"),  # paged listing per parent
        ("cloud_keys", "users"),  # one call per parent (query parameter)
    ],
)
@pytest.mark.parametrize("cut", [0.3, 0.8])
def test_resume_requests_only_what_was_not_answered(
    sandbox: RunningSandbox, tmp_path: Path, name: str, parents: str | None, cut: float
) -> None:
    res = resource(name)
    with client(sandbox, tmp_path, page_size=7) as c:
        parent_rows = None
        if parents:
            key = res.fan_out.parent_key  # type: ignore[union-attr]
            parent_rows = [{key: r[key]} for r in sandbox.admin.ground_truth(table=parents)]
        recorded: list[tuple[str, object]] = []
        sandbox.admin.reset_stats()
        full = rows(fetch_resource(c, res, parents=parent_rows, record=lambda k, p: recorded.append((k, p))))
        total = data_requests(sandbox)
        assert len(recorded) == total  # every answer (listing pages, the empty last page) journaled
        # A run killed after `cut` of its calls: its journal holds the answers up to there.
        replay = dict(recorded[: int(len(recorded) * cut)])
        sandbox.admin.reset_stats()
        again: list[str] = []
        resumed = rows(
            fetch_resource(c, res, parents=parent_rows, replay=replay, record=lambda k, p: again.append(k))
        )
        made = data_requests(sandbox)
    assert resumed == full
    assert made == total - len(replay), f"{made} requests, {total - len(replay)} expected"
    assert not set(again) & set(replay)


def test_journal_survives_a_torn_line_and_expires(tmp_path: Path) -> None:
    wh = tmp_path / "w.duckdb"
    window = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))
    j = PageJournal(wh, "access_logs", window)
    j.start(sync_id=5, resumed={})
    j.record("/a?pageNumber=1", [{"id": 1}])
    j.record("/a?pageNumber=2", [{"id": 2}])
    j.close()
    with j.path.open("a") as fh:
        fh.write('{"k": "/a?pageNumber=3", "p": [{"id"')  # killed mid-line
    again = PageJournal(wh, "access_logs", window)
    assert again.load() == {"/a?pageNumber=1": [{"id": 1}], "/a?pageNumber=2": [{"id": 2}]}
    assert again.sync_id == 5
    # Another window, another journal; an expired one is deleted, not resumed.
    assert PageJournal(wh, "access_logs", (window[1], window[1])).load() == {}
    lines = j.path.read_text().splitlines()
    header = json.loads(lines[0])
    header["created"] = time.time() - 25 * 3600
    j.path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    assert PageJournal(wh, "access_logs", window).load() == {}
    assert not j.path.exists()
