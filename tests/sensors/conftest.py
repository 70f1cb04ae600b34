"""Fixtures for the sensor, alert and quality tests: a real webhook receiver on 127.0.0.1
and small warehouses built through the warehouse's own `apply`."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from alocity_etl.normalise import table_columns
from alocity_etl.warehouse import Warehouse
from tests.support.frames import write_frames


class Webhook:
    """A Slack-style incoming webhook: records every JSON body; `fail_next` answers 500s."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.fail_next = 0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.raw.append(body)
                if hook.fail_next > 0:
                    hook.fail_next -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                hook.posts.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/secretpath"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def texts(self) -> list[str]:
        return [p["text"] for p in self.posts]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


# ---------------------------------------------------------------- warehouses

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
USER_IDS = [str(uuid.UUID(int=i + 1)) for i in range(4)]


def frame(table: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Every catalog column (absent = NULL), as objects, so the stored types are kept."""
    cols = [c for c, _ in table_columns(table)]
    return pd.DataFrame({c: pd.Series([r.get(c) for r in rows], dtype=object) for c in cols})


def build_clean_warehouse(path: Path) -> Path:
    """Two syncs of users/cards/groups/group_members (one change, one deletion) and a day of logs."""
    users = [
        {
            "id": u,
            "email": f"user{i}@example.com",
            "first_name": f"U{i}",
            "created_at": T0 - timedelta(days=30),
        }
        for i, u in enumerate(USER_IDS)
    ]
    cards = [
        {"id": 100 + i, "card_number": 5000 + i, "facility_code": 1, "user_id": u}
        for i, u in enumerate(USER_IDS)
    ]
    groups = [{"id": 1, "name": "Staff", "user_count": 2}]
    members = [{"group_id": 1, "user_id": u} for u in USER_IDS[:2]]
    with Warehouse.open(path) as wh:
        for day in range(2):
            as_of = T0 + timedelta(days=day)
            sid = wh.start_sync(started_at=as_of)
            if day == 1:  # a rename and a user (with their card) deleted: real SCD2 history
                users[0] = {**users[0], "first_name": "Renamed"}
                users, cards = users[:-1], cards[:-1]
            frames = {"users": frame("users", users), "cards": frame("cards", cards)}
            write_frames(wh, "users", frames, sid, as_of)
            write_frames(wh, "groups", {"groups": frame("groups", groups)}, sid, as_of)
            write_frames(wh, "group_members", {"group_members": frame("group_members", members)}, sid, as_of)
            wh.finish_sync(sid, "success")
        sid = wh.start_sync(started_at=T0 + timedelta(days=2))
        day = datetime(2026, 11, 2, tzinfo=UTC)
        logs = [
            {
                "id": str(uuid.UUID(int=1000 + i)),
                "created_at": day + timedelta(hours=i),
                "user_id": USER_IDS[0],
                "result": 0,
                "credential_type": "Card",
            }
            for i in range(5)
        ]
        write_frames(
            wh,
            "access_logs",
            {"access_logs": frame("access_logs", logs)},
            sid,
            T0 + timedelta(days=2),
            full_snapshot=False,
            window=(day, day + timedelta(days=1)),
        )
        wh.finish_sync(sid, "success")
    return path


@pytest.fixture(scope="session")
def clean_warehouse_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_clean_warehouse(tmp_path_factory.mktemp("wh") / "template.duckdb")


@pytest.fixture
def clean_warehouse(clean_warehouse_template: Path, tmp_path: Path) -> Path:
    """A fresh copy per test (tests corrupt it)."""
    dst = tmp_path / "w.duckdb"
    dst.write_bytes(clean_warehouse_template.read_bytes())
    return dst
